"""``models.candidate``: a second version of the model, the rest of its keys the model's."""

from __future__ import annotations

from pathlib import Path

import pytest

from explainer_service.errors import ConfigError
from explainer_service.settings import load_settings

BASE = """
model:
  url: http://127.0.0.1:9000/v2/models/income/infer
  class_names: ["<=50K", ">50K"]
  class_labels: {">50K": approved}
  timeout_s: 3
  headers: {Authorization: Bearer abc}
data:
  reference: ref.csv
"""


def load(tmp_path: Path, text: str, monkeypatch: pytest.MonkeyPatch | None = None):
    path = tmp_path / "config.yaml"
    path.write_text(BASE + text)
    return load_settings(path)


def test_no_candidate_by_default(tmp_path: Path) -> None:
    settings = load(tmp_path, "")
    assert settings.models.candidate is None and settings.candidate() is None


def test_the_candidate_keeps_what_it_does_not_set(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        "models:\n  candidate:\n    url: http://127.0.0.1:9001/v2/models/income-2/infer\n"
        "    version: '2'\n    class_names: ['>50K', '<=50K']\n",
    )
    candidate = settings.candidate()
    assert candidate is not None
    model = candidate.model
    assert str(model.url) == "http://127.0.0.1:9001/v2/models/income-2/infer"
    assert model.version == "2" and model.class_names == [">50K", "<=50K"]
    assert model.timeout_s == 3 and model.name == settings.model.name
    assert model.class_labels == {">50K": "approved"}
    # the model's settings are not changed, nor shared (a worker adds headers to its copy)
    assert str(settings.model.url).startswith("http://127.0.0.1:9000")
    model.headers["X-Worker"] = "1"
    assert "X-Worker" not in settings.model.headers
    assert candidate.models.candidate is None and candidate.data == settings.data


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("models:\n  candidate:\n    version: '2'\n", "models.candidate.url"),
        ("models:\n  candidate:\n    url: not-a-url\n", "models.candidate.url"),
        ("models:\n  candidate:\n    url: http://m/\n    class_names: [a, b]\n", "class_names"),
        ("models:\n  candidate:\n    url: http://m/\n    timeout_s: 1\n", "timeout_s"),
        ("models:\n  rule_rows: 5\n", "models.rule_rows"),
    ],
)
def test_a_wrong_candidate_is_named(tmp_path: Path, text: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    assert words in str(info.value)


def test_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "EXPLAINER_MODELS__CANDIDATE__URL", "http://127.0.0.1:9002/v2/models/x/infer"
    )
    monkeypatch.setenv("EXPLAINER_MODELS__CANDIDATE__VERSION", "canary")
    candidate = load(tmp_path, "").candidate()
    assert candidate is not None and candidate.model.version == "canary"
    assert str(candidate.model.url).startswith("http://127.0.0.1:9002")
