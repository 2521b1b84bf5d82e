"""The anchor search: a beam of rules grown one predicate at a time, every model call batched.

The beam search of the Anchors paper (Ribeiro et al., 2018), as alibi's ``AnchorBaseBeam``
runs it, with the changes the measurements asked for:

- **one model call per step**: the samples of every candidate rule a step needs are scored
  together (alibi calls the model once per candidate);
- **candidates are chosen by successive halving** (Karnin et al., 2013): all are sampled, the
  better half is kept and sampled twice as much, until ``beam_size`` remain. On the income
  model KL-LUCB, batched, needed 30-70k rows per explanation for near-tied candidates; halving
  needs about ``log2(candidates)`` calls per round;
- **coverage is exact**: the share of the reference rows where the rule holds, from masks;
- **precision is decided on fresh samples**: a rule is accepted on samples drawn after it was
  chosen (never on the samples that chose it, which flatter the winner), drawn in doubling
  batches until a Clopper-Pearson bound settles the question (a sequential test) or
  ``max_samples`` are drawn (then the estimate decides); those samples are the precision
  reported.

Rules are made of the instance's own predicates: ``feature = its category``, and for a
numeric feature ``feature <= edge`` or ``feature > edge`` for the reference quantile edges on
either side of its value, and for the same quantiles of the values in its own bin (on the
income model these local edges took the rules that reach the threshold from 30 to 36 of 40
applicants, and the median model calls from 24 to 11). A rule holds at most one lower and one
upper bound per feature.

Samples of a rule are real reference rows where the rule holds, each used once; when those
run out (a rule that few rows satisfy), a random reference row whose anchored features are
drawn, feature by feature, from the rows that satisfy that feature's own predicates (alibi's
perturbation); the samples that decide a rule draw its most selective anchored features
together from one row, so features that go together stay together. So a rule that a handful
of rows satisfy is not judged on a handful of rows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import numpy as np
from scipy.special import betaincinv

from explainers.anchors._pool import SamplePool
from explainers.budget import Tally

Operator = Literal["=", "<=", ">"]
Rule = tuple[int, ...]
#: Rows (m, d) in the explainer space -> whether the model's class is the instance's (m,).
Agreement = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Predicate:
    """``feature operator value`` in the explainer space (a category's code, or a bin edge)."""

    feature: int
    operator: Operator
    value: float

    def holds(self, column: np.ndarray) -> np.ndarray:
        if self.operator == "=":
            return np.asarray(column == self.value)
        if self.operator == "<=":
            return np.asarray(column <= self.value)
        return np.asarray(column > self.value)


def instance_predicates(
    x: np.ndarray, categorical: Sequence[bool], edges: Sequence[np.ndarray | None]
) -> list[Predicate]:
    """The predicates ``x`` satisfies: its category, or one bound per quantile edge."""
    predicates = []
    for j, is_categorical in enumerate(categorical):
        if is_categorical:
            predicates.append(Predicate(j, "=", float(x[j])))
            continue
        cuts = edges[j]
        for edge in cuts if cuts is not None else []:
            operator: Operator = "<=" if x[j] <= edge else ">"
            predicates.append(Predicate(j, operator, float(edge)))
    return predicates


def instance_edges(
    column: np.ndarray, edges: np.ndarray, value: float, percentiles: Sequence[float]
) -> np.ndarray:
    """The cut points of one numeric feature for one instance: the global ``edges``; in
    the bin that holds ``value``, the same ``percentiles`` of the reference values there,
    so a threshold can sit near the instance (capital-gain > 7,000, not only > 0); and the
    tightest cuts, ``value`` itself and the largest reference value below it (``<= value``,
    ``>= value``), from which the refinement walks to where the model's answer changes.
    At most ``2 * len(percentiles) + 2`` of them."""
    below, above = edges[edges < value], edges[edges >= value]
    low = below.max() if len(below) else -np.inf
    high = above.min() if len(above) else np.inf
    inside = column[(column > low) & (column <= high)]
    local = np.percentile(inside, percentiles) if len(inside) else np.array([])
    under = column[column < value]
    tight = [value, under.max()] if len(under) else [value]
    return np.asarray(np.unique(np.concatenate([edges, local, tight])))


@dataclass(frozen=True)
class SearchSettings:
    threshold: float = 0.95
    beam_size: int = 2
    batch_size: int = 100
    init_samples: int = 25
    max_anchor_size: int | None = None
    delta: float = 0.1
    confidence: float = 0.95
    max_samples: int = 2000
    #: a rule's choosing samples count for the other rules they describe (``_pool``); off,
    #: each rule is chosen on its own samples only (to measure what the pool saves)
    reuse: bool = True
    #: candidates clearly out of the beam leave the halving early, and a rule being validated
    #: stops once a wider one is settled valid; off, the search as it ran before (to measure
    #: what this saves)
    prune: bool = True
    #: built samples that decide a rule draw its most selective anchored features together
    #: from rows where all of them hold, while at least this many rows do (``_build``);
    #: 0, each anchored feature on its own (to measure what this changes)
    joint_rows: int = 20


@dataclass
class Measurement:
    """Fresh samples of one rule: how many, how many agree, the samples themselves, and how
    many of them are whole reference rows where the rule holds (each a distinct row)."""

    samples: list[np.ndarray] = field(default_factory=list)
    agree: list[np.ndarray] = field(default_factory=list)
    real: int = 0

    @property
    def n(self) -> int:
        return int(sum(len(a) for a in self.agree))

    @property
    def k(self) -> int:
        return int(sum(int(a.sum()) for a in self.agree))

    @property
    def precision(self) -> float:
        return self.k / self.n if self.n else 0.0

    def add(self, samples: np.ndarray, agree: np.ndarray, real: int = 0) -> None:
        self.samples.append(samples)
        self.agree.append(agree)
        self.real += real

    def stacked(self) -> tuple[np.ndarray, np.ndarray]:
        return np.vstack(self.samples), np.concatenate(self.agree)


class _Draw(NamedTuple):
    """Samples of one rule before the model scores them: the first ``len(rows)`` are the
    reference rows ``rows``, the others built."""

    samples: np.ndarray
    rows: np.ndarray


class Scored(NamedTuple):
    """Samples of one rule as the model scored them; ``real`` of them are whole reference
    rows where the rule holds."""

    samples: np.ndarray
    agree: np.ndarray
    real: int


@dataclass
class Anchor:
    """What the search found: the rule and its precision measured on fresh samples."""

    rule: Rule
    measurement: Measurement
    lower: float
    upper: float
    valid: bool
    coverage: float
    donors: int = 0


@dataclass
class Trace:
    """What the search did, for the explanation's cost and for tests."""

    rounds: int = 0
    candidates: int = 0
    steps: int = 0


class AnchorSearch:
    """Finds the rule with the largest coverage among those whose precision reaches the
    threshold, over the predicates of one instance.

    Parameters
    ----------
    reference
        Reference rows (n, d) in the explainer space; samples are drawn from them.
    x
        The instance (d,).
    predicates
        The candidate predicates, each true for ``x``.
    agreement
        Scores rows with the live model: True where the class is the instance's.
    rng
        The source of every random draw.
    """

    def __init__(
        self,
        reference: np.ndarray,
        x: np.ndarray,
        predicates: Sequence[Predicate],
        agreement: Agreement,
        settings: SearchSettings,
        rng: np.random.Generator,
    ) -> None:
        self.reference = reference
        self.x = x
        self.predicates = list(predicates)
        self.agreement = agreement
        self.settings = settings
        self.rng = rng
        self.trace = Trace()
        self._masks = [p.holds(reference[:, p.feature]) for p in self.predicates]
        choose = np.zeros(len(reference), dtype=bool)
        choose[rng.permutation(len(reference))[: len(reference) // 2]] = True
        decide = ~choose
        # rows that choose / decide rules (a single reference row serves both)
        self._half = {False: choose if choose.any() else decide, True: decide}
        # every rule takes the reference rows where it holds in this one order
        self._order = rng.permutation(len(reference))
        # the model's answer for each reference row once asked (-1: not yet), with ``reuse``
        self._answers = np.full(len(reference), -1, dtype=np.int8)
        self._pool = SamplePool(reference.shape[1])  # built choosing samples, with their boxes
        self._own: dict[Rule, tuple[int, int]] = {}  # each rule's own choosing samples
        self._taken: dict[tuple[Rule, bool], int] = {}  # rows a rule took, by ``decide``
        self._index = {p: i for i, p in enumerate(self.predicates)}
        self._distinct: dict[int, np.ndarray] = {}
        self._decided: dict[Rule, Anchor] = {}

    def predicate(self, predicate: Predicate) -> int:
        """The position of ``predicate`` in ``predicates``, added (with its mask) when new."""
        if predicate not in self._index:
            self._index[predicate] = len(self.predicates)
            self.predicates.append(predicate)
            self._masks.append(predicate.holds(self.reference[:, predicate.feature]))
        return self._index[predicate]

    # --- what a rule is ---------------------------------------------------------------

    def mask(self, rule: Rule) -> np.ndarray:
        """Which reference rows satisfy every predicate of ``rule``."""
        mask = np.ones(len(self.reference), dtype=bool)
        for i in rule:
            mask &= self._masks[i]
        return mask

    def coverage(self, rule: Rule) -> float:
        return float(self.mask(rule).mean())

    def box(self, rule: Rule) -> tuple[np.ndarray, np.ndarray]:
        """Where ``rule`` holds, per feature: ``low < value <= high`` (d,) each; a category
        ``c`` is ``c - 1/2 < code <= c``, a free feature unbounded."""
        low = np.full(len(self.x), -np.inf)
        high = np.full(len(self.x), np.inf)
        for i in rule:
            p = self.predicates[i]
            if p.operator == ">":
                low[p.feature] = max(low[p.feature], p.value)
            elif p.operator == "<=":
                high[p.feature] = min(high[p.feature], p.value)
            else:
                low[p.feature], high[p.feature] = p.value - 0.5, p.value
        return low, high

    def features(self, rule: Rule) -> list[int]:
        return sorted({self.predicates[i].feature for i in rule})

    def extensions(self, rule: Rule) -> list[Rule]:
        """``rule`` plus one predicate, keeping one lower and one upper bound per feature."""
        taken = {(self.predicates[i].feature, self.predicates[i].operator) for i in rule}
        anchored_categories = {self.predicates[i].feature for i in rule}
        out = []
        for i, predicate in enumerate(self.predicates):
            if i in rule or (predicate.feature, predicate.operator) in taken:
                continue
            if predicate.operator == "=" and predicate.feature in anchored_categories:
                continue
            out.append(tuple(sorted((*rule, i))))
        return out

    # --- sampling ---------------------------------------------------------------------

    def sample(self, rule: Rule, n: int, decide: bool = False) -> tuple[np.ndarray, int]:
        """``n`` rows where ``rule`` holds, from the perturbation distribution, and how many
        of them are whole reference rows (the first ones)."""
        draw = self._draw(rule, n, decide)
        return draw.samples, len(draw.rows)

    def _ordered(self, rule: Rule, decide: bool) -> np.ndarray:
        """The reference rows of the ``decide`` half where ``rule`` holds, in the search's
        order."""
        holds = self.mask(rule) & self._half[decide]
        return self._order[holds[self._order]]

    def _prefix(self, rows: np.ndarray) -> int:
        """How many of ``rows`` (ordered), from the first, the model has answered."""
        unknown = np.flatnonzero(self._answers[rows] < 0)
        return int(unknown[0]) if len(unknown) else len(rows)

    def _draw(self, rule: Rule, n: int, decide: bool) -> _Draw:
        """``n`` samples of ``rule``: its next reference rows, then built rows.

        The reference rows are split once, at random: one half serves the samples that
        choose rules, the other only those that ``decide`` a rule's precision, so a rule
        chosen on real rows is decided on real rows it was not chosen on. Within its half, a
        rule's real samples are the rows where the whole rule holds, taken in one order the
        search draws once, each used once per rule: any first rows of that order are a
        uniform sample of the rule's rows, so a rule takes the rows other rules had the
        model answer without a model call and without bias (a rule ``capital-gain > 3,000``
        draws rows of high gains, which would flatter or sink a rule it also satisfies if
        they counted as that rule's own draw). When they run out (a rule that few rows
        satisfy), built rows (``_build``), so a rule that a handful of rows satisfy is not
        measured on a handful of value combinations.
        """
        data, ordered = self.reference, self._ordered(rule, decide)
        if decide or not self.settings.reuse:
            start = self._taken.get((rule, decide), 0)
            self._taken[rule, decide] = start + min(n, len(ordered) - start)
        else:  # a choosing rule's counted rows are the answered ones its order starts with
            start = self._prefix(ordered)
        rows = ordered[start : start + n]
        samples = np.empty((n, data.shape[1]))
        samples[: len(rows)] = data[rows]
        if n > len(rows):
            samples[len(rows) :] = self._build(rule, n - len(rows), joint=decide)
        return _Draw(samples, rows)

    def _build(self, rule: Rule, n: int, joint: bool) -> np.ndarray:
        """``n`` built samples of ``rule``: random reference rows whose anchored features
        are drawn from rows that satisfy those features' own predicates.

        Choosing samples draw each anchored feature on its own (alibi's perturbation; the
        pool relies on it, ``_pool``). Deciding samples (``joint``) draw the most selective
        anchored features together, from one reference row where all of them hold, adding
        features while at least ``joint_rows`` rows remain, and only the rest on their own:
        drawn apart, features that go together make rows nobody has (education
        "Some-college" with education-num 13), and a rule can pass on those."""
        data = self.reference
        samples = data[self.rng.choice(len(data), n)]
        owns = {j: self._feature_holds(rule, j) for j in self.features(rule)}
        alone = list(owns)
        if joint and self.settings.joint_rows:
            together = np.ones(len(data), dtype=bool)
            group = []
            for j in sorted(owns, key=lambda j: int(owns[j].sum())):
                if int((together & owns[j]).sum()) >= self.settings.joint_rows:
                    together &= owns[j]
                    group.append(j)
            if len(group) > 1:
                donors = self.rng.choice(np.flatnonzero(together), n)
                samples[:, group] = data[np.ix_(donors, group)]
                alone = [j for j in alone if j not in group]
        for j in alone:
            pool = data[owns[j], j] if owns[j].any() else np.array([self.x[j]])
            samples[:, j] = self.rng.choice(pool, n)
        return samples

    def _feature_holds(self, rule: Rule, feature: int) -> np.ndarray:
        """Which reference rows satisfy the predicates of ``rule`` on ``feature``."""
        own = np.ones(len(self.reference), dtype=bool)
        for i in rule:
            if self.predicates[i].feature == feature:
                own &= self._masks[i]
        return own

    def measure(self, requests: Sequence[tuple[Rule, int]], decide: bool = False) -> list[Scored]:
        """Samples for each ``(rule, n)``, all scored in ONE model call (none when the model
        answered every one before); ``decide``: samples that decide a rule's precision (see
        ``_draw``). Built choosing samples join the pool; with ``reuse``, the model is asked
        about a reference row once per search."""
        drawn = [self._draw(rule, n, decide) for rule, n in requests]
        reuse = self.settings.reuse
        real = np.concatenate([d.rows for d in drawn]) if drawn else np.empty(0, dtype=int)
        asked = np.unique(real[self._answers[real] < 0]) if reuse else real
        built = [d.samples[len(d.rows) :] for d in drawn]
        sent = np.vstack([self.reference[asked], *built])
        agree = np.zeros(0, dtype=bool)
        if len(sent):
            agree = np.asarray(self.agreement(sent), dtype=bool)
            self.trace.steps += 1
        if reuse:
            self._answers[asked] = agree[: len(asked)]
        answered = self._answers[real].astype(bool) if reuse else agree[: len(asked)]
        out, at_real, at_built = [], 0, len(asked)
        for (rule, _), draw, made in zip(requests, drawn, built, strict=True):
            scored = Scored(
                draw.samples,
                np.concatenate(
                    [
                        answered[at_real : at_real + len(draw.rows)],
                        agree[at_built : at_built + len(made)],
                    ]
                ),
                len(draw.rows),
            )
            at_real += len(draw.rows)
            at_built += len(made)
            out.append(scored)
            if not decide:
                if len(made):
                    low, high = self.box(rule)
                    boxes = np.tile(low, (len(made), 1)), np.tile(high, (len(made), 1))
                    self._pool.add(made, scored.agree[len(draw.rows) :], *boxes)
                k, m = self._own.get(rule, (0, 0))
                self._own[rule] = (k + int(scored.agree.sum()), m + len(draw.samples))
        return out

    def counts(self, requests: Sequence[tuple[Rule, int]]) -> list[tuple[int, int]]:
        """For each ``(rule, n)``: (samples that agree, samples) from the pool of choosing
        samples, after one model call draws what each rule lacks of ``n`` (none when
        nothing lacks)."""
        have = [self._chosen(rule)[1] for rule, _ in requests]
        lacking = [(rule, n - h) for (rule, n), h in zip(requests, have, strict=True) if n > h]
        self.measure(lacking)
        return [self._chosen(rule) for rule, _ in requests]

    def _chosen(self, rule: Rule) -> tuple[int, int]:
        """(agree, samples) of the choosing samples that count for ``rule``."""
        if not self.settings.reuse:
            return self._own.get(rule, (0, 0))
        ordered = self._ordered(rule, decide=False)
        answered = self._answers[ordered[: self._prefix(ordered)]]
        agree, built = self._pool.counts([self.predicates[i] for i in rule], *self.box(rule))
        return int(answered.sum()) + agree, len(answered) + built

    # --- the search -------------------------------------------------------------------

    def run(self) -> Anchor:
        """The anchor. When no rule reaches the threshold, the most precise one examined,
        with ``valid`` False."""
        s = self.settings
        limit = min(s.max_anchor_size or len(self.predicates), len(self.predicates))
        tried: list[Anchor] = []
        beam: list[Rule] = [()]
        for size in range(limit + 1):
            grown = {c for rule in beam for c in self.extensions(rule)}
            candidates: list[Rule] = [()] if size == 0 else sorted(grown)
            if not candidates:
                break
            if size:
                self.trace.rounds += 1
                self.trace.candidates += len(candidates)
            beam, promising = self._select(candidates)
            found = self._validate(promising, widest=True)
            tried += found
            valid = [a for a in found if a.valid]
            if valid:
                return self._finish(max(valid, key=_widest))
            if not any(self.mask(rule).any() for rule in beam):
                break  # no reference row is described any more: longer rules say no more
        if not tried:  # nothing looked promising: measure the last beam all the same
            tried = self._validate(beam)
        return max(tried, key=lambda a: (a.measurement.precision, a.coverage))

    def _select(self, candidates: list[Rule]) -> tuple[list[Rule], list[Rule]]:
        """The ``beam_size`` candidates of highest precision, by successive halving: every
        candidate gets ``init_samples`` samples, the better half is kept and topped up to
        three times as many, and so on (one model call per halving); the samples the pool
        holds for a candidate count, so a candidate costs only what it lacks. Halving stops
        as soon as ``beam_size`` candidates are settled above the threshold: the widest of
        those are chosen (the widest valid rule is the one the search keeps). Before each
        halving, candidates clearly out (``_contenders``) leave, so halving spends its
        samples on the near-ties. Also returns
        those of the chosen whose precision may still reach the threshold (worth
        validating)."""
        s = self.settings
        k = np.zeros(len(candidates))
        n = np.zeros(len(candidates))
        alive = np.arange(len(candidates))
        size = total = s.init_samples
        top = min(s.beam_size, len(candidates))
        while True:
            for i, (agree, drawn) in zip(
                alive, self.counts([(candidates[i], total) for i in alive]), strict=True
            ):
                k[i], n[i] = agree, drawn
            if len(alive) <= top:
                break
            if s.prune:
                alive = alive[self._contenders(k[alive], n[alive], top)]
            if len(alive) <= top:
                break
            settled = alive[[self._above(int(k[i]), int(n[i])) for i in alive]]
            if len(settled) >= top:  # enough of them reach the threshold: the widest go on
                coverage = np.array([self.coverage(candidates[i]) for i in settled])
                alive = settled[np.lexsort((-(k[settled] / n[settled]), -coverage))][:top]
                break
            keep = max(top, len(alive) // 2)
            alive = alive[self._ranked(candidates, alive, k, n)[:keep]]
            size *= 2
            total += size
            if len(alive) == top and top > 1:
                break
        means = k / n
        chosen = alive[self._ranked(candidates, alive, k, n)][:top]
        upper = kl_upper(means[chosen], np.full(len(chosen), np.log(1 / s.delta)) / n[chosen])
        beam = [candidates[i] for i in chosen]
        return beam, [rule for rule, u in zip(beam, upper, strict=True) if u >= s.threshold]

    def _contenders(self, k: np.ndarray, n: np.ndarray, top: int) -> np.ndarray:
        """Which of the candidates with ``k`` of ``n`` samples agreeing may still be among
        the ``top`` most precise: those whose upper confidence bound reaches the ``top``-th
        highest lower bound (at least ``top`` of them)."""
        bounds = np.array(
            [
                clopper_pearson(int(a), int(b), self.settings.confidence)
                for a, b in zip(k, n, strict=True)
            ]
        )
        bar = np.sort(bounds[:, 0])[-top]
        return np.asarray(bounds[:, 1] >= bar)

    def _above(self, agree: int, drawn: int) -> bool:
        """The confidence bound puts the share ``agree / drawn`` at or above the threshold."""
        s = self.settings
        return clopper_pearson(agree, drawn, s.confidence)[0] >= s.threshold

    def _finish(self, anchor: Anchor) -> Anchor:
        """A valid rule with its bounds moved to where the model's answer changes, then made
        minimal (the final pass, so no refinement follows it)."""
        return self._minimise(self._refine(anchor))

    def _minimise(self, anchor: Anchor) -> Anchor:
        """Drop the predicates the rule does not need: each round scores every rule with one
        predicate fewer (one call, ``batch_size`` samples each); of those whose score
        reaches the threshold, the best ``beam_size`` are decided on fresh samples, and the
        widest valid one replaces the rule. Stops when none is valid: no predicate whose
        removal keeps the rule valid, as far as the scores can tell, is left."""
        s = self.settings
        while len(anchor.rule) > 1:
            shorter = [tuple(i for i in anchor.rule if i != drop) for drop in anchor.rule]
            counted = np.array(self.counts([(rule, s.batch_size) for rule in shorter]), float)
            k, n = counted[:, 0], counted[:, 1]
            order = self._ranked(shorter, np.arange(len(shorter)), k, n)[: s.beam_size]
            hopeful = [shorter[i] for i in order if k[i] / n[i] >= s.threshold]
            valid = [a for a in self._validate(hopeful, widest=True) if a.valid]
            if not valid:
                break
            anchor = max(valid, key=_widest)
        return anchor

    def _refine(self, anchor: Anchor) -> Anchor:
        """Put each numeric bound of a valid rule where the model's answer changes, nearest
        the instance: the rule so refined when it is valid on fresh samples, else ``anchor``.

        Each bound starts at the instance's own value (``age >= 45``) and walks outwards
        over the feature's distinct reference values, all bounds at once, one model call
        per step: a step samples the rule restricted, on that feature, to the slice between
        the bound and the probed value, and moves the bound there when that slice's share
        of the instance's class reaches the threshold, judged in up to five looks of
        ``_first_look`` to sixteen times as many samples (the pool's included) until the
        confidence bounds settle it (``_settled``). The walk gallops (1, 2, 4... values)
        until a slice fails, then bisects inside it. So a bound lands within one data step
        of the model's threshold (``age > 43``), wherever the quantile edges fall, and the
        slices judged are narrow near it. At most ``refine_steps(len(values beyond))``
        probes per bound, and ``_WALK_SAMPLES * max_samples`` samples drawn (a walk that
        would draw more stays where it is).
        """
        s = self.settings
        rule = list(anchor.rule)
        walks: dict[int, _Walk] = {}  # by position in the rule
        for pos, i in enumerate(rule):
            p = self.predicates[i]
            if p.operator == "=":
                continue
            values, x = self._values(p.feature), float(self.x[p.feature])
            if p.operator == ">":  # from "> the value below x", i.e. ">= x", downwards
                beyond = values[values < x][::-1]
            else:  # from "<= x" upwards
                beyond = np.concatenate([[x], values[values > x]])
            if len(beyond):
                rule[pos] = self.predicate(Predicate(p.feature, p.operator, float(beyond[0])))
                walks[pos] = _Walk(beyond)
        pending: dict[int, tuple[int, Rule, int]] = {}  # pos -> (probe, slice, samples)
        first = _first_look(s)
        spent = dict.fromkeys(walks, 0)  # the most samples each walk has drawn
        while walks:
            for pos, walk in walks.items():
                while pos not in pending and not walk.done:
                    if spent[pos] + first > _WALK_SAMPLES * s.max_samples:
                        walk.stop()
                        break
                    probe = walk.next()
                    sliced, rows = self._slice(rule, pos, walk.beyond[probe])
                    if rows:
                        pending[pos] = (probe, sliced, first)
                        spent[pos] += first
                    else:  # no reference value lies between: moving the bound changes nothing
                        walk.passed(probe)
            asked = [(pos, *pending[pos]) for pos in walks if pos in pending]
            counted = self.counts([(sliced, size) for _, _, sliced, size in asked])
            for (pos, probe, sliced, size), (agree, drawn) in zip(asked, counted, strict=True):
                last = size >= _PROBE_STAGES[-1] * first
                last |= spent[pos] + size > _WALK_SAMPLES * s.max_samples
                verdict = _settled(agree, drawn, s, last=last)
                if verdict is None:
                    pending[pos] = (probe, sliced, 2 * size)
                    spent[pos] += size
                    continue
                del pending[pos]
                walk = walks[pos]
                if verdict:
                    p = self.predicates[rule[pos]]
                    rule[pos] = self.predicate(
                        Predicate(p.feature, p.operator, float(walk.beyond[probe]))
                    )
                    walk.passed(probe)
                else:
                    walk.failed(probe)
            walks = {pos: w for pos, w in walks.items() if not w.done or pos in pending}
        # a bound walked past every reference value says nothing: "<= the largest value"
        refined = tuple(sorted(i for i in rule if not self._masks[i].all()))
        if refined == anchor.rule:
            return anchor
        found = self._validate([refined])[0]
        return found if found.valid else anchor

    def _slice(self, rule: list[int], pos: int, value: float) -> tuple[Rule, bool]:
        """``rule`` with its bound at ``pos`` replaced by the slice between that bound and
        ``value`` (beyond it), the values the bound would add when moved to ``value``; and
        whether any reference value lies in that slice."""
        p = self.predicates[rule[pos]]
        low, high = (float(value), p.value) if p.operator == ">" else (p.value, float(value))
        between = (
            self.predicate(Predicate(p.feature, ">", low)),
            self.predicate(Predicate(p.feature, "<=", high)),
        )
        values = self._values(p.feature)
        rows = bool(np.any((values > low) & (values <= high)))
        return tuple(sorted({*rule[:pos], *rule[pos + 1 :], *between})), rows

    def _values(self, feature: int) -> np.ndarray:
        """The distinct reference values of a feature, sorted."""
        if feature not in self._distinct:
            self._distinct[feature] = np.unique(self.reference[:, feature])
        return self._distinct[feature]

    def _ranked(
        self, candidates: list[Rule], alive: np.ndarray, k: np.ndarray, n: np.ndarray
    ) -> np.ndarray:
        """Positions in ``alive`` by precision, then coverage, both descending."""
        coverage = np.array([self.coverage(candidates[i]) for i in alive])
        return np.asarray(np.lexsort((-coverage, -(k[alive] / n[alive]))))

    def _validate(self, rules: list[Rule], widest: bool = False) -> list[Anchor]:
        """Decide each rule on fresh samples, drawn in doubling batches until the confidence
        bound settles it or ``max_samples`` is reached (then the point estimate decides).
        A rule is decided once: asked again (the refinement may land on a rule the search
        decided), the same answer, without another call.

        ``widest``: only the widest valid rule matters to the caller, so a rule still open
        once a rule of larger coverage is settled valid is no longer sampled: it comes back
        not valid, and is not remembered as decided."""
        s = self.settings
        new = list(dict.fromkeys(rule for rule in rules if rule not in self._decided))
        measurements = {rule: Measurement() for rule in new}
        open_rules = list(new)
        outrun: set[Rule] = set()
        size, drawn = min(s.batch_size, s.max_samples), 0
        while open_rules:
            for rule, scored in zip(
                open_rules, self.measure([(r, size) for r in open_rules], decide=True), strict=True
            ):
                measurements[rule].add(*scored)
            still_open = []
            for rule in open_rules:
                m = measurements[rule]
                lower, upper = clopper_pearson(m.k, m.n, s.confidence)
                if lower < s.threshold <= upper and m.n < s.max_samples:
                    still_open.append(rule)
            if widest and s.prune:
                won = [r for r in rules if r in self._decided and self._decided[r].valid]
                won += [
                    r for r in open_rules if r not in still_open and _valid(r, measurements[r], s)
                ]
                best = max((self.coverage(r) for r in won), default=-1.0)
                outrun.update(r for r in still_open if self.coverage(r) < best)
                still_open = [r for r in still_open if r not in outrun]
            open_rules = still_open
            drawn += size
            size = min(2 * size, s.max_samples - drawn)
        for rule in new:
            if rule in outrun:
                continue
            m = measurements[rule]
            lower, upper = clopper_pearson(m.k, m.n, s.confidence)
            self._decided[rule] = Anchor(
                rule=rule,
                measurement=m,
                lower=lower,
                upper=upper,
                valid=_valid(rule, m, s),
                coverage=self.coverage(rule),
                donors=int(self.mask(rule).sum()),
            )
        return [
            self._decided[rule] if rule in self._decided else self._outrun(rule, measurements[rule])
            for rule in rules
        ]

    def _outrun(self, rule: Rule, m: Measurement) -> Anchor:
        """A rule whose validation stopped, undecided, when a wider one was settled valid."""
        lower, upper = clopper_pearson(m.k, m.n, self.settings.confidence)
        coverage = self.coverage(rule)
        return Anchor(rule, m, lower, upper, False, coverage, int(self.mask(rule).sum()))


def _valid(rule: Rule, m: Measurement, s: SearchSettings) -> bool:
    """Whether a rule whose validation ended is valid: settled above the threshold, or
    undecided after ``max_samples`` and the estimate reaches it; the empty rule (the
    model's answer for everyone) only by the bound."""
    if rule == ():
        return clopper_pearson(m.k, m.n, s.confidence)[0] >= s.threshold
    return m.precision >= s.threshold


#: a bound's walk draws at most this many times ``max_samples`` samples
_WALK_SAMPLES = 2
#: the samples a probed slice is judged on, in ``_first_look``s, look after look
_PROBE_STAGES = (1, 2, 4, 8, 16)


def _first_look(s: SearchSettings) -> int:
    """The samples of a slice's first look: the fewest on which a slice where every sample
    agrees is settled above the threshold (59 for 0.95 at 95%), at most ``batch_size``."""
    if s.threshold >= 1:
        return s.batch_size
    fewest = math.ceil(math.log(1 - s.confidence) / math.log(s.threshold))
    return max(1, min(fewest, s.batch_size))


def _settled(agree: int, drawn: int, s: SearchSettings, last: bool) -> bool | None:
    """Whether a probed slice may join the rule: False once the confidence bounds put its
    share ``agree / drawn`` below the threshold, True once they put it above, or on the
    ``last`` look (the refined rule is decided on fresh samples all the same), else None
    (draw more). A clear slice is settled on few samples, one near the threshold on many,
    so a bound stops where the model's answer changes, not where the noise of one batch
    near the threshold falls (which made rules change with the seed)."""
    lower, upper = clopper_pearson(agree, drawn, s.confidence)
    if upper < s.threshold:
        return False
    return True if lower >= s.threshold or last else None


@dataclass
class _Walk:
    """One bound walking outwards over ``beyond`` (distinct values, nearest the instance
    first): ``good`` is the farthest position passed, ``bad`` the nearest failed
    (``len(beyond)``: none yet); it gallops while nothing failed, then bisects."""

    beyond: np.ndarray
    good: int = 0
    bad: int = -1
    width: int = 1

    def __post_init__(self) -> None:
        self.bad = len(self.beyond)

    def next(self) -> int:
        if self.bad == len(self.beyond):  # galloping
            return min(self.good + self.width, len(self.beyond) - 1)
        return (self.good + self.bad) // 2

    def passed(self, probe: int) -> None:
        self.good = probe
        self.width *= 2

    def failed(self, probe: int) -> None:
        self.bad = probe

    def stop(self) -> None:
        """Stay at the farthest value passed."""
        self.bad = self.good + 1

    @property
    def done(self) -> bool:
        return self.bad - self.good <= 1 or self.good == len(self.beyond) - 1


def _widest(anchor: Anchor) -> tuple[float, float]:
    return anchor.coverage, anchor.measurement.precision


# --- the most a search can cost -----------------------------------------------------------


def worst_case_cost(
    settings: SearchSettings, predicates: int, longest: int, tally: Tally, values: int
) -> None:
    """Count into ``tally`` the most ``AnchorSearch.run`` can ask of the model, with at most
    ``predicates`` predicates, rules of at most ``longest`` of them, and at most ``values``
    distinct reference values per feature (the number of reference rows will do).

    Follows ``run`` with every quantity at its largest: every rule size is searched, up to
    ``max_anchor_size`` or the longest rule (nothing stops it early: no rule is valid and the
    beam always describes a reference row); a size has ``beam_size`` times as many candidates
    as a beam rule has extensions; ``_select`` halves them, one call per halving; every rule
    it keeps is then validated and stays undecided until ``max_samples`` fresh samples, in
    doubling batches from ``batch_size``. Then the larger of: the longest rule finished
    (``_finish``: its bounds refined, ``refine_steps`` probes per predicate, each judged in
    up to ``len(_PROBE_STAGES)`` looks of at most ``2 * batch_size`` new samples, the
    refined rule validated, then shortened one predicate at a time, every shorter rule
    scored and ``beam_size`` of them validated per round), or, when nothing was valid, the
    last beam validated. Samples the pool or the model answered before are not subtracted,
    nor does halving stop early. On the
    income model this is one to two orders of magnitude above what a search usually costs:
    the sequential test and the depth of the search depend on the data, which the bound
    cannot know.
    """
    s = settings
    deepest = min(s.max_anchor_size or predicates, predicates, longest)
    candidates = beam = 1  # size 0: the empty rule
    for size in range(deepest + 1):
        if size:
            candidates = min(beam * (predicates - size + 1), math.comb(predicates, size))
        beam = min(s.beam_size, candidates)
        _select_cost(s, candidates, beam, tally)
        _validate_cost(s, beam, tally)
    finish = Tally(tally.max_batch_rows)
    # every probe is judged in up to len(_PROBE_STAGES) looks, one call each for all bounds,
    # a look topping a probe up by at most half its samples; a walk draws a bounded number
    first, steps = _first_look(s), refine_steps(values + 1)  # and the instance value
    calls = len(_PROBE_STAGES) * steps
    per_call = Tally(tally.max_batch_rows).call(deepest * first * _PROBE_STAGES[-1] // 2)
    finish.model_calls += calls * per_call.model_calls
    finish.rows += deepest * min(_WALK_SAMPLES * s.max_samples, first * _PROBE_STAGES[-1] * steps)
    _validate_cost(s, 1, finish)
    for length in range(deepest, 1, -1):
        finish.call(length * s.batch_size)
        _validate_cost(s, min(s.beam_size, length), finish)
    last = Tally(tally.max_batch_rows)
    _validate_cost(s, beam, last)
    tally.model_calls += max(finish.model_calls, last.model_calls)
    tally.rows += max(finish.rows, last.rows)


def refine_steps(values: int) -> int:
    """The most steps ``AnchorSearch._refine`` takes over at most ``values`` distinct values
    beyond a bound: galloping, then bisecting the last gap."""
    return 2 * math.ceil(math.log2(values + 2)) + 1


def _select_cost(s: SearchSettings, candidates: int, top: int, tally: Tally) -> None:
    """``AnchorSearch._select`` of ``candidates`` down to ``top``: one call per halving."""
    alive, size = candidates, s.init_samples
    while True:
        tally.call(alive * size)
        if alive <= top:
            return
        alive, size = max(top, alive // 2), size * 2
        if alive == top and top > 1:
            return


def _validate_cost(s: SearchSettings, rules: int, tally: Tally) -> None:
    """``AnchorSearch._validate`` of ``rules`` rules that all stay open to ``max_samples``."""
    drawn, size = 0, min(s.batch_size, s.max_samples)
    while rules:
        tally.call(rules * size)
        drawn += size
        if drawn >= s.max_samples:
            return
        size = min(2 * size, s.max_samples - drawn)


# --- confidence bounds --------------------------------------------------------------------


def clopper_pearson(k: int, n: int, confidence: float) -> tuple[float, float]:
    """Exact one-sided bounds (each at ``confidence``) of a proportion ``k / n``."""
    if n == 0:
        return 0.0, 1.0
    alpha = 1 - confidence
    # betaincinv(a, b, q) is the beta distribution's quantile, scipy.stats' beta.ppf
    lower = 0.0 if k == 0 else float(betaincinv(k, n - k + 1, alpha))
    upper = 1.0 if k == n else float(betaincinv(k + 1, n - k, 1 - alpha))
    return lower, upper


def _kl_bernoulli(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    q = np.clip(q, 1e-12, 1 - 1e-12)
    return np.asarray(p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q)))


def kl_upper(p: np.ndarray, level: np.ndarray, iterations: int = 17) -> np.ndarray:
    """The largest q >= p with KL(p, q) <= level (bisection), as in KL-LUCB: an upper
    confidence bound of a proportion ``p`` for ``level = log(1/delta) / n``."""
    low, high = p.copy(), np.minimum(p + np.sqrt(level / 2), 1.0)
    for _ in range(iterations):
        mid = (low + high) / 2
        above = _kl_bernoulli(p, mid) > level
        high = np.where(above, mid, high)
        low = np.where(above, low, mid)
    return np.asarray(high)
