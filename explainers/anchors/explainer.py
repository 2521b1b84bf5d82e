"""Anchors: the rule that locks the prediction in.

The search (``explainers.anchors.search``) grows a rule from the instance's own predicates,
scoring the candidates of each step in one model call, and decides its precision on fresh
samples with a sequential test. Numeric features are cut at reference quantiles
(``disc_perc``), fitted when the explainer is built; the conditions of the answer come from
those edges and the features' categories, never from re-parsing printed text.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from explainers.anchors.search import (
    Anchor,
    AnchorSearch,
    Predicate,
    SearchSettings,
    instance_edges,
    instance_predicates,
    worst_case_cost,
)
from explainers.base import Explainer, ExplainerParams
from explainers.budget import CostEstimate, Tally
from explainers.errors import ExplainerError
from explainers.explanation import AnchorFidelity, AnchorResult, Condition, Prediction
from explainers.model import CountingModel
from explainers.schema import FeatureSchema


class AnchorParams(ExplainerParams):
    threshold: float = Field(0.95, gt=0, le=1, description="minimum precision of the anchor")
    beam_size: int = Field(2, ge=1, le=20, description="rules kept from one size to the next")
    init_samples: int = Field(
        25, ge=5, le=1000, description="first samples per candidate rule when choosing"
    )
    batch_size: int = Field(
        100, ge=10, le=10_000, description="first fresh samples when deciding a rule's precision"
    )
    max_samples: int = Field(
        2000, ge=50, le=20_000, description="at most this many fresh samples decide a rule"
    )
    confidence: float = Field(
        0.95, gt=0.5, lt=1, description="of the bounds that decide a rule's precision"
    )
    max_anchor_size: int | None = Field(
        None,
        ge=1,
        description="at most this many predicates; a range `a < x <= b` counts as two",
    )
    min_coverage: float = Field(
        0.01,
        ge=0,
        le=1,
        description="a rule that describes a smaller share of the reference rows is flagged",
    )
    disc_perc: tuple[float, ...] = Field(
        (25, 50, 75), description="percentiles that cut numeric features (fixed when built)"
    )
    examples: int = Field(3, ge=0, le=20, description="examples kept where the rule holds/fails")


class AnchorsExplainer(Explainer):
    method = "anchors"
    Params = AnchorParams
    fit_params = frozenset({"disc_perc"})
    classifiers_only = True

    def fit(self) -> None:
        self._percentiles = [float(p) for p in self.params.disc_perc]
        if any(not 0 < p < 100 for p in self._percentiles):
            raise ExplainerError("disc_perc: percentiles must lie strictly between 0 and 100")
        self._edges = [
            None
            if feature.is_categorical
            else np.unique(np.percentile(self.reference_matrix[:, j], self._percentiles))
            for j, feature in enumerate(self.schema.features)
        ]

    @classmethod
    def estimate(
        cls,
        params: Any,
        schema: FeatureSchema,
        *,
        reference_rows: int,
        max_batch_rows: int | None = None,
    ) -> CostEstimate:
        """An upper bound: the instance (one row), then the longest search
        (``anchor_search.worst_case_cost``). A categorical feature gives one predicate; a
        numeric one at most two per percentile of ``disc_perc`` (the global edges and those
        of the instance's own bin) and two at the instance's value, and a rule holds at most
        one category per categorical feature and a lower and an upper bound per numeric
        one. A feature has at most ``reference_rows`` distinct values."""
        numeric = sum(not f.is_categorical for f in schema.features)
        categorical = len(schema) - numeric
        predicates = categorical + (2 * len(set(params.disc_perc)) + 2) * numeric
        tally = Tally(max_batch_rows).call(1)
        worst_case_cost(
            cls._settings(params), predicates, categorical + 2 * numeric, tally, reference_rows
        )
        return tally.estimate(
            ("max_samples", "batch_size", "beam_size", "init_samples", "max_anchor_size")
        )

    @staticmethod
    def _settings(params: Any) -> SearchSettings:
        return SearchSettings(
            threshold=params.threshold,
            beam_size=params.beam_size,
            batch_size=params.batch_size,
            init_samples=params.init_samples,
            max_anchor_size=params.max_anchor_size,
            confidence=params.confidence,
            max_samples=params.max_samples,
        )

    def _explain(
        self, x: np.ndarray | None, params: Any, model: CountingModel
    ) -> tuple[Prediction, AnchorResult, AnchorFidelity]:
        assert x is not None
        prediction = model.predict_one(x)
        label = int(prediction.class_index or 0)
        edges = [
            None
            if cut is None
            else instance_edges(self.reference_matrix[:, j], cut, x[j], self._percentiles)
            for j, cut in enumerate(self._edges)
        ]
        predicates = instance_predicates(x, [f.is_categorical for f in self.schema.features], edges)
        search = AnchorSearch(
            self.reference_matrix,
            x,
            predicates,
            lambda rows: model.classes(rows) == label,
            self._settings(params),
            np.random.default_rng(params.seed),
        )
        anchor = search.run()
        rule = [self._condition(search.predicates[i]) for i in anchor.rule]
        samples, agree = anchor.measurement.stacked()
        result = AnchorResult(
            rule=_readable(rule),
            conditions=rule,
            precision=anchor.measurement.precision,
            coverage=anchor.coverage,
            examples_hold=self._records(samples[agree], params.examples),
            examples_fail=self._records(samples[~agree], params.examples),
        )
        fidelity = AnchorFidelity(
            precision=anchor.measurement.precision,
            samples=anchor.measurement.n,
            precision_lower=anchor.lower,
            precision_upper=anchor.upper,
            confidence=params.confidence,
            reference_rows=anchor.donors,
            distinct_rows=anchor.measurement.real,
            min_coverage=params.min_coverage,
            low_coverage=_low_coverage(anchor, params.min_coverage),
            threshold=params.threshold,
            threshold_met=anchor.valid,
            rounds=search.trace.rounds,
            candidates=search.trace.candidates,
            note=_note(anchor, params, len(self.reference_matrix)),
        )
        return prediction, result, fidelity

    def _condition(self, predicate: Predicate) -> Condition:
        feature = self.schema.features[predicate.feature]
        value: Any = (
            feature.categories[int(predicate.value)]
            if feature.is_categorical
            else float(predicate.value)
        )
        return Condition(feature=feature.name, operator=predicate.operator, value=value)

    def _records(self, samples: np.ndarray, limit: int) -> list[dict[str, Any]]:
        if len(samples) == 0 or limit == 0:
            return []
        rows = self.schema.to_wire(samples[:limit])
        return [dict(zip(self.schema.names, row, strict=True)) for row in rows]


def _number(value: Any) -> str:
    """A bound as people read it: whole numbers without a decimal point, others with six
    significant digits and never fewer than their whole part (0.00264, 12792.5, 1234567.5),
    never in exponent form."""
    number = float(value)
    if number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    whole = len(str(int(abs(number))))
    return np.format_float_positional(
        number, precision=max(6, whole + 1), unique=True, fractional=False, trim="-"
    )


def _readable(rule: list[Condition]) -> list[str]:
    """One predicate per feature: "age > 50", "28 < age <= 37", "relationship = Husband"."""
    out = []
    for name in dict.fromkeys(c.feature for c in rule):
        on = [c for c in rule if c.feature == name]
        low = [c for c in on if c.operator in (">", ">=")]
        high = [c for c in on if c.operator in ("<", "<=")]
        if len(low) == 1 and len(high) == 1:
            out.append(
                f"{_number(low[0].value)} {'<' if low[0].operator == '>' else '<='} {name} "
                f"{high[0].operator} {_number(high[0].value)}"
            )
        else:
            out += [
                f"{c.feature} {c.operator} {c.value if c.operator == '=' else _number(c.value)}"
                for c in on
            ]
    return out


def _low_coverage(anchor: Anchor, min_coverage: float) -> bool:
    """The rule describes fewer than ``min_coverage`` of the reference rows, or none."""
    return anchor.coverage < min_coverage or anchor.donors == 0


def _note(anchor: Anchor, params: Any, reference_rows: int) -> str | None:
    """What a reader must know before trusting the rule, in words; None when nothing."""
    m = anchor.measurement
    threshold, level = params.threshold, f"{params.confidence:.0%}"
    notes = []
    if not anchor.valid and m.precision < threshold:
        notes.append(
            f"no rule built from the instance's values reached the precision threshold "
            f"{threshold}; this is the most precise one found: {m.precision:.3f} on {m.n} "
            "samples"
        )
    elif anchor.lower < threshold:
        notes.append(
            f"the precision {m.precision:.3f} on {m.n} samples reaches the threshold "
            f"{threshold}, but the lower end of its {level} confidence interval, "
            f"{anchor.lower:.3f}, is below it: the rule is close to the limit"
            + ("" if anchor.valid else " and is not accepted")
        )
    if _low_coverage(anchor, params.min_coverage):
        notes.append(
            f"the rule describes only {anchor.donors} of the {reference_rows} reference rows "
            f"({anchor.coverage:.2%}), fewer than the {params.min_coverage:g} asked "
            "(min_coverage): it speaks for very few cases, and its precision rests on "
            f"{m.real} real row{'' if m.real == 1 else 's'}, the other samples being built "
            "from reference rows that satisfy the rule's predicates, feature by feature or, "
            "for the most selective ones, together"
        )
    return "; ".join(notes) if notes else None
