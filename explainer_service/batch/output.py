"""A batch's results as one tidy table, written as Parquet, CSV or JSON lines.

One row per feature (SHAP, importance), condition (anchors) or change (counterfactuals)
of each explained row, as the notebook client's ``Explanation.to_frame`` makes them, with
the row it explains (``row``, ``instance``), the explanation's ``id`` and ``url``, where it
came from (``source``: ``computed``, ``stored``, ``failed``), the prediction (``label``,
``probability``) and the method's totals (``Explanation.to_frame``'s ``attrs``: base value,
precision and coverage, ...). A row that failed is one line with ``error`` and ``code``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from explainer_service.batch.inputs import InputError
from explainer_service.batch.runner import Report
from explainer_service.presentation.frames import explanation_frame, prediction_columns
from explainer_service.presentation.vocabulary import Vocabulary
from explainer_service.render import LinkFor, links_for

#: The suffixes ``write`` writes.
SUFFIXES = (".parquet", ".csv", ".jsonl")
FIRST = ["row", "instance", "id", "source", "label", "probability"]
LAST = ["url", "error", "code"]
#: ``attrs`` left out: SHAP's link function would read as the explanation's link
SKIPPED_ATTRS = {"link"}


def tidy(report: Report, words: Vocabulary, link: LinkFor) -> pd.DataFrame:
    """The table of ``report`` (``words``: the service's class and feature names for
    anchors' conditions; ``link``: how the service prints links)."""
    records: list[dict[str, Any]] = []
    for item, outcome in zip(report.items, report.outcomes, strict=True):
        head: dict[str, Any] = {
            "row": item.row,
            "instance": item.instance,
            "id": outcome.id,
            "source": outcome.source,
        }
        explanation = outcome.explanation
        if explanation is None or outcome.id is None:
            error = outcome.error or {}
            records.append({**head, "error": error.get("message"), "code": error.get("code")})
            continue
        head.update(prediction_columns(explanation))
        frame = explanation_frame(explanation, words)
        totals = {k: v for k, v in frame.attrs.items() if k not in SKIPPED_ATTRS}
        url = links_for(outcome.id, link)["html"]
        # an anchor without conditions still gets its line
        parts = frame.to_dict("records") or [{}]
        records += [{**head, **part, **totals, "url": url} for part in parts]
    table = pd.DataFrame.from_records(records)
    middle = [c for c in table.columns if c not in (*FIRST, *LAST)]
    return table.reindex(columns=[*FIRST, *middle, *LAST])


def write(table: pd.DataFrame, path: Path) -> None:
    """Write ``table`` by ``path``'s suffix. A column that mixes numbers and text (an
    instance's values) is written as text, which Parquet needs."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError(f"{path}: the output must end in one of {', '.join(SUFFIXES)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        table.to_csv(path, index=False)
    elif suffix == ".jsonl":
        table.to_json(path, orient="records", lines=True, force_ascii=False)
    else:
        _one_type_per_column(table).to_parquet(path, index=False)


def _one_type_per_column(table: pd.DataFrame) -> pd.DataFrame:
    table = table.copy()
    for column in table.select_dtypes(include="object").columns:
        kinds = {type(v) for v in table[column] if not _missing(v)}
        if len(kinds) > 1 and kinds != {int, float}:
            table[column] = [None if _missing(v) else str(v) for v in table[column]]
    return table


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
