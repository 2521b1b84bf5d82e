"""Group fairness over logged traffic (``GET /fairness``): for one protected attribute and
a window, the share of favourable decisions per group, how far the groups lie apart, and
how many of the flip tests run on the window's inferences flipped.

The figures, with the group of the highest positive rate as the reference:

- *statistical parity difference*: the lowest group's rate less the reference's (0: equal;
  negative: the lowest group gets fewer favourable decisions);
- *disparate impact ratio*: the lowest group's rate over the reference's (1: equal); below
  ``fairness.four_fifths`` (0.8) fails the four-fifths rule.

A window is ``<number><unit>``, the unit ``m`` (minutes), ``h`` (hours) or ``d`` (days).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from explainer_service.errors import PayloadError
from explainer_service.inferences.agreement import label_of
from explainer_service.runtime import Runtime
from explainer_service.settings import Settings
from explainer_service.store import Store
from explainer_service.store.fairness import LoggedDecision, window_decisions, window_fairness
from explainer_service.store.record import stamp
from explainers import ExplainerError, Feature
from explainers.schema import number_text
from explainers.wire import WireValue

_UNITS = {"m": 1 / 1440, "h": 1 / 24, "d": 1.0}
_WINDOW = re.compile(r"(\d+(?:\.\d+)?)([mhd])")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GroupRate(_Body):
    """One value of the attribute among the window's decisions."""

    value: str
    decisions: int = Field(description="complete logged inferences of the group read")
    positive: int = Field(description="of them, with the favourable decision")
    rate: float = Field(description="positive / decisions")
    difference: float = Field(description="rate less the reference group's")
    ratio: float | None = Field(description="rate over the reference group's (None when that is 0)")
    four_fifths: bool = Field(description="ratio is at least fairness.four_fifths")


class FlipCounts(_Body):
    """The flip tests of the attribute made with the explanations of the window's
    inferences (each inference counted once, whatever its explanations)."""

    tested: int = Field(description="inferences whose explanations ran a flip test")
    flipped: int = Field(description="of them, where changing the attribute alone changed "
                         "the predicted class")  # fmt: skip
    by_value: dict[str, int] = Field(
        description="value changed to -> inferences whose flip to it changed the class"
    )
    explanations_read: int = Field(
        description="explanations with a fairness block read (of at most "
        "fairness.max_window_explanations done explanations of the window's inferences)"
    )


class ParityReport(_Body):
    """``GET /fairness``: one protected attribute over one window of the inference log."""

    attribute: str
    window: str
    since: str = Field(description="the window's start (ISO 8601, UTC)")
    until: str = Field(description="its end: when it was read")
    positive_class: str = Field(description="the favourable decision counted")
    logged: int = Field(description="complete inferences logged in the window")
    read: int = Field(description="of them, read (the newest, fairness.max_window_rows)")
    groups: list[GroupRate] = Field(description="highest rate first")
    reference_group: str | None = Field(description="the group of the highest rate")
    statistical_parity_difference: float | None = Field(
        description="the lowest rate less the reference's (None: fewer than two groups)"
    )
    disparate_impact: float | None = Field(
        description="the lowest rate over the reference's (None: fewer than two groups, or "
        "a reference rate of 0)"
    )
    four_fifths_threshold: float
    four_fifths: bool | None = Field(
        description="disparate_impact is at least the threshold (None: not measured)"
    )
    flips: FlipCounts


def window_days(window: str, max_days: float) -> float:
    """The length of ``window`` (``7d``, ``12h``, ``30m``) in days; raises ``PayloadError``
    naming ``window`` for another form, 0, or more than ``max_days``."""
    matched = _WINDOW.fullmatch(window.strip())
    if matched is None:
        raise PayloadError(
            f"window: {window!r} is not a number and a unit (m, h or d), e.g. 7d",
            field="window",
        )
    days = float(matched.group(1)) * _UNITS[matched.group(2)]
    if not 0 < days <= max_days:
        raise PayloadError(
            f"window: {window!r} must be longer than 0 and at most {max_days:g} days "
            "(fairness.max_window_days)",
            field="window",
        )
    return days


def positive_class(settings: Settings, runtime: Runtime) -> str:
    """``fairness.positive_class``, else the last of the model's classes; raises
    ``PayloadError`` for a regression or a model whose classes are not known."""
    classes = runtime.class_names
    if classes is None:
        raise PayloadError(
            "the model is not a classifier with named classes: it has no favourable "
            "decision to count (model.class_names)",
            field="attribute",
        )
    chosen = settings.fairness.positive_class or classes[-1]
    if chosen not in classes:
        raise PayloadError(
            f"fairness.positive_class {chosen!r} is not among the classes {classes}",
            field="attribute",
        )
    return chosen


def group_rates(
    values: Sequence[str], positive: Sequence[bool], four_fifths: float
) -> tuple[list[GroupRate], str | None]:
    """Each group's rate (highest first, then by value) and the reference group."""
    counts: dict[str, list[int]] = {}
    for value, good in zip(values, positive, strict=True):
        tally = counts.setdefault(value, [0, 0])
        tally[0] += 1
        tally[1] += int(good)
    rates = {value: p / n for value, (n, p) in counts.items()}
    order = sorted(rates, key=lambda value: (-rates[value], value))
    if not order:
        return [], None
    best = rates[order[0]]
    groups = []
    for value in order:
        ratio = rates[value] / best if best > 0 else None
        groups.append(
            GroupRate(
                value=value,
                decisions=counts[value][0],
                positive=counts[value][1],
                rate=rates[value],
                difference=rates[value] - best,
                ratio=ratio,
                four_fifths=ratio is None or ratio >= four_fifths,
            )
        )
    return groups, order[0]


def flip_counts(
    blocks: Iterable[tuple[str, dict[str, Any]]], attribute: str, read: int
) -> FlipCounts:
    """Per inference: tested when some explanation's block ran flips of ``attribute``;
    flipped when one of them changed the class (to the value it was changed to)."""
    tested: set[str] = set()
    flipped: set[str] = set()
    by_value: dict[str, set[str]] = {}
    for inference_id, block in blocks:
        for entry in block.get("attributes", []):
            if entry.get("feature") != attribute or not entry.get("flips"):
                continue
            tested.add(inference_id)
            for flip in entry["flips"]:
                if flip.get("flipped"):
                    flipped.add(inference_id)
                    by_value.setdefault(_text(flip.get("value")), set()).add(inference_id)
    return FlipCounts(
        tested=len(tested),
        flipped=len(flipped),
        by_value={value: len(ids) for value, ids in sorted(by_value.items())},
        explanations_read=read,
    )


def parity(
    store: Store, settings: Settings, runtime: Runtime, attribute: str, window: str
) -> ParityReport:
    """The report of ``attribute`` over the last ``window`` of the inference log (blocking:
    call it from a thread). Raises ``PayloadError`` for an attribute that is not protected
    or not categorical, a bad window, or a model without a favourable class."""
    protected = settings.features.protected
    if attribute not in protected:
        raise PayloadError(
            f"attribute: {attribute!r} is not a protected attribute (features.protected: "
            f"{', '.join(protected) or 'none'})",
            field="attribute",
        )
    feature = runtime.schema[attribute]
    if not feature.is_categorical:
        raise PayloadError(
            f"attribute: {attribute!r} is numeric; groups are the values of a categorical "
            "attribute",
            field="attribute",
        )
    limits = settings.fairness
    days = window_days(window, limits.max_window_days)
    favourable = positive_class(settings, runtime)
    until = stamp()
    since = (datetime.fromisoformat(until) - timedelta(days=days)).isoformat(
        timespec="milliseconds"
    )
    logged, decisions = window_decisions(store, since, until, limits.max_window_rows)
    column = runtime.schema.names.index(attribute)
    values = _groups(decisions, column, feature)
    classes = runtime.class_names
    kept = [d for d in decisions if d.id in values]
    groups, reference = group_rates(
        [values[d.id] for d in kept],
        [label_of(d.answer, classes) == favourable for d in kept],
        limits.four_fifths,
    )
    blocks = window_fairness(store, since, until, limits.max_window_explanations)
    lowest = groups[-1] if len(groups) > 1 else None
    return ParityReport(
        attribute=attribute,
        window=window,
        since=since,
        until=until,
        positive_class=favourable,
        logged=logged,
        read=len(decisions),
        groups=groups,
        reference_group=reference,
        statistical_parity_difference=None if lowest is None else lowest.difference,
        disparate_impact=None if lowest is None else lowest.ratio,
        four_fifths_threshold=limits.four_fifths,
        four_fifths=None
        if lowest is None or lowest.ratio is None
        else lowest.ratio >= limits.four_fifths,
        flips=flip_counts(blocks, attribute, len(blocks)),
    )


def _groups(decisions: Sequence[LoggedDecision], column: int, feature: Feature) -> dict[str, str]:
    """Inference id -> the category of the attribute (as text), for the rows whose value
    is a category of the schema (others are left out)."""
    values: dict[str, str] = {}
    for decision in decisions:
        if column >= len(decision.instance):
            continue
        try:
            values[decision.id] = feature.categories[int(feature.encode(decision.instance[column]))]
        except ExplainerError:
            continue
    return values


def _text(value: WireValue | None) -> str:
    if isinstance(value, float):
        return number_text(value)
    return str(value)
