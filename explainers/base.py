"""The explainer interface, the registry of methods, and what every explanation shares.

An explainer is built once, with the schema, the reference data, the black box and its
parameters; that is when it fits (discretisers, backgrounds) and it never calls the model
then. ``explain(instance)`` then answers one ``Explanation`` per call.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import json
import random
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, entry_points, version
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from explainers.budget import Budget, CostEstimate
from explainers.errors import ExplainerError, ParameterError, SchemaError, UnknownMethodError
from explainers.explanation import (
    Explanation,
    Fidelity,
    Prediction,
    Provenance,
    ReferenceSource,
    Result,
)
from explainers.model import BlackBox, CountingModel, OutputKind
from explainers.schema import FeatureSchema
from explainers.text_values import read_text, takes_bool
from explainers.wire import native

ENTRY_POINT_GROUP = "explainers"
BUILTIN: dict[str, str] = {
    "anchors": "explainers.anchors.explainer:AnchorsExplainer",
    "shap": "explainers.shap.explainer:ShapExplainer",
    "counterfactual": "explainers.counterfactual.explainer:CounterfactualExplainer",
    "importance": "explainers.importance.explainer:ImportanceExplainer",
}
VERSIONED_PACKAGES = ("shap", "eli5", "scikit-learn", "numpy", "pandas")

# alibi and shap draw from numpy's and Python's global random generators. An
# explanation is deterministic for its seed only if nothing else draws meanwhile, so the
# sections that draw run one at a time in a process. The service runs each explanation in
# a worker process that runs one at a time, so there the lock is never contended; it still
# guards callers that share one process between threads.
_RNG_LOCK = threading.RLock()


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Hold the process-wide RNG lock and seed numpy's and Python's global generators.

    Reseeding at the start of each explanation makes its answer depend on its seed only, not
    on what ran before it in the process."""
    with _RNG_LOCK:
        np.random.seed(seed)
        random.seed(seed)
        yield


class ExplainerParams(BaseModel):
    """Parameters common to every method. Subclasses add their own.

    A value given as text (a query string, the command line) is read by its field's type
    (``explainers.text_values``); a number given to a text field is its text (YAML's
    ``desired_class: 1`` is the class ``"1"``)."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)
    seed: int = Field(0, ge=0, le=2**32 - 1, description="the same seed gives the same answer")

    @model_validator(mode="before")
    @classmethod
    def _read_text(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        fields = cls.model_fields
        return {key: _read_value(fields.get(key), value) for key, value in data.items()}


def _read_value(field: Any, value: Any) -> Any:
    """Text read by the field's type; true/false for a field that takes no boolean kept as
    its JSON text, so that the field's own validation refuses it by name (pydantic would
    read ``true`` as the number 1)."""
    if field is None:
        return value
    read = read_text(field.annotation, value) if isinstance(value, str) else value
    if isinstance(read, bool) and not takes_bool(field.annotation):
        return json.dumps(read)
    return read


class Explainer(ABC):
    """One explanation method. Subclasses set ``method`` and ``Params`` and implement ``_explain``.

    Parameters
    ----------
    schema
        The features, in the order the model takes them.
    reference
        Reference rows (wire values), with the columns of ``schema`` and, optionally, ``target``.
    model
        The black box: ``predict(rows) -> scores``.
    params
        Values for ``Params``; fields in ``fit_params`` are fixed here, the others are defaults
        that ``explain`` may override per call.
    target
        The label column of ``reference``, for methods that need labels.
    reference_source
        Where ``reference`` came from, recorded in every explanation's provenance.
    """

    method: ClassVar[str]
    Params: ClassVar[type[ExplainerParams]] = ExplainerParams
    #: Parameters used when fitting; they cannot change per call.
    fit_params: ClassVar[frozenset[str]] = frozenset()
    #: Whether ``explain`` takes one instance (the built-ins in ``LOCAL_METHODS``) or
    #: explains the model as a whole (False).
    local: ClassVar[bool] = True
    #: Methods that explain class predictions only, not a regression's values.
    classifiers_only: ClassVar[bool] = False
    #: Methods that need the labels of the reference data (``target``).
    needs_target: ClassVar[bool] = False

    def __init__(
        self,
        schema: FeatureSchema,
        reference: pd.DataFrame,
        model: BlackBox,
        params: Mapping[str, Any] | ExplainerParams | None = None,
        *,
        target: str | None = None,
        reference_source: ReferenceSource | None = None,
    ) -> None:
        self.check_model(model.output, target)
        self.reference_source = reference_source
        self.schema = schema
        self.model = model
        self.target = target
        self.params = self.validate_params(params)
        missing = [n for n in schema.names if n not in reference.columns]
        if missing:
            raise SchemaError(f"the reference data lacks feature(s) {missing}", feature=missing[0])
        if target is not None and target not in reference.columns:
            raise SchemaError(f"the reference data has no target column {target!r}")
        if reference.empty:
            raise SchemaError("the reference data is empty")
        self.reference = reference.reset_index(drop=True)
        self.reference_matrix = schema.to_numeric(self.reference[schema.names])
        self.reference_fingerprint = reference_fingerprint(self.reference)
        self.fit()

    @classmethod
    def check_model(cls, output: OutputKind, target: str | None) -> None:
        """Raises ``ExplainerError`` when the method cannot explain a model that answers
        ``output``, or needs the labels of the reference data and ``target`` is None. Needs
        no data, so a service can refuse such a configuration before it starts."""
        if cls.classifiers_only and output is OutputKind.regression:
            raise ExplainerError(
                f"the {cls.method} method explains classifiers; the model is a regression"
            )
        if cls.needs_target and target is None:
            raise ExplainerError(
                f"the {cls.method} method needs labelled reference data (data.target)"
            )

    # --- parameters ---------------------------------------------------------------------

    @classmethod
    def validate_params(cls, params: Mapping[str, Any] | ExplainerParams | None) -> Any:
        if isinstance(params, cls.Params):
            return params
        try:
            return cls.Params.model_validate(dict(params or {}))
        except ValidationError as exc:
            raise ParameterError.from_validation(cls.method, exc) from None

    @classmethod
    def resolve_params(
        cls,
        configured: Mapping[str, Any] | ExplainerParams | None,
        overrides: Mapping[str, Any] | None,
    ) -> Any:
        """The ``configured`` parameters with per-call ``overrides`` applied and validated.

        Needs no fitted explainer, so a caller can check a request before any engine runs.
        Raises ``ParameterError`` for a bad value, or for an override of a ``fit_params`` field.
        """
        base = cls.validate_params(configured)
        if not overrides:
            return base
        resolved = cls.validate_params({**base.model_dump(), **overrides})
        # compared once validated: [25, 50] from JSON is the configured (25, 50)
        fixed = sorted(set(overrides) & cls.fit_params)
        changed = [k for k in fixed if getattr(resolved, k) != getattr(base, k)]
        if changed:
            raise ParameterError(
                cls.method,
                changed[0],
                f"{changed[0]!r} is fixed when the explainer is built; configure it instead",
            )
        return resolved

    @classmethod
    def estimate(
        cls,
        params: Any,
        schema: FeatureSchema,
        *,
        reference_rows: int,
        max_batch_rows: int | None = None,
    ) -> CostEstimate | None:
        """What one explanation with the resolved ``params`` may cost, from the parameters,
        the schema and the number of reference rows alone (no fitting, no model call);
        ``max_batch_rows``: the predict function sends larger calls in chunks of that many
        rows, one request each. None: the method cannot say (the default, e.g. plugins)."""
        return None

    # --- the verb -----------------------------------------------------------------------

    def fit(self) -> None:  # noqa: B027 - optional hook
        """Fit what the method needs from the reference data. Must not call the model."""

    def explain(
        self,
        instance: Mapping[str, Any] | Sequence[Any] | None,
        params: Mapping[str, Any] | None = None,
        budget: Budget | None = None,
    ) -> Explanation:
        """Explain the model's prediction for ``instance`` (a row or feature -> value).

        Raises ``SchemaError`` when the instance does not fit the schema, ``ParameterError``
        for bad parameters, ``BudgetExceededError`` before a model call that would pass
        ``budget``; whatever the model's predict function raises passes unchanged.
        """
        resolved = self.resolve_params(self.params, params)
        counting = CountingModel(self.model, self.schema, budget)
        row: list[Any] | None = None
        x = None
        if self.local:
            if instance is None:
                raise ExplainerError(f"{self.method} explains one instance; none was given")
            row = (
                self.schema.row_from_record(instance)
                if isinstance(instance, Mapping)
                else list(instance)
            )
            x = self.schema.to_numeric([row])[0]
        with seeded(resolved.seed):
            prediction, result, fidelity = self._explain(x, resolved, counting)
        return Explanation(
            method=self.method,
            instance=None
            if row is None
            else {name: native(v) for name, v in zip(self.schema.names, row, strict=True)},
            prediction=prediction,
            result=result,
            fidelity=fidelity,
            cost=counting.cost(),
            provenance=Provenance(
                explainer=f"{type(self).__module__}.{type(self).__qualname__}",
                params=resolved.model_dump(mode="json"),
                seed=resolved.seed,
                versions=package_versions(),
                reference_fingerprint=self.reference_fingerprint,
                reference_rows=len(self.reference),
                reference_source=self.reference_source,
            ),
        )

    @abstractmethod
    def _explain(
        self, x: np.ndarray | None, params: Any, model: CountingModel
    ) -> tuple[Prediction | None, Result, Fidelity]:
        """Do the work for one instance ``x`` (d,) in the explainer space."""


def reference_fingerprint(reference: pd.DataFrame) -> str:
    """The sha256 of the reference rows' contents (what ``Provenance`` records)."""
    hashed = pd.util.hash_pandas_object(reference.reset_index(drop=True), index=False)
    return hashlib.sha256(hashed.values.tobytes()).hexdigest()


@functools.cache
def _versions() -> tuple[tuple[str, str], ...]:
    found = []
    for package in (*VERSIONED_PACKAGES, "explainer-service"):
        try:
            found.append((package, version(package)))
        except PackageNotFoundError:
            continue
    return tuple(found)


def package_versions() -> dict[str, str]:
    """Versions of the packages that shape an explanation (read once per process)."""
    return dict(_versions())


# --- registry ---------------------------------------------------------------------------


def available() -> dict[str, str]:
    """Method name -> ``module:Class``: the built-ins, then plugins from entry points.

    A plugin cannot replace a built-in method.
    """
    methods = dict(BUILTIN)
    for point in entry_points(group=ENTRY_POINT_GROUP):
        methods.setdefault(point.name, point.value)
    return methods


def get_explainer_class(method: str) -> type[Explainer]:
    """The explainer class for ``method``, imported on first use."""
    methods = available()
    if method not in methods:
        raise UnknownMethodError(
            method, f"unknown method {method!r}; available: {', '.join(methods)}"
        )
    module_name, _, class_name = methods[method].partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(cls, type) and issubclass(cls, Explainer)):
        raise ExplainerError(f"{methods[method]} is not an Explainer")
    return cls
