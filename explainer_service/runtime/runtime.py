"""What the configuration builds, in two parts.

``Runtime`` is what the service process needs: reference data, schema, payload decoding,
the configured explainer classes and their parameters, and a ``RemoteModel`` for the
readiness check. ``FittedRuntime`` adds the fitted explainers and runs explanations; each
worker process builds one (``explainer_service.workers``), and so does the ``explain``
command. Nothing here calls the model while building, so the service can start while the
model is down.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pandas as pd
from threadpoolctl import threadpool_limits

from explainer_service.errors import CodecError, ConfigError, PayloadError
from explainer_service.model_client import RemoteModel
from explainer_service.model_client.codecs import RecordsCodec
from explainer_service.runtime.category_labels import check_category_labels
from explainer_service.runtime.fairness import FairnessCheck
from explainer_service.runtime.features import read_reference, select_features
from explainer_service.runtime.window import LoggedWindow, check_window, file_source, read_window
from explainer_service.settings import Settings
from explainer_service.store import cache_key
from explainers import (
    SCHEMA_VERSION,
    BlackBox,
    Budget,
    CostEstimate,
    Explainer,
    ExplainerError,
    Explanation,
    FeatureSchema,
    OutputKind,
    SchemaError,
    UnknownMethodError,
    get_explainer_class,
    infer_class_names,
)
from explainers.base import package_versions, reference_fingerprint
from explainers.explanation import ReferenceSource
from explainers.text import get_text_explainer_class


class Runtime:
    """One configured model as the service sees it; it never fits or runs an explainer."""

    def __init__(
        self,
        settings: Settings,
        *,
        model: RemoteModel | None = None,
        reference: pd.DataFrame | None = None,
        window: LoggedWindow | None = None,
        announce: bool = True,
        label: str | None = None,
    ) -> None:
        """The features are ``features.names`` as set, else every column of the reference
        data but the target: the service resolves them once (``features.resolve_features``)
        before it builds this, and its workers receive the settings it resolved.

        ``reference``: the rows of ``data.reference`` already read (a batch's workers on
        other machines, which cannot read the driver's file); read from it when None.
        ``window``: the logged inferences of ``data.window`` already read (``runtime.window``),
        so that every process fits on the same rows; read from the store when None and
        ``data.window.days`` is set. ``announce``: log what the window gave (one process
        of those that build a runtime on it). ``label``: which model this is when it is not
        the service's ``model`` (the candidate's ``settings.candidate_label``): the model
        client's errors name it."""
        self.settings = settings
        target = settings.data.target
        raw = reference if reference is not None else read_reference(settings)
        #: the rows of data.reference: the features (in the model's order) and the target
        self.reference = select_features(raw, settings.features.names, target)
        #: part of every explanation's cache key: new reference data, new explanations
        self.reference_fingerprint = reference_fingerprint(self.reference)
        self.reference_source = file_source(settings)
        #: the logged inferences of data.window as read (None: not configured)
        self.window = window if window is not None else read_window(settings)
        features = settings.features
        overrides = dict(features.overrides)
        for name in features.text:
            bounds = {"max_chars": features.max_text_chars, "max_tokens": features.max_text_tokens}
            overrides[name] = {**bounds, **overrides.get(name, {})}
        try:
            self.schema = FeatureSchema.infer(
                self.reference,
                target=target,
                categorical=features.categorical,
                immutable=features.immutable,
                overrides=overrides,
                labels=features.labels,
                links=features.links,
                missing=features.missing,
                text=features.text,
            )
        except (SchemaError, ValueError) as exc:
            raise ConfigError(f"features: {exc}") from None
        check_category_labels(self.schema, features.category_labels)
        #: the protected attributes' check; None: none are configured
        self.fairness: FairnessCheck | None = None
        if features.protected:
            if self.schema.text_feature is not None:
                raise ConfigError("features.protected: a text model has no attributes")
            self.fairness = FairnessCheck(settings, self.schema, self.reference)
        #: the reference rows of the methods that need no labels, from data.window, and
        #: their fingerprint; None: they use the rows of data.reference
        self.logged: pd.DataFrame | None = None
        self.logged_source: ReferenceSource | None = None
        self.logged_fingerprint: str | None = None
        if self.window is not None:
            checked = check_window(
                self.window,
                self.schema,
                settings,
                reference=self.reference[self.schema.names],
                announce=announce,
            )
            self.logged = checked.rows
            if checked.rows is None:
                self.reference_source = checked.source  # the file, and why not the window
            else:
                self.logged_source = checked.source
                self.logged_fingerprint = reference_fingerprint(checked.rows)
        #: the classes in the order of the model's answers; None for a regression, or for
        #: probabilities without class names or labelled reference data (named by column)
        self.class_names = self._class_names()
        self.model = model or RemoteModel(
            settings.model,
            self.schema.names,
            text=self.schema.text_feature is not None,
            label=label,
        )
        self.classes: dict[str, type[Explainer]] = {}
        self.params: dict[str, Any] = {}
        for method, params in settings.explainers.items():
            try:
                self.classes[method] = (
                    get_explainer_class(method)
                    if self.schema.text_feature is None
                    else get_text_explainer_class(method)
                )
                self.classes[method].check_model(settings.model.output, target)
                self.params[method] = self.classes[method].validate_params(params)
            except ExplainerError as exc:
                raise ConfigError(f"explainers.{method}: {exc}") from None
        limits = settings.service.budget
        self.budget = Budget(limits.max_model_calls, limits.max_rows)
        self._key_base = {
            "model": {
                "url": str(settings.model.url),
                "name": settings.model.name,
                "version": settings.model.version,
                "protocol": settings.model.protocol,
                "output": settings.model.output,
                "class_names": self.class_names,
            },
            "reference": self.reference_fingerprint,
            # display names change pages, not explanations; the features, not where from
            "features": settings.features.model_dump(
                mode="json", exclude={"labels", "source", "protected"}
            ),
            "schema_version": SCHEMA_VERSION,
            "versions": package_versions(),
        }
        if self.fairness is not None:  # explanations with a fairness block are others
            self._key_base["fairness"] = self.fairness.key

    @property
    def local_methods(self) -> list[str]:
        """The configured methods that explain one row (``Explainer.local``), in order."""
        return [method for method, cls in self.classes.items() if cls.local]

    def _class_names(self) -> list[str] | None:
        """``model.class_names``, else inferred from the labels of ``data.target`` in the
        model's order (``infer_class_names``). Raises ``ConfigError`` for a model that
        answers labels when neither says which."""
        model, target = self.settings.model, self.settings.data.target
        if model.output is OutputKind.regression:
            return None
        if model.class_names is None and target is None:
            if model.output is OutputKind.labels:
                raise ConfigError(
                    "model.class_names: a model that answers labels needs its class names, "
                    "or labelled reference data (data.target) to infer them from"
                )
            return None
        labels = self.reference[target] if target is not None else ()
        return infer_class_names(labels, model.class_names)

    def cache_key(self, method: str, resolved: dict[str, Any], row: list[Any] | None) -> str:
        """The store's key of one explanation: the model, the reference data, the feature
        settings, the engine versions, ``method``, its ``resolved`` parameters (as JSON) and
        the canonical form of ``row`` (wire values; None for a global method). The service
        and a batch compute it alike, so they share stored explanations."""
        canonical = None if row is None else self.schema.normalise([row])[0]
        parts = {**self._key_base, "method": method, "params": resolved, "instance": canonical}
        if self.logged_fingerprint is not None and self._draws_from_window(method):
            parts["reference"] = self.logged_fingerprint
        return cache_key(parts)

    def _draws_from_window(self, method: str) -> bool:
        """``method`` is fitted on the rows of ``data.window``: it needs no labels."""
        return self.logged is not None and not self._class(method).needs_target

    def reference_of(self, method: str) -> tuple[pd.DataFrame, ReferenceSource, str | None]:
        """The reference rows ``method`` is fitted on, where they come from, and their
        label column (None for the logged rows, which have none)."""
        logged, source = self.logged, self.logged_source
        if logged is not None and source is not None and self._draws_from_window(method):
            return logged, source, None
        return self.reference, self.reference_source, self.settings.data.target

    def estimate(self, method: str, resolved: Any) -> CostEstimate | None:
        """What one explanation of ``method`` with the ``resolved`` parameters may cost (see
        ``Explainer.estimate``), with the flip test of an explanation of one row when
        protected attributes are configured; None when the method cannot say."""
        cls = self._class(method)
        estimate = cls.estimate(
            resolved,
            self.schema,
            reference_rows=len(self.reference_of(method)[0]),
            max_batch_rows=self.settings.model.max_batch_rows,
        )
        if estimate is None or self.fairness is None or not cls.local:
            return estimate
        rows = self.fairness.max_rows
        calls = -(-rows // self.settings.model.max_batch_rows)
        return replace(
            estimate, model_calls=estimate.model_calls + calls, rows=estimate.rows + rows
        )

    def check_budget(self, method: str, resolved: Any) -> CostEstimate | None:
        """The estimate; raises ``BudgetExceededError`` when it passes ``service.budget``."""
        estimate = self.estimate(method, resolved)
        if estimate is not None:
            self.budget.check_estimate(method, estimate)
        return estimate

    def resolve_params(self, method: str, overrides: Mapping[str, Any] | None) -> Any:
        """The configured parameters of ``method`` with per-call ``overrides`` applied.

        Raises ``ParameterError`` for an unconfigured method or a bad parameter."""
        return self._class(method).resolve_params(self.params[method], overrides)

    def rows(self, payload: Any) -> list[list[Any]]:
        """The rows of an inference payload in the model's protocol, or of records
        (``{"instances": [{feature: value}]}``), which every protocol setting accepts."""
        try:
            return self.limit_rows(self.model.codec.decode_request(payload))
        except CodecError as first:
            if self.settings.model.protocol != "records" and _looks_like_records(payload):
                try:
                    return self.limit_rows(RecordsCodec(self.schema.names).decode_request(payload))
                except CodecError as exc:
                    raise PayloadError(exc.message, field=exc.field) from None
            raise PayloadError(
                f"not a {self.settings.model.protocol} payload: {first.message}", field=first.field
            ) from None

    def limit_rows(self, rows: list[list[Any]]) -> list[list[Any]]:
        """``rows``, unless they are more than ``service.max_payload_rows`` (422)."""
        limit = self.settings.service.max_payload_rows
        if len(rows) > limit:
            raise PayloadError(
                f"the payload holds {len(rows)} rows; at most {limit} are read "
                "(service.max_payload_rows)",
                field="payload",
            )
        return rows

    def instances(
        self, method: str, payload: Any, instance: int | str, limit: int = 1
    ) -> list[list[Any] | None]:
        """The rows ``method`` explains: ``[None]`` for a global method; else row ``instance``
        of ``payload``, or every row for ``"all"`` (at most ``limit``)."""
        if not self._class(method).local:
            return [None]
        if payload is None:
            raise PayloadError(
                "the payload is empty: send the inference payload that was sent to the model"
            )
        rows = self.rows(payload)
        if not rows:
            raise PayloadError("the payload holds no rows")
        if instance == "all":
            if len(rows) > limit:
                raise PayloadError(
                    f"the payload holds {len(rows)} rows; at most {limit} are explained at once",
                    field="instance",
                )
            return list(rows)
        index = int(instance)
        if not 0 <= index < len(rows):
            raise PayloadError(
                f"instance {index} is out of range: the payload holds {len(rows)} row(s)",
                field="instance",
            )
        return [rows[index]]

    def _class(self, method: str) -> type[Explainer]:
        if method not in self.classes:
            raise UnknownMethodError(
                method,
                f"method {method!r} is not configured; configured: {', '.join(self.classes)}",
            )
        return self.classes[method]

    def close(self) -> None:
        self.model.close()


class FittedRuntime(Runtime):
    """A ``Runtime`` with its explainers, fitted on first use; it runs explanations."""

    def __init__(
        self,
        settings: Settings,
        *,
        model: RemoteModel | None = None,
        reference: pd.DataFrame | None = None,
        window: LoggedWindow | None = None,
        announce: bool = True,
        label: str | None = None,
    ) -> None:
        super().__init__(
            settings,
            model=model,
            reference=reference,
            window=window,
            announce=announce,
            label=label,
        )
        # the explanation's cost counts the HTTP requests of its own thread (chunks, retries)
        self.box = BlackBox(
            self.model.predict,
            settings.model.output,
            self.class_names,
            usage=self.model.thread_stats,
        )
        self.explainers: dict[str, Explainer] = {}
        self._fit_lock = threading.Lock()

    def fit(self) -> None:
        """Fit every configured explainer (seconds: discretisers, backgrounds, nearest-row indexes).

        A worker computes one explanation at a time on one core: its BLAS and OpenMP pools
        get one thread from here on, so a row's explanation is the same number for number
        in a service worker and in a batch's Ray worker (sums in another order differ in
        their last digits). Raises ``ConfigError`` when the configuration cannot be fitted."""
        threadpool_limits(limits=1)
        for method in self.classes:
            self.explainer(method)

    @property
    def fitted(self) -> bool:
        return len(self.explainers) == len(self.classes)

    def explain(
        self,
        method: str,
        payload: Any,
        *,
        instance: int = 0,
        params: Mapping[str, Any] | None = None,
    ) -> Explanation:
        """Explain row ``instance`` of ``payload`` with ``method`` (global methods take none),
        within ``service.budget``."""
        row = self.instances(method, payload, instance)[0]
        self.check_budget(method, self.resolve_params(method, params))
        return self.run(method, row, params)

    def run(
        self, method: str, row: list[Any] | None, params: Mapping[str, Any] | None
    ) -> Explanation:
        """Explain ``row`` (None for a global method) with ``method`` within the budget;
        with protected attributes configured, the explanation of a row gets its fairness
        block (one more model call, the flip test)."""
        explainer = self.explainer(method)
        explanation = explainer.explain(row, params, self.budget)
        if self.fairness is not None and row is not None:  # asks the explainer's black box
            explanation = self.fairness.assess(explanation, explainer.model, self.budget)
        return explanation

    def explainer(self, method: str) -> Explainer:
        """The fitted explainer for ``method``, fitted on first use."""
        cls = self._class(method)
        with self._fit_lock:
            if method not in self.explainers:
                rows, source, target = self.reference_of(method)
                try:
                    self.explainers[method] = cls(
                        self.schema,
                        rows,
                        self.box,
                        self.params[method],
                        target=target,
                        reference_source=source,
                    )
                except ExplainerError as exc:
                    raise ConfigError(f"explainers.{method}: {exc}") from None
            return self.explainers[method]


def _looks_like_records(payload: Any) -> bool:
    if isinstance(payload, list):
        return bool(payload) and all(isinstance(r, dict) for r in payload)
    return isinstance(payload, dict) and isinstance(payload.get("instances"), list)
