"""What ``predict`` sends to: the configuration with the options over it, or the options
alone. Nothing here calls a model (its metadata is not asked for)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from examples.income import paths
from explainer_service.cli.model_check import model_to_check
from explainer_service.errors import ConfigError
from explainer_service.settings import Protocol
from explainers.model import OutputKind

URL = "http://127.0.0.1:9/v2/models/income/infer"
NO_MODEL = {"url": None, "protocol": None, "output": None}
NO_DATA = {"reference": None, "target": None}


@pytest.fixture
def config(income_files: Path, tmp_path: Path) -> Path:
    path = tmp_path / "explainer.yaml"
    settings = {
        "model": {"url": URL, "protocol": "v2", "output": "labels", "metadata_wait_s": 0},
        "data": {"reference": str(paths.REFERENCE), "target": "loan"},
        "features": {"names": ["age", "hours-per-week"]},
    }
    path.write_text(yaml.safe_dump(settings))
    return path


def test_the_configuration_says_it_all(config: Path) -> None:
    checked = model_to_check(config, NO_MODEL, NO_DATA)
    model, names = checked.model, checked.names
    assert checked.candidate is None
    assert (str(model.url), model.protocol, model.output) == (URL, "v2", "labels")
    assert names == ["age", "hours-per-week"]


def test_each_option_overrides_its_key(config: Path) -> None:
    other = "http://127.0.0.1:9/invocations"
    model = model_to_check(
        config,
        {"url": other, "protocol": Protocol.mlflow, "output": OutputKind.probabilities},
        NO_DATA,
    ).model
    assert (str(model.url), model.protocol, model.output) == (other, "mlflow", "probabilities")
    assert model.metadata_wait_s == 0  # the rest of the section is the configuration's


def test_without_a_configuration_the_options_are_all_there_is(income_files: Path) -> None:
    checked = model_to_check(
        None, {**NO_MODEL, "url": URL}, {"reference": paths.REFERENCE, "target": "loan"}
    )
    model, names = checked.model, checked.names
    assert (str(model.url), model.protocol, model.output) == (URL, "v2", "probabilities")
    assert model.metadata_wait_s == 0
    assert names == paths.FEATURES


def test_without_a_configuration_the_url_and_the_reference_are_needed() -> None:
    with pytest.raises(ConfigError, match=r"^without --config, give --url and --reference$"):
        model_to_check(None, NO_MODEL, NO_DATA)
    with pytest.raises(ConfigError, match=r"^without --config, give --reference$"):
        model_to_check(None, {**NO_MODEL, "url": URL}, NO_DATA)


def test_a_bad_option_is_named_by_its_option(config: Path) -> None:
    with pytest.raises(ConfigError, match=r"^invalid options: --url: Input should be a valid URL"):
        model_to_check(config, {**NO_MODEL, "url": "nowhere"}, NO_DATA)


def test_the_candidate_is_the_model_with_what_it_sets(config: Path) -> None:
    """models.candidate over the model (with the options over it), as the service makes it;
    it is checked too, unless --no-candidate."""
    settings = yaml.safe_load(config.read_text())
    other = "http://127.0.0.1:9/v2/models/income-next/infer"
    settings["models"] = {"candidate": {"url": other, "version": "2"}}
    config.write_text(yaml.safe_dump(settings))
    checked = model_to_check(config, {**NO_MODEL, "output": OutputKind.probabilities}, NO_DATA)
    candidate = checked.candidate
    assert candidate is not None
    assert (str(candidate.url), candidate.version, candidate.name) == (other, "2", "model")
    assert (candidate.protocol, candidate.output) == ("v2", "probabilities")  # the model's
    assert str(checked.model.url) == URL
