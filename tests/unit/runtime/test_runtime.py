"""Runtime: built from settings without calling the model; payloads decoded to rows;
parameters resolved without fitting. FittedRuntime: the explainers, fitted."""

from __future__ import annotations

import json
import logging

import pandas as pd
import pytest

from examples.income import paths
from explainer_service.errors import ConfigError, ModelUnavailableError, PayloadError
from explainer_service.runtime import FittedRuntime, Runtime
from explainer_service.runtime.features import resolve_features
from explainer_service.settings import FeatureSource, Settings, load_settings
from explainers import Budget, BudgetExceededError, OutputKind, ParameterError
from tests.helpers.support import free_port


@pytest.fixture(scope="module")
def runtime(income_files):
    """Pointed at a port where nothing listens: building must not need the model."""
    settings = load_settings(paths.HERE / "explainer.yaml")
    settings.model.url = f"http://127.0.0.1:{free_port()}/v2/models/income/infer"
    settings.model.retries = 0
    runtime = FittedRuntime(settings)
    yield runtime
    runtime.close()


def payload(name: str):
    return json.loads((paths.PAYLOADS / f"{name}.json").read_text())


def test_built_without_the_model(runtime: FittedRuntime) -> None:
    assert set(runtime.classes) == {"anchors", "shap", "counterfactual", "importance"}
    runtime.fit()
    assert runtime.fitted and set(runtime.explainers) == set(runtime.classes)
    assert runtime.model.stats.calls == 0
    with pytest.raises(ModelUnavailableError):
        runtime.explain("shap", payload("v2"))


def test_the_local_methods_are_the_configured_ones_that_explain_one_row(income_files) -> None:
    settings = load_settings(paths.HERE / "explainer.yaml")
    settings.explainers = {"importance": {}, "counterfactual": {}, "constant": {}, "anchors": {}}
    runtime = Runtime(settings)
    try:
        assert runtime.local_methods == ["counterfactual", "constant", "anchors"]
        assert runtime.instances("importance", None, 0) == [None]
    finally:
        runtime.close()


def test_payload_in_the_protocol_and_as_records(runtime: Runtime) -> None:
    rows = runtime.rows(payload("v2"))
    assert len(rows) == 2 and rows[0][1] == "Private"
    records = {"instances": [dict(zip(paths.FEATURES, row, strict=True)) for row in rows]}
    assert runtime.rows(records) == rows
    assert runtime.rows(payload("records")) == rows


@pytest.mark.parametrize(
    ("body", "message", "field"),
    [
        ({"data": {"ndarray": [[1]]}}, "not a v2 payload", "inputs"),
        ({"instances": [{"age": 39}]}, "missing feature(s)", "workclass"),
        ([{"age": 39, "zip": 1}], "missing feature(s)", "workclass"),
        ("age=39", "not a v2 payload", None),
    ],
)
def test_bad_payloads(runtime: Runtime, body, message: str, field: str | None) -> None:
    with pytest.raises(PayloadError) as info:
        runtime.rows(body)
    assert message in info.value.message and info.value.field == field


def test_instance_and_method_checks(runtime: FittedRuntime) -> None:
    with pytest.raises(PayloadError, match="out of range") as info:
        runtime.explain("shap", payload("v2"), instance=2)
    assert info.value.field == "instance"
    with pytest.raises(ParameterError, match="not configured"):
        runtime.explain("lime", payload("v2"))


def test_configuration_errors(income_files, tmp_path) -> None:
    settings = load_settings(paths.HERE / "explainer.yaml")
    settings.data.reference = tmp_path / "missing.csv"
    with pytest.raises(ConfigError, match=r"data\.reference"):
        Runtime(settings)
    settings = load_settings(paths.HERE / "explainer.yaml")
    settings.data.target = "salary"
    with pytest.raises(ConfigError, match=r"data\.target"):
        Runtime(settings)
    settings = load_settings(paths.HERE / "explainer.yaml")
    settings.features.immutable = ["shoe-size"]
    with pytest.raises(ConfigError, match="shoe-size"):
        Runtime(settings)
    settings = load_settings(paths.HERE / "explainer.yaml")
    settings.explainers = {"anchors": {"threshold": 2}}
    with pytest.raises(ConfigError, match=r"explainers\.anchors.*threshold"):
        Runtime(settings)
    settings.explainers = {"importance": {}}
    settings.data.target = None
    with pytest.raises(ConfigError, match=r"explainers\.importance.*labelled"):
        FittedRuntime(settings).fit()


def test_parameters_resolve_without_fitting(income_files) -> None:
    settings = load_settings(paths.HERE / "explainer.yaml")
    runtime = Runtime(settings)
    try:
        assert not hasattr(runtime, "explainers")
        resolved = runtime.resolve_params("shap", {"seed": 3})
        assert (resolved.seed, resolved.nsamples) == (3, 500)  # nsamples as configured
        assert runtime.resolve_params("shap", None).seed == 0
        with pytest.raises(ParameterError, match="nsamples") as info:
            runtime.resolve_params("shap", {"nsamples": 5})
        assert info.value.field == "nsamples"
        with pytest.raises(ParameterError, match="fixed when the explainer is built"):
            runtime.resolve_params("shap", {"background_size": 11})
        with pytest.raises(ParameterError, match="not configured"):
            runtime.resolve_params("lime", {})
    finally:
        runtime.close()


def test_the_examples_parameters_fit_the_default_budget_and_the_largest_do_not(
    income_files,
) -> None:
    settings = load_settings(paths.HERE / "explainer.yaml")
    runtime = Runtime(settings)
    try:
        assert runtime.budget == Budget(max_model_calls=5000, max_rows=1_000_000)
        for method in runtime.classes:
            estimate = runtime.check_budget(method, runtime.resolve_params(method, None))
            assert estimate is not None and estimate.rows > 0
            assert 2 * estimate.rows <= 1_000_000 and 2 * estimate.model_calls <= 5000, method
        largest = [
            ("anchors", {"max_samples": 20000, "beam_size": 20}, "max_rows"),
            ("importance", {"rows": 100_000, "iterations": 50}, "max_rows"),
        ]
        # the counterfactual search is bounded by its parameters: the largest fit
        most = {"total": 20, "values_per_feature": 50, "max_features": 3, "beam_width": 12}
        estimate = runtime.check_budget(
            "counterfactual", runtime.resolve_params("counterfactual", most)
        )
        assert estimate is not None and estimate.upper_bound
        assert estimate.model_calls <= 5000 and estimate.rows <= 1_000_000
        for method, overrides, budget in largest:
            with pytest.raises(BudgetExceededError) as info:
                runtime.check_budget(method, runtime.resolve_params(method, overrides))
            assert info.value.budget == budget and info.value.estimated
            assert info.value.used > info.value.limit
            assert set(overrides) <= set(info.value.parameters)
    finally:
        runtime.close()


def test_the_budget_comes_from_the_settings(income_files, monkeypatch) -> None:
    monkeypatch.setenv("EXPLAINER_SERVICE__BUDGET__MAX_ROWS", "20000")
    settings = load_settings(paths.HERE / "explainer.yaml")
    settings.service.budget.max_model_calls = None
    runtime = Runtime(settings)
    try:
        assert runtime.budget == Budget(max_model_calls=None, max_rows=20000)
        with pytest.raises(BudgetExceededError, match=r"shap.*max_rows = 20000.*lower nsamples"):
            runtime.check_budget("shap", runtime.resolve_params("shap", None))
        small = runtime.resolve_params("shap", {"nsamples": 100})
        assert runtime.check_budget("shap", small) == runtime.estimate("shap", small)
    finally:
        runtime.close()


def test_a_payload_of_more_rows_than_max_payload_rows_is_refused(runtime: Runtime) -> None:
    records = payload("records")
    rows = records if isinstance(records, list) else records["instances"]
    many = {"instances": [rows[0]] * 3}
    assert len(runtime.rows(many)) == 3
    limit = runtime.settings.service.max_payload_rows
    try:
        runtime.settings.service.max_payload_rows = 2
        with pytest.raises(PayloadError) as info:
            runtime.rows(many)
        assert "3 rows; at most 2" in info.value.message and info.value.field == "payload"
    finally:
        runtime.settings.service.max_payload_rows = limit


def test_features_from_the_configuration(income_files, tmp_path, caplog) -> None:
    """features.names: only those columns, in that order; an id and a timestamp in the
    reference data are ignored with a warning naming them; start-up says where from."""
    reference = pd.read_csv(paths.REFERENCE)
    reference.insert(0, "applicant_id", range(len(reference)))
    reference["received_at"] = "2026-01-01T00:00:00"
    reference.to_csv(tmp_path / "reference.csv", index=False)
    settings = load_settings(paths.HERE / "explainer.yaml")
    settings.data.reference = tmp_path / "reference.csv"
    settings.features.names = list(reversed(paths.FEATURES))
    with caplog.at_level(logging.INFO, logger="explainer_service"):
        runtime = Runtime(resolve_features(settings))
    assert runtime.schema.names == list(reversed(paths.FEATURES))
    assert list(runtime.reference.columns) == [*reversed(paths.FEATURES), "loan"]
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warned == [
        "columns of data.reference not in features.names, ignored: applicant_id, received_at"
    ]
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert said == [f"features (features.names): {', '.join(reversed(paths.FEATURES))}"]
    runtime.close()
    caplog.clear()
    settings.features.names = None  # every column but the target: the id is a feature
    settings.features.source = FeatureSource.reference
    with caplog.at_level(logging.INFO, logger="explainer_service"):
        runtime = Runtime(resolve_features(settings))
    assert runtime.schema.names[0] == "applicant_id" and "received_at" in runtime.schema.names
    assert [r.getMessage() for r in caplog.records] == [
        "features (every column of data.reference but data.target): "
        + ", ".join(c for c in reference.columns if c != "loan")
    ]
    runtime.close()


def test_workers_build_the_runtime_silently(income_files, caplog) -> None:
    settings = load_settings(paths.HERE / "explainer.yaml")
    settings.features.names = paths.FEATURES  # as the service resolved them
    with caplog.at_level(logging.INFO, logger="explainer_service"):
        FittedRuntime(settings).close()
    assert caplog.records == []


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["age", "shoe-size"], r"features\.names: data\.reference has no column \['shoe-size'\]"),
        (["age", "loan"], r"features\.names: 'loan' is data\.target"),
    ],
)
def test_feature_names_the_reference_data_cannot_give(income_files, names, message) -> None:
    settings = load_settings(paths.HERE / "explainer.yaml")
    settings.features.names = names
    with pytest.raises(ConfigError, match=message):
        resolve_features(settings)  # before anything is announced
    with pytest.raises(ConfigError, match=message):
        Runtime(settings)


def banded(tmp_path, bands: list) -> Settings:
    """The income example whose model answers labels, with a label column ``band`` holding
    ``bands`` in turn and no class names configured."""
    reference = pd.read_csv(paths.REFERENCE).drop(columns=["loan"]).head(300)
    reference["band"] = [bands[i % len(bands)] for i in range(len(reference))]
    reference.to_csv(tmp_path / "banded.csv", index=False)
    settings = load_settings(paths.HERE / "explainer.yaml")
    settings.data.reference, settings.data.target = tmp_path / "banded.csv", "band"
    settings.model.output, settings.model.class_names = OutputKind.labels, None
    settings.explainers = {"shap": {}, "importance": {}}
    return settings


def test_class_names_are_inferred_in_the_models_order(income_files, tmp_path) -> None:
    settings = banded(tmp_path, [10, 2, 3])
    runtime = FittedRuntime(settings)
    try:
        assert runtime.class_names == ["2", "3", "10"]
        assert runtime.box.class_names == ["2", "3", "10"]
        runtime.fit()  # importance reads its labels by the same names
        assert runtime.explainer("importance").model.class_names == ["2", "3", "10"]
        key = runtime.cache_key("shap", {}, None)
    finally:
        runtime.close()
    settings.model.class_names = ["10", "2", "3"]  # configured: they win, and are in the key
    configured = Runtime(settings)
    try:
        assert configured.class_names == ["10", "2", "3"]
        assert configured.cache_key("shap", {}, None) != key
    finally:
        configured.close()


def test_a_model_answering_labels_needs_its_class_names(income_files, tmp_path) -> None:
    settings = banded(tmp_path, [0, 1])
    settings.data.target = None
    settings.explainers = {"shap": {}}
    with pytest.raises(ConfigError, match=r"model\.class_names: a model that answers labels"):
        Runtime(settings)


@pytest.mark.parametrize(
    ("output", "target", "explainers", "message"),
    [
        (
            OutputKind.regression,
            "loan",
            {"shap": {}, "anchors": {}},
            r"explainers\.anchors: the anchors method explains classifiers; "
            "the model is a regression",
        ),
        (
            OutputKind.probabilities,
            None,
            {"importance": {}},
            r"explainers\.importance: the importance method needs labelled reference data",
        ),
    ],
)
def test_a_method_the_model_does_not_allow_is_refused_before_start(
    income_files, output: OutputKind, target: str | None, explainers: dict, message: str
) -> None:
    """Refused when the service is built, not by workers fitting (never ready)."""
    settings = load_settings(paths.HERE / "explainer.yaml")
    settings.model.output, settings.data.target = output, target
    settings.explainers = explainers
    with pytest.raises(ConfigError, match=message):
        Runtime(settings)
