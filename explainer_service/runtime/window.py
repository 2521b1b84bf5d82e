"""Reference rows from production: the request rows of the inferences logged in a window
of time (``data.window``), instead of the rows of ``data.reference``.

The window is read once, where a runtime is first built (the service at start-up, the
``explain`` and ``batch`` commands), as a ``LoggedWindow``: at most ``max_rows`` rows spread
evenly over the window by the time they were logged. That object, not the store, is what the
worker processes and a batch's Ray workers receive, so every process fits its explainers on
the very rows whose fingerprint is in the cache key, whatever is logged meanwhile. A new
window is read on restart.

The rows are checked as ``data.reference``'s are, against the schema inferred from it (its
categories, numbers where numbers go, whole numbers where whole ones go: what a request's
row must satisfy too); those that do not fit are left out and counted. Fewer than
``min_rows`` left: start-up stops, or (``too_few: file``) the file's rows are used and the
provenance says why. Methods that need labels (importance) keep the file's labelled rows:
logged traffic has the model's answers, not the truth.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from explainer_service.errors import ConfigError
from explainer_service.model_client import SKIP_LOGGING_HEADER
from explainer_service.settings import Settings, TooFewLogged
from explainer_service.store import Store, open_configured_store
from explainer_service.store.record import stamp
from explainers import FeatureSchema, SchemaError
from explainers.explanation import ReferenceSource
from explainers.shap.background import DECILES

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoggedWindow:
    """The window as read: its bounds (stamps as the store writes them), how many request
    rows were logged in it (``logged``), and those read (``rows``: wire values in feature
    order, oldest first). Plain data: it is pickled to the worker processes."""

    since: str
    until: str
    logged: int
    rows: list[list[Any]]


@dataclass(frozen=True)
class WindowReference:
    """What the check of a window gives: the reference rows of the methods that need no
    labels (``rows``; None: the window is not used, the file's rows are) and the provenance
    of those rows (``source``)."""

    rows: pd.DataFrame | None
    source: ReferenceSource


def read_window(settings: Settings, store: Store | None = None) -> LoggedWindow | None:
    """The window of ``data.window`` as logged now in ``store`` (by default the configured
    store, opened and closed here); None when ``data.window.days`` is unset. Raises
    ``StoreError`` when the store cannot be read."""
    config = settings.data.window
    if config.days is None:
        return None
    if store is None:
        opened = open_configured_store(settings.service)
        try:
            return read_window(settings, opened)
        finally:
            opened.close()
    until = stamp()
    since = stamp(ago_days=config.days)
    # the service's own calls (explanations, readiness) carry the header; KServe's logger
    # logs them all the same, and keeps the header in its metadata when told to
    logged, rows = store.logged_window(
        since, until, config.max_rows, unless_header=SKIP_LOGGING_HEADER
    )
    return LoggedWindow(since, until, logged, rows)


def file_source(settings: Settings, note: str | None = None) -> ReferenceSource:
    """The provenance of the rows of ``data.reference`` (its name, not where it lies)."""
    return ReferenceSource(kind="file", file=settings.data.reference.name, note=note)


def check_window(
    window: LoggedWindow,
    schema: FeatureSchema,
    settings: Settings,
    *,
    reference: pd.DataFrame | None = None,
    announce: bool = True,
) -> WindowReference:
    """The rows of ``window`` that fit ``schema``, in their canonical form, as a frame with
    the schema's columns; or the file's, when fewer than ``data.window.min_rows`` fit and
    ``too_few`` is ``file``. Raises ``ConfigError`` when too few fit and it is ``refuse``.
    Deterministic: each process that checks the same window gets the same rows; only one
    of them need ``announce`` (log) what it found, with how far the window's shares are
    from those of the file's rows (``reference``, when given)."""
    level = logging.WARNING if announce else logging.DEBUG
    config = settings.data.window
    fitting: list[list[Any]] = []
    reasons: dict[str, int] = {}
    for row in window.rows:
        try:
            fitting.extend(schema.normalise([row]))
        except SchemaError as exc:
            reasons[str(exc)] = reasons.get(str(exc), 0) + 1
    dropped = len(window.rows) - len(fitting)
    if dropped:
        common = max(reasons, key=lambda reason: reasons[reason])
        log.log(
            level,
            "data.window: %d of the %d logged rows read do not fit the schema and are left "
            "out (most often: %s)",
            dropped,
            len(window.rows),
            common,
        )
    where = f"the inferences logged from {window.since} to {window.until}"
    if len(fitting) < config.min_rows:
        shortfall = (
            f"data.window: {where} hold {len(fitting)} rows that fit the schema "
            f"({window.logged} logged, {dropped} left out), fewer than data.window.min_rows "
            f"({config.min_rows})"
        )
        if config.too_few is TooFewLogged.refuse:
            raise ConfigError(
                f"{shortfall}; widen data.window.days, lower data.window.min_rows, or set "
                "data.window.too_few: file to use the rows of data.reference meanwhile"
            )
        log.log(level, "%s: the rows of data.reference are used", shortfall)
        return WindowReference(None, file_source(settings, note=shortfall))
    source = ReferenceSource(
        kind="logged",
        since=datetime.fromisoformat(window.since),
        until=datetime.fromisoformat(window.until),
        logged=window.logged,
        dropped=dropped,
    )
    rows = pd.DataFrame(fitting, columns=schema.names)
    if announce:
        log.info(
            "reference rows: %d of %s (%d logged, %d left out)",
            len(rows),
            where,
            window.logged,
            dropped,
        )
        if reference is not None:
            gaps = share_gaps(schema, schema.to_numeric(reference), schema.to_numeric(rows))
            largest = sorted(gaps.items(), key=lambda item: -item[1])[:3]
            log.info(
                "data.window: the logged rows' shares differ most from data.reference's in %s",
                ", ".join(f"{name} ({gap:.2f})" for name, gap in largest),
            )
    return WindowReference(rows, source)


def share_gaps(
    schema: FeatureSchema, reference: np.ndarray, logged: np.ndarray
) -> dict[str, float]:
    """Feature -> the largest gap between the share of the ``logged`` rows and that of the
    ``reference`` rows (both in the explainer space) with each of its categories, or (a
    number) at or below each of the reference rows' deciles: the measure SHAP's background
    is chosen by (``explainers.shap.background``), here between the window and the file."""
    gaps = {}
    for j, feature in enumerate(schema.features):
        if feature.is_categorical:
            levels = np.arange(len(feature.categories), dtype=float)
            ours, theirs = (m[:, j, None] == levels for m in (logged, reference))
        else:
            levels = np.unique(np.quantile(reference[:, j], DECILES))
            ours, theirs = (m[:, j, None] <= levels for m in (logged, reference))
        gaps[feature.name] = float(np.abs(ours.mean(axis=0) - theirs.mean(axis=0)).max())
    return gaps
