"""``features.protected`` as the runtime builds it: refused when it cannot work, part of the
cache key and of the estimate, and run on the explainer's own black box."""

from __future__ import annotations

import pytest

from examples.income import paths
from explainer_service.errors import ConfigError
from explainer_service.runtime import FittedRuntime, Runtime
from explainer_service.settings import Settings, load_settings
from explainers import BlackBox
from tests.helpers.servers.gendered_model import gender_decides, gendered
from tests.helpers.support import free_port


def settings(protected: list[str], **fairness: object) -> Settings:
    loaded = load_settings(paths.HERE / "explainer.yaml")
    loaded.model.url = f"http://127.0.0.1:{free_port()}/v2/models/income/infer"  # type: ignore[assignment]
    loaded.model.retries = 0
    loaded.features.protected = protected
    for key, value in fairness.items():
        setattr(loaded.fairness, key, value)
    return loaded


@pytest.mark.parametrize(
    ("protected", "limits", "message"),
    [
        (["religion"], {}, "features.protected: 'religion' is not a feature"),
        (["gender", "ethnicity"], {"max_flip_rows": 4}, "may send 5 rows, more than"),
    ],
)
def test_a_protected_attribute_that_cannot_work_stops_start_up(
    income_files, protected: list[str], limits: dict, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        Runtime(settings(protected, **limits), announce=False)


def test_a_text_model_has_no_protected_attribute(income_files, tmp_path) -> None:
    reviews = tmp_path / "reviews.csv"
    reviews.write_text("review,label\ngood film,pos\nbad film,neg\n")
    loaded = settings(["review"])
    loaded.data.reference = reviews
    loaded.data.target = "label"
    loaded.features = loaded.features.model_copy(
        update={"text": ["review"], "names": ["review"], "immutable": [], "links": [],
                "overrides": {}, "labels": {}, "missing": [], "category_labels": {}}
    )  # fmt: skip
    loaded.explainers = {"shap": {}}
    with pytest.raises(ConfigError, match="a text model has no attributes"):
        Runtime(loaded, announce=False)


def test_the_protected_attributes_are_part_of_the_key_and_the_estimate(income_files) -> None:
    plain = Runtime(settings([]), announce=False)
    gender = Runtime(settings(["gender"]), announce=False)
    both = Runtime(settings(["gender", "ethnicity"]), announce=False)
    higher = Runtime(settings(["gender", "ethnicity"], shap_share=0.3), announce=False)
    row = plain.reference[plain.schema.names].iloc[0].tolist()
    keys = {
        runtime.cache_key("shap", {"seed": 0}, row) for runtime in (plain, gender, both, higher)
    }
    assert len(keys) == 4
    assert plain.fairness is None and both.fairness is not None
    assert both.fairness.max_rows == 1 + 4  # one other gender, four other ethnicities
    params = plain.resolve_params("shap", None)
    first, second = plain.estimate("shap", params), both.estimate("shap", params)
    assert first is not None and second is not None
    assert (second.model_calls, second.rows) == (first.model_calls + 1, first.rows + 5)
    importance = plain.resolve_params("importance", None)
    assert both.estimate("importance", importance) == plain.estimate("importance", importance)


def test_the_flip_test_asks_the_explainer_s_black_box(income_files) -> None:
    runtime = FittedRuntime(settings(["gender", "ethnicity"]), announce=False)
    try:
        box = BlackBox(gendered, runtime.box.output, runtime.box.class_names)
        for method in ("anchors", "importance"):  # the runtime's model: nothing listens
            runtime.explainer(method).model = box
        for i in range(8):
            row = runtime.reference[runtime.schema.names].iloc[i].tolist()
            explanation = runtime.run("anchors", row, {"seed": 0, "threshold": 0.9})
            assert explanation.fairness is not None
            record = dict(zip(runtime.schema.names, row, strict=True))
            assert explanation.fairness.flipped is gender_decides(record)
        whole = runtime.run("importance", None, {"rows": 50, "iterations": 1})
        assert whole.fairness is None
    finally:
        runtime.close()
