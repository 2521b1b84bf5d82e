"""Every method on the real income model, called through the real example model server.

Twenty applicants from the held-out data, ten the model refuses and ten it approves (the
slower SHAP and counterfactuals take five of each). Each test checks the cost its
explanations report, and records it: the costs are written to
test-output/explanation-budget.md at the end of the session (tests/helpers/budget.py). Each
method's tests are a class of their own: pytest-xdist (`--dist loadscope`) runs a class as
one unit, so the methods are explained in parallel.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import pandas as pd
import pytest

from examples.income import paths
from explainer_service.runtime import FittedRuntime
from explainer_service.settings import load_settings
from explainers import Explanation
from explainers.wire import native
from tests.conftest import IMMUTABLE
from tests.helpers import budget, reference
from tests.helpers.web import HTTP

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def runtime(income_server: str) -> Iterator[FittedRuntime]:
    settings = load_settings(paths.HERE / "explainer.yaml")
    settings.model.url = f"{income_server}/v2/models/income/infer"  # type: ignore[assignment]
    runtime = FittedRuntime(settings)
    yield runtime
    runtime.close()


@pytest.fixture(scope="module")
def applicants(income_pipeline) -> list[dict]:
    holdout = pd.read_csv(paths.HOLDOUT)[paths.FEATURES]
    predicted = income_pipeline.predict(holdout)
    chosen = pd.concat(
        [holdout[predicted == "<=50K"].head(10), holdout[predicted == ">50K"].head(10)]
    )
    return [{k: native(v) for k, v in row.items()} for row in chosen.to_dict(orient="records")]


@pytest.fixture(scope="module")
def fewer_applicants(applicants: list[dict]) -> list[dict]:
    """Five refused and five approved."""
    return applicants[:5] + applicants[10:15]


def explain_all(
    runtime: FittedRuntime,
    method: str,
    applicants: list[dict] | None,
    record_property: Callable[[str, object], None],
) -> list[Explanation]:
    """Each applicant explained by ``method`` (one global explanation for None), every cost
    checked, and recorded for the budget table (``record_property``: pytest's fixture)."""
    payloads = [None] if applicants is None else [{"instances": [a]} for a in applicants]
    explanations = [runtime.explain(method, payload) for payload in payloads]
    for explanation in explanations:
        assert_cost_adds_up(explanation)
    budget.record(record_property, method, explanations)
    return explanations


def assert_cost_adds_up(explanation: Explanation) -> None:
    """The live model was called, with rows, while the explanation's clock ran."""
    cost = explanation.cost
    assert cost.model_calls >= 1, cost
    assert cost.rows >= cost.model_calls, cost
    assert cost.seconds > 0, cost
    assert 0 < cost.model_seconds <= cost.seconds, cost


class TestAnchors:
    def test_anchors_hold_on_fresh_samples(
        self, runtime: FittedRuntime, applicants: list[dict], record_property
    ) -> None:
        explanations = explain_all(runtime, "anchors", applicants, record_property)
        assert [e.prediction.label for e in explanations] == ["<=50K"] * 10 + [">50K"] * 10
        for explanation in explanations:
            fidelity = explanation.fidelity
            # a rule meets the threshold on fresh samples, or says it does not
            assert fidelity.threshold_met == (fidelity.precision >= fidelity.threshold)
            assert fidelity.threshold_met or "no rule" in fidelity.note
            assert fidelity.precision_lower <= fidelity.precision <= fidelity.precision_upper
            assert explanation.result.conditions
        # every refused applicant gets a rule that holds
        assert all(e.fidelity.threshold_met for e in explanations[:10])


class TestAnchorsAgainstAlibi:
    def test_anchors_make_fewer_model_calls_than_alibi(
        self, runtime: FittedRuntime, applicants: list[dict], income_server: str
    ) -> None:
        """Counted at the model server: the same applicants, ours and alibi 0.9.4's AnchorTabular
        (the reference engine, run in .venv-reference) calling the same server."""
        schema = runtime.schema
        matrix = schema.to_numeric(runtime.reference[schema.names])
        classes = runtime.box.class_names
        chosen = applicants[:3] + applicants[10:13]
        ours_calls = []
        for applicant in chosen:
            before = served(income_server)
            ours = runtime.explain("anchors", {"instances": [applicant]})
            ours_calls.append(served(income_server) - before)
            assert ours.cost.model_calls == ours_calls[-1]
            assert ours.prediction.label in classes
        instances = schema.to_numeric([schema.row_from_record(a) for a in chosen])
        before = served(income_server)
        theirs = reference.alibi_anchors(
            schema, matrix, instances, {"records_url": f"{income_server}/predict"},
            explain={"threshold": 0.95},
        )  # fmt: skip
        alibi_calls = theirs["calls"]
        # what alibi sent is what the server answered
        assert served(income_server) - before == theirs["setup_calls"] + sum(alibi_calls)
        assert all(e["data"]["anchor"] is not None for e in theirs["explanations"])
        assert sum(ours_calls) < sum(alibi_calls), (ours_calls, alibi_calls)


def served(income_server: str) -> int:
    return int(HTTP.get(f"{income_server}/stats").json()["requests"])


class TestShap:
    def test_shap_adds_up_to_the_live_prediction(
        self, runtime: FittedRuntime, fewer_applicants: list[dict], record_property
    ) -> None:
        explanations = explain_all(runtime, "shap", fewer_applicants, record_property)
        for explanation in explanations:
            assert explanation.fidelity.additivity_error < 1e-3
            assert len(explanation.result.contributions) == len(paths.FEATURES)
            assert explanation.result.output == explanation.prediction.label
            # the instance and the background in one call, then the coalitions (shap's own f(x)
            # is the instance again), which go in chunks of at most max_batch_rows: one request
            # each; one call when every coalition is enumerated, else one per replicate, each
            # chunked on its own
            background = runtime.settings.explainers["shap"]["background_size"]
            fidelity = explanation.fidelity
            assert fidelity.background_rows == background
            # the flip test of the protected attributes (features.protected): one call
            flips = explanation.fairness.flip_rows if explanation.fairness else 0
            flip_calls = 1 if flips else 0
            coalitions = explanation.cost.rows - 1 - background - flips
            chunks = math.ceil(coalitions / runtime.settings.model.max_batch_rows)
            extra = explanation.cost.model_calls - 1 - chunks - flip_calls
            assert 0 <= extra <= (0 if fidelity.exact else fidelity.replicates - 1)
            assert (fidelity.max_standard_error == 0) == fidelity.exact


class TestCounterfactuals:
    def test_counterfactuals_are_all_valid(
        self,
        runtime: FittedRuntime,
        fewer_applicants: list[dict],
        income_pipeline,
        record_property,
    ) -> None:
        """Valid on the model, within the example's constraints (read from its configuration,
        checked against the reference data), plausible; fewer than asked says why."""
        applicants = fewer_applicants
        explanations = explain_all(runtime, "counterfactual", applicants, record_property)
        overrides = runtime.settings.features.overrides
        (link,) = runtime.settings.features.links
        seen = set(runtime.reference[link].itertuples(index=False, name=None))
        for applicant, explanation in zip(applicants, explanations, strict=True):
            result = explanation.result
            assert result.found, result.message
            frame = pd.DataFrame([cf.values for cf in result.counterfactuals])[paths.FEATURES]
            assert (income_pipeline.predict(frame) == result.desired).all()  # checked independently
            for cf in result.counterfactuals:
                values = cf.values
                assert all(values[name] == applicant[name] for name in IMMUTABLE)
                for name, override in overrides.items():
                    if values[name] == applicant[name]:
                        continue
                    low, high = override.get("min", -math.inf), override.get("max", math.inf)
                    assert low <= values[name] <= high, name
                    direction = override.get("direction", "any")
                    assert direction != "increase" or values[name] > applicant[name], name
                    assert direction != "decrease" or values[name] < applicant[name], name
                assert tuple(values[name] for name in link) in seen
                assert cf.plausible
                assert cf.nearest_distance <= explanation.fidelity.plausibility_threshold
            if len(result.counterfactuals) < explanation.fidelity.requested:
                assert result.message


class TestImportance:
    def test_global_importance(self, runtime: FittedRuntime, record_property) -> None:
        (explanation,) = explain_all(runtime, "importance", None, record_property)
        assert explanation.result.baseline_score >= 0.84
        assert explanation.result.features[0].mean > 0
