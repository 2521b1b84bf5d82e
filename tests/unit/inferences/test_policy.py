"""The explanation policy's rules: which logged inferences each matches, what a
configuration that cannot apply stops at start-up, and the decisions queued in the store
(each inference once, the backlog bounded), counted in the metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from examples.income import paths
from explainer_service.errors import ConfigError
from explainer_service.inferences.policy import Policy, draw
from explainer_service.observability.metrics import Metrics
from explainer_service.runtime import Runtime
from explainer_service.settings import PolicySettings, Settings, load_settings
from explainer_service.store import SqliteStore
from explainer_service.store.inference_jobs import JobState
from explainer_service.store.inferences import Inference, LoggedSide

ROW = [39, "State-gov", "Bachelors", 13, "Never-married", "Adm-clerical", "Not-in-family",
       "White", "Male", 2174, 0, 40]  # fmt: skip


def inference(id: str, scores: list[float] | None = None, **changes: Any) -> Inference:
    scores = [0.8, 0.2] if scores is None else scores
    label = "<=50K" if scores[0] >= scores[1] else ">50K"
    values: dict[str, Any] = {
        "id": id, "event_id": id, "row_index": 0, "row_count": 1, "source": "kserve",
        "model": "income", "endpoint": None, "component": None, "namespace": None,
        "protocol": "v2", "requested_at": None, "answered_at": None, "logged_at": "",
        "updated_at": "", "instance": ROW, "answer": {"scores": scores}, "label": label,
        "score": max(scores), "metadata": {},
    }  # fmt: skip
    return Inference(**{**values, **changes})


@pytest.fixture(scope="module")
def settings(income_files: Path) -> Settings:
    return load_settings(paths.HERE / "explainer.yaml")


@pytest.fixture(scope="module")
def runtime(settings: Settings) -> Runtime:
    return Runtime(settings)


def policy(runtime: Runtime, store: Any = None, **config: Any) -> Policy:
    return Policy(PolicySettings(**config), runtime, store, Metrics())


def chosen(p: Policy, *inferences: Inference) -> dict[str, list[str]]:
    return {i.id: p.choose(i) for i in inferences}


def test_a_label_rule_chooses_every_refusal_and_nothing_else(runtime: Runtime) -> None:
    p = policy(runtime, rules=[{"label": "<=50K", "methods": ["anchors", "shap"]}])
    refused, granted = inference("r", [0.9, 0.1]), inference("g", [0.1, 0.9])
    assert chosen(p, refused, granted) == {"r": ["anchors", "shap"], "g": []}
    # an inference with one side logged is not decided about: nothing to explain, or no answer
    assert p.choose(inference("q", answer=None, label=None)) == []
    assert p.choose(inference("a", instance=None)) == []


def test_a_fraction_is_the_same_draw_everywhere_and_about_its_share(runtime: Runtime) -> None:
    p = policy(runtime, rules=[{"fraction": 0.1, "seed": 7, "methods": ["shap"]}])
    ids = [f"event-{n}" for n in range(4000)]
    picked = [id for id in ids if p.choose(inference(id))]
    assert 300 < len(picked) < 500  # 400 expected; the draw is a hash, not a coin
    again = policy(runtime, rules=[{"fraction": 0.1, "seed": 7, "methods": ["shap"]}])
    assert [id for id in ids if again.choose(inference(id))] == picked  # another replica
    other = policy(runtime, rules=[{"fraction": 0.1, "seed": 8, "methods": ["shap"]}])
    assert [id for id in ids if other.choose(inference(id))] != picked
    assert all(draw(7, id) < 0.1 for id in picked)


def test_a_band_reads_the_positive_class_or_the_one_named(runtime: Runtime) -> None:
    p = policy(runtime, rules=[{"band": [0.4, 0.6], "methods": ["counterfactual"]}])
    close, sure = inference("c", [0.45, 0.55]), inference("s", [0.95, 0.05])
    edge = inference("e", [0.6, 0.4])  # both ends are in the band
    label_only = inference("l", answer={"label": "<=50K"})
    assert chosen(p, close, sure, edge, label_only) == {
        "c": ["counterfactual"], "s": [], "e": ["counterfactual"], "l": [],
    }  # fmt: skip
    refused = policy(
        runtime, rules=[{"band": [0.9, 1.0], "band_class": "<=50K", "methods": ["shap"]}]
    )
    assert chosen(refused, close, sure) == {"c": [], "s": ["shap"]}


def test_every_condition_of_a_rule_must_hold_and_rules_add_their_methods(
    runtime: Runtime,
) -> None:
    p = policy(
        runtime,
        rules=[
            {"label": "<=50K", "band": [0.5, 0.7], "band_class": "<=50K", "methods": ["shap"]},
            {"label": "<=50K", "methods": ["anchors", "shap"]},
        ],
    )
    assert p.choose(inference("near", [0.6, 0.4])) == ["shap", "anchors"]
    assert p.choose(inference("far", [0.9, 0.1])) == ["anchors", "shap"]
    assert p.choose(inference("granted", [0.3, 0.7])) == []


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"label": "<=50K", "methods": ["lime"]}, "rules.0.methods: lime not among"),
        ({"methods": ["shap"]}, "a rule needs a condition"),
        ({"band": [0.7, 0.2], "methods": ["shap"]}, "low end 0.7 is above"),
        ({"fraction": 0, "methods": ["shap"]}, "fraction"),
        ({"label": "<=50K", "methods": []}, "methods"),
        ({"lable": "<=50K", "methods": ["shap"]}, "lable"),
    ],
)
def test_a_wrong_rule_stops_start_up_naming_it(
    rule: dict[str, Any], message: str, tmp_path: Path, settings: Settings
) -> None:
    config = settings.model_dump(mode="json", exclude_unset=True)
    config["data"]["reference"] = str(paths.REFERENCE)
    config["inference_log"] = {"policy": {"rules": [rule]}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError, match=message):
        load_settings(path)


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"label": "<=50K", "methods": ["importance"]}, "importance explains the model"),
        ({"label": "refused", "methods": ["shap"]}, "'refused' is not a class"),
        ({"band": [0, 1], "band_class": "yes", "methods": ["shap"]}, "band_class 'yes'"),
    ],
)
def test_a_rule_the_model_cannot_meet_is_a_config_error(
    rule: dict[str, Any], message: str, runtime: Runtime
) -> None:
    with pytest.raises(ConfigError, match=rf"inference_log\.policy\.rules\.0.*{message}"):
        policy(runtime, rules=[rule])


def side(id: str, kind: str, scores: list[float]) -> LoggedSide:
    label = "<=50K" if scores[0] >= scores[1] else ">50K"
    if kind == "request":
        return LoggedSide(id, id, 0, 1, "request", "kserve", "income", instance=ROW)
    answer = {"scores": scores}
    return LoggedSide(id, id, 0, 1, "response", "kserve", "income", answer=answer, label=label)


def metric(p: Policy, name: str, **labels: str) -> float:
    return p.metrics.registry.get_sample_value(name, labels) or 0.0


def test_consider_queues_each_inference_once_within_the_backlog(
    runtime: Runtime, tmp_path: Path
) -> None:
    store = SqliteStore(tmp_path / "store.sqlite")
    p = policy(
        runtime, store, rules=[{"label": "<=50K", "methods": ["shap", "anchors"]}], max_backlog=3
    )
    woken = []
    p.on_queued = lambda: woken.append(1)
    scores = {"r1": [0.9, 0.1], "r2": [0.7, 0.3], "g1": [0.2, 0.8], "half": [0.9, 0.1]}
    for id, s in scores.items():
        store.log_inferences([side(id, "request", s)])
        if id != "half":
            store.log_inferences([side(id, "response", s)])
    logged = [store.inference(id) for id in scores]
    queued = p.consider([i for i in logged if i is not None])
    assert (queued.considered, queued.skipped, queued.queued, queued.dropped) == (3, 1, 3, 1)
    assert woken == [1]
    assert metric(p, "explainer_policy_inferences_total", outcome="chosen") == 2
    assert metric(p, "explainer_policy_inferences_total", outcome="skipped") == 1
    assert metric(p, "explainer_policy_jobs_total", method="shap", outcome="queued") == 2
    assert metric(p, "explainer_policy_jobs_total", method="anchors", outcome="queued") == 1
    assert metric(p, "explainer_policy_jobs_total", method="anchors", outcome="dropped") == 1
    assert p.consider([i for i in logged if i is not None]).considered == 0  # once
    # the request-only inference is decided about when its answer arrives
    store.log_inferences([side("half", "response", scores["half"])])
    caught = p.catch_up()
    assert caught.considered == 1 and caught.dropped == 2  # the backlog is still full
    assert {j.state for j in store.inference_jobs("half")} == {JobState.dropped}
    assert store.inference_job_counts() == {JobState.waiting: 3, JobState.dropped: 3}
    store.close()


def test_no_rules_decide_nothing(runtime: Runtime, tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "store.sqlite")
    p = policy(runtime, store)
    store.log_inferences([side("r", "request", [0.9, 0.1]), side("r", "response", [0.9, 0.1])])
    assert not p.active
    assert p.consider([store.inference("r")]).considered == 0  # type: ignore[list-item]
    assert p.catch_up().considered == 0
    assert store.unconsidered_inferences(3600, 10)[0].id == "r"
    store.close()


def test_noticed_inferences_are_decided_about_together_in_the_next_round(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SqliteStore(tmp_path / "store.sqlite")
    p = policy(runtime, store, rules=[{"label": "<=50K", "methods": ["shap"]}])
    woken = []
    p.on_queued = lambda: woken.append(1)
    for id in ("a", "b", "c"):
        store.log_inferences([side(id, "request", [0.9, 0.1]), side(id, "response", [0.9, 0.1])])
    store.log_inferences([side("half", "request", [0.9, 0.1])])
    logged = [store.inference(id) for id in ("a", "b", "half")]
    p.notice([i for i in logged if i is not None])
    assert woken == [1] and store.inference_job_counts() == {}  # nothing written yet
    monkeypatch.setattr("explainer_service.inferences.policy.NOTICED_MAX", 2)
    p.notice([store.inference("c")])  # type: ignore[list-item]
    queued = p.consider_noticed()
    assert queued.queued == 2 and [j.inference_id for j in store.inference_jobs("a")] == ["a"]
    assert store.inference_jobs("c") == [] and p.consider_noticed().considered == 0
    assert p.catch_up().queued == 1  # what notice could not keep, the store's search finds
    store.close()
