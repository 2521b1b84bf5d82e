"""The alibi shapes recorded in ``tests/helpers/alibi_recorded.py`` are alibi 0.9.4's own:
asked of the alibi installed in ``.venv-reference``."""

from __future__ import annotations

import json

from tests.helpers import alibi_recorded, reference


def test_the_recorded_shapes_are_alibis() -> None:
    answer = reference.run("alibi_constants", {})
    assert answer["defaults"] == alibi_recorded.DEFAULTS
    assert answer["anchor_tabular_keys"] == alibi_recorded.ANCHOR_TABULAR_KEYS


def test_from_json_reads_meta_and_data_as_alibi_does() -> None:
    shaped = {"meta": {"name": "AnchorTabular"}, "data": {"anchor": ["a > 1"], "precision": 1.0}}
    parsed = alibi_recorded.AlibiExplanation.from_json(json.dumps(shaped))
    assert parsed.meta == shaped["meta"] and parsed.data == shaped["data"]
    assert parsed.name == "AnchorTabular" and parsed.anchor == ["a > 1"]
