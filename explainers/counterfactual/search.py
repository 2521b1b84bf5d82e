"""The search: sparse first, batched, then refined towards the instance.

Level 1 tries every value of every unit alone (``Candidates``), in one model call. When
those give fewer answers than asked for, level 2 combines two units (the ``beam`` units whose
values alone came closest, leaving out those that reach the outcome alone), a few values
each, in one call; level 3 three. Rows farther from the reference data than the plausibility
threshold are never sent.

The answers of a level are picked for diversity: the rows that reach the outcome are grouped
by the units they change and the side each numeric feature moves to; groups take turns, the
nearest first, so that different features come before other values of the same one. The
first answer of each group is then refined: each numeric feature it changes, in turn, moves
back to the value nearest the instance's that still reaches the outcome (``Candidates.lattice``),
found by a search that tries ``REFINE_POINTS`` values per answer in one call per step for
all answers at once. The other answers of a group keep the values that were tried.

Every answer is a row the model was asked about and answered with the outcome. The search
draws nothing at random: the same instance, parameters and model give the same answers.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from explainers.counterfactual.candidates import Candidates, Unit
from explainers.counterfactual.target import Target
from explainers.errors import BudgetExceededError
from explainers.model import CountingModel

#: Values tried per answer in each step of the refinement.
REFINE_POINTS = 3
#: Values per unit when two, and three, units are combined.
COMBINED_VALUES = {2: 6, 3: 4}


@dataclass(frozen=True)
class Answer:
    """A row (explainer space) that reaches the outcome, and the units it changes."""

    row: np.ndarray
    units: tuple[int, ...]
    group: tuple[tuple[int, int], ...]
    distance: float


@dataclass
class Outcome:
    """What the search found and did."""

    answers: list[Answer] = field(default_factory=list)
    units: list[Unit] = field(default_factory=list)
    #: rows the search asked the model about (before the cache of the explanation)
    tried: int = 0
    #: rows left out as farther from the reference data than the plausibility threshold
    implausible: int = 0
    levels: int = 0
    budget_stopped: bool = False


@dataclass
class _Track:
    """One answer's numeric feature being moved back towards the instance."""

    answer: int
    column: int
    lattice: np.ndarray
    low: int = -1  # the instance's value: known not to reach
    high: int = 0  # known to reach

    def points(self) -> list[int]:
        gap = self.high - self.low
        if gap - 1 <= REFINE_POINTS:
            return list(range(self.low + 1, self.high))
        return sorted(
            {self.low + (i * gap) // (REFINE_POINTS + 1) for i in range(1, 1 + REFINE_POINTS)}
        )


def _spread_nearest(n: int, k: int) -> list[int]:
    """At most ``k`` of ``0..n-1``, evenly spread, the nearest (0) first."""
    if n <= k:
        return list(range(n))
    return sorted({round(i * (n - 1) / max(k - 1, 1)) for i in range(k)})


class Search:
    """One search for one instance ``x``.

    ``plausible(rows) -> (n,) bool`` says which rows may be sent; ``distance(rows) -> (n,)``
    their distance to the instance."""

    def __init__(
        self,
        candidates: Candidates,
        x: np.ndarray,
        target: Target,
        model: CountingModel,
        plausible: Callable[[np.ndarray], np.ndarray],
        distance: Callable[[np.ndarray], np.ndarray],
    ) -> None:
        self.candidates = candidates
        self.x = x
        self.target = target
        self.model = model
        self.plausible = plausible
        self.distance = distance
        self.outcome = Outcome()

    def run(
        self, varied: set[int], total: int, *, values: int, max_features: int, beam: int
    ) -> Outcome:
        """Up to ``total`` answers changing at most ``max_features`` units of ``varied``."""
        units = self.candidates.units(self.x, varied, values)
        self.outcome.units = units
        progress: list[np.ndarray] = []
        solved: list[set[int]] = []  # unit sets that reach the outcome
        try:
            for level in range(1, min(max_features, len(units)) + 1):
                combos: list[tuple[int, ...]]
                if level == 1:
                    combos = [(i,) for i in range(len(units))]
                    choices: list[list[np.ndarray]] = [[np.arange(len(u.options))] for u in units]
                else:
                    eligible = [i for i in range(len(units)) if {i} not in solved]
                    ranked = sorted(eligible, key=lambda i: -float(progress[i].max()))[:beam]
                    combos = [
                        c
                        for c in itertools.combinations(sorted(ranked), level)
                        if not any(s <= set(c) for s in solved)
                    ]
                    subsets = {
                        i: units[i].subset(COMBINED_VALUES[level], progress[i]) for i in ranked
                    }
                    choices = [[subsets[i] for i in c] for c in combos]
                if not combos:
                    break
                self.outcome.levels = level
                found = self._level(units, combos, choices, progress if level > 1 else None)
                if level == 1:
                    progress = found[1]
                answers = found[0]
                solved.extend(set(a.units) for a in answers)
                picked = self._pick(answers, total - len(self.outcome.answers))
                self.outcome.answers.extend(self._refine(picked, total - len(self.outcome.answers)))
                if len(self.outcome.answers) >= total:
                    break
        except BudgetExceededError:
            if not self.outcome.answers:
                raise
            self.outcome.budget_stopped = True
        return self.outcome

    # --- one level ----------------------------------------------------------------------

    def _level(
        self,
        units: list[Unit],
        combos: list[tuple[int, ...]],
        choices: list[list[np.ndarray]],
        progress: list[np.ndarray] | None,
    ) -> tuple[list[Answer], list[np.ndarray]]:
        """Every combination of the chosen values of each combo of units, in one call:
        (the answers, per unit of level 1 the progress of each of its options)."""
        rows, owners = [], []
        for c, (combo, chosen) in enumerate(zip(combos, choices, strict=True)):
            for picks in itertools.product(*chosen):
                row = self.x.copy()
                for i, k in zip(combo, picks, strict=True):
                    row[list(units[i].columns)] = units[i].options[k]
                rows.append(row)
                owners.append((c, tuple(int(k) for k in picks)))
        matrix = np.array(rows).reshape(len(rows), len(self.x))
        keep = self.plausible(matrix) if len(matrix) else np.zeros(0, bool)
        self.outcome.implausible += int((~keep).sum())
        reach = np.zeros(len(matrix), bool)
        score = np.full(len(matrix), -np.inf)
        if keep.any():
            scores = self.model.raw(matrix[keep])
            self.outcome.tried += int(keep.sum())
            reach[keep] = self.target.reaches(scores, self.model)
            score[keep] = self.target.progress(scores, self.model)
        level_progress = (
            [np.full(len(u.options), -np.inf) for u in units] if progress is None else progress
        )
        answers = []
        distances = self.distance(matrix[reach]) if reach.any() else np.empty(0)
        for n, index in enumerate(np.flatnonzero(reach)):
            c, picks = owners[index]
            combo = combos[c]
            group = tuple((i, int(units[i].sides[k])) for i, k in zip(combo, picks, strict=True))
            answers.append(Answer(matrix[index], combo, group, float(distances[n])))
        if progress is None:
            for (c, picks), s in zip(owners, score, strict=True):
                level_progress[combos[c][0]][picks[0]] = s
        return answers, level_progress

    @staticmethod
    def _pick(answers: list[Answer], wanted: int) -> list[tuple[Answer, bool]]:
        """Up to ``wanted`` answers, groups taking turns (nearest group first, nearest
        answer first in each); (answer, whether it is its group's first)."""
        groups: dict[tuple[tuple[int, int], ...], list[Answer]] = {}
        for answer in sorted(answers, key=lambda a: a.distance):
            groups.setdefault(answer.group, []).append(answer)
        picked: list[tuple[Answer, bool]] = []
        for turn in itertools.count():
            round_ = [g[turn] for g in groups.values() if turn < len(g)]
            if not round_ or len(picked) >= wanted:
                break
            picked.extend((a, turn == 0) for a in round_[: wanted - len(picked)])
        return picked

    # --- refinement ---------------------------------------------------------------------

    def _refine(self, picked: list[tuple[Answer, bool]], wanted: int) -> list[Answer]:
        """The picked answers, each group's first moved towards the instance feature by
        feature; then, when fewer than ``wanted``, more of the values between a refined one
        and the one found (``_more``). A budget that stops it leaves every answer at a value
        that reaches."""
        rows = [a.row.copy() for a, _ in picked]
        units = self.outcome.units
        last: dict[int, _Track] = {}
        extra: list[Answer] = []
        try:
            width = max((len(a.units) for a, _ in picked), default=0)
            for position in range(width):
                tracks = []
                for n, (answer, first) in enumerate(picked):
                    if not first or position >= len(answer.units):
                        continue
                    unit = units[answer.units[position]]
                    if not unit.numeric:
                        continue
                    j = unit.columns[0]
                    lattice = self.candidates.lattice(j, float(self.x[j]), float(rows[n][j]))
                    tracks.append(_Track(n, j, lattice, high=len(lattice) - 1))
                self._bisect(tracks, rows)
                last.update({t.answer: t for t in tracks})
            if len(picked) < wanted:
                extra = self._more(picked, rows, list(last.values()), wanted - len(picked))
        except BudgetExceededError:
            self.outcome.budget_stopped = True
        return [
            Answer(row, a.units, a.group, float(self.distance(row[None, :])[0]))
            for row, (a, _) in zip(rows, picked, strict=True)
        ] + extra

    def _more(
        self,
        picked: list[tuple[Answer, bool]],
        rows: list[np.ndarray],
        tracks: list[_Track],
        n: int,
    ) -> list[Answer]:
        """Up to ``n`` answers more, in one call: values of a refined feature beyond the
        refined one, up to the one found, spread; tracks take turns."""
        offers = []
        for t in tracks:
            beyond = np.arange(t.high + 1, len(t.lattice))
            offers.append([beyond[k] for k in _spread_nearest(len(beyond), n)])
        trials: list[np.ndarray] = []
        owners: list[Answer] = []
        for turn in range(n):
            for t, offer in zip(tracks, offers, strict=True):
                if turn < len(offer) and len(trials) < n:
                    row = rows[t.answer].copy()
                    row[t.column] = t.lattice[offer[turn]]
                    trials.append(row)
                    owners.append(picked[t.answer][0])
        if not trials:
            return []
        matrix = np.array(trials)
        keep = self.plausible(matrix)
        reach = np.zeros(len(matrix), bool)
        if keep.any():
            reach[keep] = self.target.reaches(self.model.raw(matrix[keep]), self.model)
            self.outcome.tried += int(keep.sum())
        distances = self.distance(matrix)
        return [
            Answer(row, a.units, a.group, float(distance))
            for row, a, ok, distance in zip(matrix, owners, reach, distances, strict=True)
            if ok
        ]

    def _bisect(self, tracks: list[_Track], rows: list[np.ndarray]) -> None:
        """Move each track's column to the nearest lattice value that reaches, one model
        call per step for every track; ``rows`` follow each step."""
        while True:
            trials, owners = [], []
            for t in tracks:
                for point in t.points():
                    row = rows[t.answer].copy()
                    row[t.column] = t.lattice[point]
                    trials.append(row)
                    owners.append((t, point))
            if not trials:
                return
            matrix = np.array(trials)
            keep = self.plausible(matrix)
            reach = np.zeros(len(matrix), bool)
            if keep.any():
                reach[keep] = self.target.reaches(self.model.raw(matrix[keep]), self.model)
                self.outcome.tried += int(keep.sum())
            for t in tracks:
                tried = [(p, r) for (owner, p), r in zip(owners, reach, strict=True) if owner is t]
                if not tried:
                    continue
                reached = [p for p, r in tried if r]
                t.high = min(reached, default=t.high)
                failed = [p for p, r in tried if not r and p < t.high]
                t.low = max(failed, default=t.low)
                rows[t.answer][t.column] = t.lattice[t.high]
            tracks = [t for t in tracks if t.high - t.low > 1]
