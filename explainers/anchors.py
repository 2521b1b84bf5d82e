"""Anchors: the rule that locks the prediction in (alibi ``AnchorTabular``).

alibi works on the ordinal-encoded space with ``categorical_names``; numeric features are
discretised into quantile bins (``disc_perc``) when the explainer is built. alibi calls its
predictor once in ``AnchorTabular.__init__`` to probe the output shape, so it is built with a
placeholder, and each explanation hands the sampler the live model.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
from pydantic import Field

from explainers.base import Explainer, ExplainerParams
from explainers.errors import ExplainerError
from explainers.explanation import AnchorFidelity, AnchorResult, Condition, Prediction
from explainers.model import CountingModel

_RANGE = re.compile(r"^(-?[\d.]+(?:e[+-]?\d+)?) < (.+) <= (-?[\d.]+(?:e[+-]?\d+)?)$")


class AnchorParams(ExplainerParams):
    threshold: float = Field(0.95, gt=0, le=1, description="minimum precision of the anchor")
    beam_size: int = Field(1, ge=1, le=20)
    batch_size: int = Field(100, ge=10, le=10_000, description="samples per model call")
    max_anchor_size: int | None = Field(None, ge=1)
    coverage_samples: int = Field(10_000, ge=100, le=100_000)
    disc_perc: tuple[float, ...] = Field(
        (25, 50, 75), description="percentiles that bin numeric features (fixed when built)"
    )
    fidelity_samples: int = Field(
        1000, ge=50, le=20_000, description="fresh samples for the re-measured precision"
    )
    examples: int = Field(3, ge=0, le=20, description="examples kept where the rule holds/fails")
    refine: bool = Field(
        True, description="extend a rule whose precision on fresh samples is below the threshold"
    )
    refine_samples: int = Field(300, ge=50, le=5000, description="samples per candidate predicate")
    confidence: float = Field(
        0.999,
        gt=0.5,
        lt=1,
        description="a rule is extended until this lower bound of its "
        "precision reaches the threshold",
    )


def _placeholder(x: np.ndarray) -> np.ndarray:
    return np.zeros(len(x), dtype=int)


class AnchorsExplainer(Explainer):
    method = "anchors"
    Params = AnchorParams
    fit_params = frozenset({"disc_perc"})

    def fit(self) -> None:
        from alibi.explainers import AnchorTabular

        self._anchor = AnchorTabular(
            _placeholder,
            feature_names=self.schema.names,
            categorical_names=self.schema.categorical_names,
            seed=self.params.seed,
        )
        self._anchor.fit(self.reference_matrix, disc_perc=tuple(self.params.disc_perc))

    def _explain(
        self, x: np.ndarray | None, params: Any, model: CountingModel
    ) -> tuple[Prediction, AnchorResult, AnchorFidelity]:
        assert x is not None
        if not self.model.is_classifier:
            raise ExplainerError("anchors explain classifiers; the model is a regression")
        prediction = model.predict_one(x)
        label = int(prediction.class_index or 0)
        self._anchor.samplers[0].predictor = model.classes
        found = self._anchor.explain(
            x,
            threshold=params.threshold,
            beam_size=params.beam_size,
            batch_size=params.batch_size,
            max_anchor_size=params.max_anchor_size,
            coverage_samples=params.coverage_samples,
        )
        search_rule = list(found.anchor)
        rule = [c for predicate in search_rule for c in self._parse(predicate)]
        refine_rng = np.random.default_rng([params.seed, 1])
        search_precision = self._precision(
            rule, x, label, params.fidelity_samples, refine_rng, model
        )[0]
        n = params.fidelity_samples
        extended = (
            params.refine
            and _lower_bound(search_precision, n, params.confidence) < params.threshold
        )
        if extended:
            rule = self._refine(rule, x, label, params, refine_rng, model)
        # the reported precision comes from samples that chose nothing
        precision, samples, agree = self._precision(
            rule, x, label, params.fidelity_samples, np.random.default_rng([params.seed, 2]), model
        )
        met = precision >= params.threshold
        result = AnchorResult(
            rule=_readable(rule),
            conditions=rule,
            precision=precision,
            coverage=float(self._joint_mask(rule).mean()),
            examples_hold=self._records(samples[agree], params.examples),
            examples_fail=self._records(samples[~agree], params.examples),
        )
        fidelity = AnchorFidelity(
            precision=precision,
            samples=params.fidelity_samples,
            threshold=params.threshold,
            threshold_met=met,
            search_rule=search_rule,
            search_precision_estimate=float(found.precision),
            search_precision_measured=search_precision,
            extended=extended,
            note=_note(met, extended, search_precision, precision, params.threshold),
        )
        return prediction, result, fidelity

    # --- measuring a rule ---------------------------------------------------------------

    def _sample(
        self, rule: list[Condition], x: np.ndarray, n: int, rng: np.random.Generator
    ) -> np.ndarray:
        """``n`` rows where ``rule`` holds, drawn as alibi draws them.

        A random reference row, whose anchored features are replaced by those of a random
        reference row where the whole rule holds; when no reference row satisfies it
        jointly, each anchored feature comes from the rows satisfying its own conditions.
        """
        data = self.reference_matrix
        samples = data[rng.integers(0, len(data), n)].copy()
        anchored = sorted({self.schema.names.index(c.feature) for c in rule})
        if not anchored:
            return np.asarray(samples)
        masks = {j: self._mask(rule, j) for j in anchored}
        joint = np.logical_and.reduce([masks[j] for j in anchored])
        if joint.any():
            donors = data[rng.choice(np.flatnonzero(joint), n)]
            samples[:, anchored] = donors[:, anchored]
        else:
            for j in anchored:
                pool = data[masks[j], j] if masks[j].any() else np.array([x[j]])
                samples[:, j] = rng.choice(pool, n)
        return np.asarray(samples)

    def _precision(
        self,
        rule: list[Condition],
        x: np.ndarray,
        label: int,
        n: int,
        rng: np.random.Generator,
        model: CountingModel,
    ) -> tuple[float, np.ndarray, np.ndarray]:
        """(precision, the samples, which agree) on ``n`` fresh samples, one model call."""
        samples = self._sample(rule, x, n, rng)
        agree = model.classes(samples) == label
        return float(agree.mean()), samples, agree

    def _refine(
        self,
        rule: list[Condition],
        x: np.ndarray,
        label: int,
        params: Any,
        rng: np.random.Generator,
        model: CountingModel,
    ) -> list[Condition]:
        """Extend ``rule`` greedily with the instance's own predicates until it is precise.

        Each round scores every candidate predicate in one model call and keeps the best;
        it stops when the lower confidence bound of the precision reaches the threshold, or
        when every feature is anchored.
        """
        n = params.refine_samples
        while True:
            used = {c.feature for c in rule}
            candidates = [
                self._own_predicate(j, x)
                for j, name in enumerate(self.schema.names)
                if name not in used
            ]
            candidates += [
                narrower
                for j, feature in enumerate(self.schema.features)
                if feature.name in used and not feature.is_categorical
                for narrower in [self._narrower(rule, j, x)]
                if narrower
            ]
            if not candidates:
                return rule
            batch = np.vstack([self._sample(_simplify(rule + c), x, n, rng) for c in candidates])
            agree = (model.classes(batch) == label).reshape(len(candidates), n).mean(axis=1)
            best = int(np.argmax(agree))
            rule = _simplify(rule + candidates[best])
            if _lower_bound(float(agree[best]), n, params.confidence) >= params.threshold:
                return rule

    def _narrower(self, rule: list[Condition], j: int, x: np.ndarray) -> list[Condition]:
        """For an anchored numeric feature: an interval around the instance's value holding the
        nearer half of the reference values the rule allows; [] when it cannot narrow."""
        name = self.schema.names[j]
        values = np.unique(self.reference_matrix[self._mask(rule, j), j])
        if len(values) < 2:
            return []
        nearest = values[np.argsort(np.abs(values - x[j]), kind="stable")[: (len(values) + 1) // 2]]
        low, high = float(nearest.min()), float(nearest.max())
        below = values[values < low]
        conditions = [Condition(feature=name, operator="<=", value=high)]
        if len(below):
            conditions.append(Condition(feature=name, operator=">", value=float(below.max())))
        return conditions

    def _own_predicate(self, j: int, x: np.ndarray) -> list[Condition]:
        """The instance's category, or the discretiser bin it falls in."""
        feature = self.schema.features[j]
        if feature.is_categorical:
            return [
                Condition(feature=feature.name, operator="=", value=feature.categories[int(x[j])])
            ]
        edges = np.asarray(self._anchor.samplers[0].disc.lambdas[j].keywords["qts"], dtype=float)
        b = int(np.searchsorted(edges, x[j]))
        conditions = []
        if b > 0:
            conditions.append(
                Condition(feature=feature.name, operator=">", value=float(edges[b - 1]))
            )
        if b < len(edges):
            conditions.append(Condition(feature=feature.name, operator="<=", value=float(edges[b])))
        return conditions

    def _mask(self, rule: list[Condition], j: int) -> np.ndarray:
        """Which reference rows satisfy every condition of ``rule`` on feature ``j``."""
        feature = self.schema.features[j]
        column = self.reference_matrix[:, j]
        mask = np.ones(len(column), dtype=bool)
        for condition in (c for c in rule if c.feature == feature.name):
            if condition.operator == "=":
                mask &= column == feature.categories.index(str(condition.value))
                continue
            value = float(condition.value)
            if condition.operator == "<=":
                mask &= column <= value
            elif condition.operator == ">":
                mask &= column > value
            elif condition.operator == "<":
                mask &= column < value
            else:
                mask &= column >= value
        return mask

    def _joint_mask(self, rule: list[Condition]) -> np.ndarray:
        mask = np.ones(len(self.reference_matrix), dtype=bool)
        for j in sorted({self.schema.names.index(c.feature) for c in rule}):
            mask &= self._mask(rule, j)
        return mask

    # --- presentation -------------------------------------------------------------------

    def _parse(self, predicate: str) -> list[Condition]:
        """alibi's readable predicate as structured conditions."""
        for name in sorted(self.schema.names, key=len, reverse=True):
            for op in (" = ", " <= ", " > ", " < ", " >= "):
                if predicate.startswith(name + op):
                    text = predicate[len(name) + len(op) :]
                    value: Any = text if op == " = " else float(text)
                    return [Condition(feature=name, operator=op.strip(), value=value)]
        match = _RANGE.match(predicate)
        if match and match.group(2) in self.schema.names:
            low, name, high = float(match.group(1)), match.group(2), float(match.group(3))
            return [
                Condition(feature=name, operator=">", value=low),
                Condition(feature=name, operator="<=", value=high),
            ]
        raise ExplainerError(f"cannot read alibi's predicate {predicate!r}")

    def _records(self, samples: np.ndarray, limit: int) -> list[dict[str, Any]]:
        if len(samples) == 0 or limit == 0:
            return []
        rows = self.schema.to_wire(samples[:limit])
        return [dict(zip(self.schema.names, row, strict=True)) for row in rows]


def _lower_bound(p: float, n: int, confidence: float) -> float:
    """Wilson score lower bound of a proportion ``p`` measured on ``n`` samples."""
    from scipy.stats import norm

    z = float(norm.ppf(confidence))
    centre = p + z * z / (2 * n)
    spread = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return float((centre - spread) / (1 + z * z / n))


def _simplify(rule: list[Condition]) -> list[Condition]:
    """One lower and one upper bound per numeric feature (the tightest), in first-seen order."""
    out: list[Condition] = []
    for name in dict.fromkeys(c.feature for c in rule):
        on = [c for c in rule if c.feature == name]
        if any(c.operator == "=" for c in on):
            out += [c for c in on if c.operator == "="][:1]
            continue
        lows = [c for c in on if c.operator in (">", ">=")]
        highs = [c for c in on if c.operator in ("<", "<=")]
        if lows:
            out.append(max(lows, key=lambda c: (float(c.value), c.operator == ">")))
        if highs:
            out.append(min(highs, key=lambda c: (float(c.value), c.operator == "<")))
    return out


def _number(value: Any) -> str:
    return f"{float(value):g}"


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


def _note(met: bool, extended: bool, search: float, final: float, threshold: float) -> str | None:
    if extended and met:
        return (
            f"alibi's anchor held with precision {search:.3f} on fresh samples, below the "
            f"threshold {threshold}; it was extended with the instance's own predicates"
        )
    if extended:
        return (
            f"no rule built from the instance's predicates reached the threshold {threshold} "
            f"(best: {final:.3f}); the numeric bins may be too coarse (see disc_perc)"
        )
    if not met:
        return f"the rule holds with precision {final:.3f}, below the threshold {threshold}"
    return None
