"""The black-box model as the explainers see it, and the counting of what it costs.

The library never calls a URL: it receives ``predict``, a function from wire rows (lists in
schema order) to scores, and says what kind of scores they are. A predict function that
splits batches or retries can say what a call really cost through ``BlackBox.usage``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

import numpy as np

from explainers.budget import Budget
from explainers.errors import ExplainerError, ModelOutputError
from explainers.explanation import Cost, Prediction
from explainers.schema import FeatureSchema

PredictFn = Callable[[list[list[Any]]], np.ndarray]
#: the 64-bit FNV prime, which spreads a row's words over its digest
_PRIME = np.uint64(0x100000001B3)


class Usage(Protocol):
    """What a predict function has sent so far: ``calls`` requests carrying ``rows`` rows."""

    @property
    def calls(self) -> int: ...

    @property
    def rows(self) -> int: ...


class OutputKind(StrEnum):
    probabilities = "probabilities"  # (n, n_classes) floats
    labels = "labels"  # (n,) class labels
    regression = "regression"  # (n,) floats


@dataclass(frozen=True)
class BlackBox:
    """A model known only by what it answers.

    ``predict(rows) -> scores``: rows are wire values in schema order; scores are (n, k)
    probabilities, (n,) labels or (n,) regression values, as ``output`` says. For classifiers
    ``class_names`` gives the classes in score-column order (required for ``labels``).
    Whatever ``predict`` raises reaches the caller of ``explain`` unchanged.

    ``usage() -> Usage``, when given, reads a cumulative count of the requests (and rows)
    ``predict`` has made *on behalf of the calling thread*: an explanation's cost is the
    change of that count over its predict calls, so a batch split into chunks, or retried,
    counts every request. The count must be per calling thread (or per process when a
    process runs one explanation at a time): a count shared by threads that explain at
    the same time would mix their costs. Without ``usage`` each call is one request.
    """

    predict: PredictFn
    output: OutputKind = OutputKind.probabilities
    class_names: list[str] | None = None
    usage: Callable[[], Usage] | None = None

    def __post_init__(self) -> None:
        if self.output is OutputKind.labels and not self.class_names:
            raise ExplainerError("a model that answers labels needs class_names")

    @property
    def is_classifier(self) -> bool:
        return self.output is not OutputKind.regression


@dataclass
class CountingModel:
    """One explanation's view of the black box: the explainer space in, counted calls out.

    ``calls`` and ``rows`` are the requests and rows that reached the model (see
    ``BlackBox.usage``); the change of the usage count is read in the thread that calls
    ``predict``, so explainers may call the model from several threads.

    ``budget``, when given, is checked before every call that sends rows: a call whose rows
    would pass ``max_rows``, or any call once ``max_model_calls`` requests were counted,
    raises ``BudgetExceededError`` instead of reaching the model. Calls in flight in other
    threads count as spent. One call may still make several requests (chunks, retries), so
    ``max_model_calls`` can be passed by the requests of the last call allowed.
    """

    box: BlackBox
    schema: FeatureSchema
    budget: Budget | None = None
    calls: int = 0
    rows: int = 0
    model_seconds: float = 0.0
    started: float = field(default_factory=time.perf_counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _seen: dict[bytes, Any] = field(default_factory=dict)
    _in_flight: list[int] = field(default_factory=lambda: [0, 0])  # calls, rows

    def raw(self, matrix: np.ndarray) -> np.ndarray:
        """Scores exactly as the model answers them, for rows (n, d) in the explainer space.

        Each distinct row is sent once per explanation: rows answered before are answered
        from memory, and a call whose rows are all known makes no request. Categorical
        columns must hold whole category codes: an explainer that would send a fractional
        code (an interpolated category) raises ``ExplainerError`` instead.
        """
        matrix = np.atleast_2d(np.asarray(matrix, dtype=float))
        if len(matrix) == 0:
            return self._send([])
        first, inverse = _distinct_rows(matrix)
        codes = matrix[first][:, self._categorical]  # each distinct row checked once
        if codes.size and not np.allclose(codes, np.round(codes), rtol=0, atol=1e-9):
            raise ExplainerError("an explainer produced a fractional category code")
        keys = [matrix[i].tobytes() for i in first]
        new = [(key, i) for key, i in zip(keys, first, strict=True) if key not in self._seen]
        if new:
            scores = self._send(self.schema.to_wire(matrix[[i for _, i in new]]))
            self._seen.update(zip((key for key, _ in new), scores, strict=True))
        distinct = np.stack([np.asarray(self._seen[key]) for key in keys])
        return np.asarray(distinct[inverse])

    def raw_rows(self, rows: Sequence[Sequence[Any]]) -> np.ndarray:
        """Scores exactly as the model answers them, for rows of wire values (a text
        model's rows, which have no explainer space). Each distinct row is sent once per
        explanation, as ``raw`` does."""
        if not rows:
            return np.asarray([])
        keys = [repr(tuple(row)).encode() for row in rows]
        first = {key: i for i, key in reversed(list(enumerate(keys)))}
        new = [key for key in first if key not in self._seen]
        if new:
            scores = self._send([list(rows[first[key]]) for key in new])
            self._seen.update(zip(new, scores, strict=True))
        return np.stack([np.asarray(self._seen[key]) for key in keys])

    def _send(self, rows: list[list[Any]]) -> np.ndarray:
        """Scores for rows of wire values in schema order, counting the requests it took."""
        self._reserve(len(rows))
        usage = self.box.usage
        before = usage() if usage else None
        began = time.perf_counter()
        try:
            return np.asarray(self.box.predict(rows))
        finally:
            seconds = time.perf_counter() - began
            after = usage() if usage else None
            with self._lock:
                if rows:
                    self._in_flight[0] -= 1
                    self._in_flight[1] -= len(rows)
                if before is None or after is None:
                    self.calls += 1
                    self.rows += len(rows)
                else:
                    self.calls += after.calls - before.calls
                    self.rows += after.rows - before.rows
                self.model_seconds += seconds

    def _reserve(self, rows: int) -> None:
        """Check the budget for a call of ``rows`` rows and count it as in flight."""
        if not rows:
            return  # no rows, no request
        with self._lock:
            calls, sent = self.calls + self._in_flight[0], self.rows + self._in_flight[1]
            if self.budget is not None:
                self.budget.check_call(calls, sent, rows)
            self._in_flight[0] += 1
            self._in_flight[1] += rows

    @property
    def _categorical(self) -> list[int]:
        return [i for i, f in enumerate(self.schema.features) if f.is_categorical]

    def to_proba(self, scores: np.ndarray) -> np.ndarray:
        """Class probabilities (n, k) from raw scores; a label becomes a one-hot row."""
        if self.box.output is OutputKind.probabilities:
            return np.asarray(scores, dtype=float)
        if self.box.output is OutputKind.labels:
            return np.asarray(np.eye(len(self.class_names))[self.label_index(scores)])
        raise ExplainerError("this explainer needs a classifier; the model is a regression")

    def to_classes(self, scores: np.ndarray) -> np.ndarray:
        """Predicted class index (n,) from raw scores."""
        if self.box.output is OutputKind.labels:
            return self.label_index(scores)
        return np.asarray(np.argmax(self.to_proba(scores), axis=1))

    def proba(self, matrix: np.ndarray) -> np.ndarray:
        """Class probabilities (n, k) for rows in the explainer space."""
        return self.to_proba(self.raw(matrix))

    def classes(self, matrix: np.ndarray) -> np.ndarray:
        """Predicted class index (n,) for rows in the explainer space."""
        return self.to_classes(self.raw(matrix))

    def values(self, matrix: np.ndarray) -> np.ndarray:
        """Regression output (n,)."""
        if self.box.output is not OutputKind.regression:
            raise ExplainerError("values() is for regression models")
        return self.raw(matrix).astype(float).reshape(-1)

    @property
    def class_names(self) -> list[str]:
        return self.box.class_names or []

    def label_index(self, labels: Sequence[Any] | np.ndarray) -> np.ndarray:
        names = self.class_names
        try:
            return np.array([names.index(str(label)) for label in labels], dtype=int)
        except ValueError:
            raise ModelOutputError(
                f"the model answered a label not in class_names {names}", list(labels)[:5]
            ) from None

    def class_name(self, index: int) -> str:
        return self.class_names[index] if index < len(self.class_names) else str(index)

    def predictions(self, scores: np.ndarray) -> list[Prediction]:
        """One Prediction per row of raw scores."""
        if self.box.output is OutputKind.regression:
            return [Prediction(value=float(v)) for v in np.asarray(scores, dtype=float).reshape(-1)]
        classes = self.to_classes(scores)
        if self.box.output is OutputKind.labels:
            return [Prediction(label=self.class_name(int(i)), class_index=int(i)) for i in classes]
        proba = self.to_proba(scores)
        names = self.class_names or [str(i) for i in range(proba.shape[1])]
        return [
            Prediction(
                label=names[int(i)],
                class_index=int(i),
                probabilities={n: float(p) for n, p in zip(names, row, strict=True)},
            )
            for i, row in zip(classes, proba, strict=True)
        ]

    def predict_one(self, x: np.ndarray) -> Prediction:
        """The model's prediction for one instance (a counted call)."""
        return self.predictions(self.raw(x))[0]

    def cost(self) -> Cost:
        return Cost(
            model_calls=self.calls,
            rows=self.rows,
            model_seconds=round(self.model_seconds, 6),
            seconds=round(time.perf_counter() - self.started, 6),
        )


def _distinct_rows(matrix: np.ndarray) -> tuple[list[int], np.ndarray]:
    """``(first, inverse)``: the index of each distinct row's first occurrence, in order of
    appearance, and for every row the position of its distinct row in ``first``. Rows are
    the same when their bytes are (``-0.0`` is not ``0.0``).

    Rows are grouped by a 64-bit digest (sorting integers, not rows), then checked against
    their group's first row; should two different rows share a digest, they are grouped
    by their bytes instead."""
    words = np.ascontiguousarray(matrix, dtype=float).view(np.uint64)
    _, first, inverse = np.unique(_digest(words), return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    first, inverse = first[order], rank[inverse.reshape(-1)]
    if not np.array_equal(words, words[first][inverse]):
        return _distinct_by_bytes(matrix)
    return [int(i) for i in first], inverse


def _digest(words: np.ndarray) -> np.ndarray:
    """One 64-bit number per row of ``words`` (n, d): equal rows, equal numbers."""
    digest = np.zeros(len(words), dtype=np.uint64)
    for column in words.T:
        digest = (digest ^ column) * _PRIME  # wraps around, as it should
        digest ^= digest >> np.uint64(29)
    return digest


def _distinct_by_bytes(matrix: np.ndarray) -> tuple[list[int], np.ndarray]:
    """``_distinct_rows`` by each row's bytes, one row at a time."""
    position: dict[bytes, int] = {}
    first: list[int] = []
    inverse = np.empty(len(matrix), dtype=np.intp)
    for i, row in enumerate(matrix):
        key = row.tobytes()
        if key not in position:
            position[key] = len(first)
            first.append(i)
        inverse[i] = position[key]
    return first, inverse
