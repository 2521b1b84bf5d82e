"""Settings: YAML, environment overrides, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from examples.income import paths
from explainer_service.settings import ConfigError, load_settings

MINIMAL = """
model:
  url: http://127.0.0.1:9000/v2/models/income/infer
data:
  reference: {reference}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_the_income_example_loads(income_files) -> None:
    settings = load_settings(paths.HERE / "explainer.yaml")
    assert settings.model.protocol == "v2" and settings.model.class_names == paths.CLASS_NAMES
    assert settings.data.reference.exists()
    assert set(settings.explainers) == {"anchors", "shap", "counterfactual", "importance"}


def test_defaults(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, MINIMAL.format(reference="ref.csv")))
    assert settings.model.timeout_s == 10 and settings.model.max_batch_rows == 2000
    assert set(settings.explainers) == {"anchors", "shap", "counterfactual"}
    # a relative reference missing from the working directory is read next to the file
    assert settings.data.reference == tmp_path / "ref.csv"


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPLAINER_MODEL__URL", "http://127.0.0.1:7777/invocations")
    monkeypatch.setenv("EXPLAINER_MODEL__PROTOCOL", "mlflow")
    monkeypatch.setenv("EXPLAINER_MODEL__HEADERS", '{"Authorization": "Bearer x"}')
    settings = load_settings(write(tmp_path, MINIMAL.format(reference="ref.csv")))
    assert str(settings.model.url) == "http://127.0.0.1:7777/invocations"
    assert settings.model.protocol == "mlflow"
    assert settings.model.headers == {"Authorization": "Bearer x"}


def test_environment_alone_is_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPLAINER_MODEL__URL", "http://127.0.0.1:9000/predict")
    monkeypatch.setenv("EXPLAINER_MODEL__PROTOCOL", "records")
    monkeypatch.setenv("EXPLAINER_DATA__REFERENCE", "/data/reference.csv")
    monkeypatch.setenv("EXPLAINER_EXPLAINERS", '{"shap": {"nsamples": 100}}')
    settings = load_settings()
    assert settings.model.protocol == "records"
    assert settings.explainers == {"shap": {"nsamples": 100}}


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("model:\n  url: not a url\ndata:\n  reference: r.csv\n", "model.url"),
        (
            "model:\n  url: http://x/\n  protocol: grpc\ndata:\n  reference: r.csv\n",
            "model.protocol",
        ),
        (
            "model:\n  url: http://x/\n  timeout_s: -1\ndata:\n  reference: r.csv\n",
            "model.timeout_s",
        ),
        ("model:\n  url: http://x/\n", "data"),
        ("model:\n  url: http://x/\ndata:\n  reference: r.csv\nmodels: {}\n", "models"),
    ],
)
def test_errors_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text))
    assert f"{key}:" in str(info.value)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(write(tmp_path, "model: [unclosed"))
    with pytest.raises(ConfigError, match="mapping"):
        load_settings(write(tmp_path, "- a\n- b\n"))
