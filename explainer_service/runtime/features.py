"""Which columns of the reference data are the model's features, chosen once at start-up.

In this order: ``features.names``; else, unless ``features.source`` is ``reference``, what
the model declares (``model_client.metadata``: V2 model metadata, an MLflow ``MLmodel``
signature); else every column of ``data.reference`` but ``data.target``. Other columns (an
id, a timestamp) are left out with a warning, so the model is never sent an input it does
not read.

The service (``create_app``) and the ``explain`` command call ``resolve_features`` once and
build everything from the settings it returns; the worker processes receive those settings
and never ask the model again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
import pandas as pd

from explainer_service.errors import ConfigError
from explainer_service.model_client.metadata import DeclaredInputs, declared_inputs
from explainer_service.settings import FeatureSource, Settings

log = logging.getLogger(__name__)

#: The source of the features when no one names them.
EVERY_COLUMN = "every column of data.reference but data.target"


@dataclass(frozen=True)
class FeatureChoice:
    """The features (``names``, in the model's order), where they come from (``source``),
    and the columns of ``data.reference`` left out (``ignored``). ``every_column``: the
    features are every column but the target, as no one named them. ``note``: why the
    model's metadata gave no features, at log level ``note_level``."""

    names: list[str]
    source: str
    ignored: list[str]
    every_column: bool = False
    note: str | None = None
    note_level: int = logging.INFO


def read_reference(settings: Settings, nrows: int | None = None) -> pd.DataFrame:
    """``data.reference`` (its first ``nrows`` rows). Raises ``ConfigError`` when it cannot
    be read or lacks ``data.target``."""
    path, target = settings.data.reference, settings.data.target
    try:
        reference = pd.read_csv(path, nrows=nrows)
    except (OSError, pd.errors.ParserError) as exc:
        raise ConfigError(f"data.reference: cannot read {path}: {exc}") from None
    if target is not None and target not in reference.columns:
        raise ConfigError(f"data.target: {path} has no column {target!r}")
    return reference


def check_names(
    names: Sequence[str], columns: Sequence[str], target: str | None, source: str
) -> None:
    """Raises ``ConfigError`` when a name is no column of the reference data, or the target."""
    missing = [name for name in names if name not in columns]
    if missing:
        raise ConfigError(
            f"{source}: data.reference has no column {missing}"
            + ("" if source == "features.names" else " (set features.names)")
        )
    if target in names:
        raise ConfigError(f"{source}: {target!r} is data.target, not a feature")


def select_features(
    reference: pd.DataFrame, names: list[str] | None, target: str | None
) -> pd.DataFrame:
    """The columns of ``reference`` the service uses: ``names`` in that order, then
    ``target``; without ``names``, all of it. Raises ``ConfigError`` (``check_names``)."""
    if names is None:
        return reference
    check_names(names, list(reference.columns), target, "features.names")
    return reference[[*names, *([target] if target is not None else [])]]


def choose_features(
    settings: Settings, *, transport: httpx.BaseTransport | None = None
) -> FeatureChoice:
    """The features of ``settings`` (see the module). May ask the model for its metadata,
    waiting at most ``model.metadata_wait_s``. Raises ``ConfigError`` when the names do
    not fit the reference data, when the model takes another number of inputs than the
    reference data has feature columns, or when ``features.source`` is ``model`` and the
    model tells nothing."""
    columns = list(read_reference(settings, nrows=0).columns)
    target = settings.data.target
    if settings.features.names is not None:
        return _named(settings.features.names, "features.names", columns, target)
    candidates = [c for c in columns if c != target]
    if settings.features.source is FeatureSource.reference:
        return FeatureChoice(candidates, EVERY_COLUMN, [], every_column=True)
    declared = declared_inputs(settings.model, transport=transport)
    if declared is None:
        return FeatureChoice(candidates, EVERY_COLUMN, [], every_column=True)
    names = declared.names
    if names is not None and (declared.width is None or set(names) <= set(columns)):
        return _named(list(names), declared.source, columns, target)
    if declared.width is not None:
        if declared.width != len(candidates):
            raise ConfigError(
                f"{declared.source}: the model takes {declared.width} inputs, data.reference "
                f"has {len(candidates)} feature columns (every column but data.target); "
                "set features.names to the model's inputs, in its order"
            )
        confirmed = f"{EVERY_COLUMN}; {declared.source} confirms {declared.width} inputs"
        return FeatureChoice(candidates, confirmed, [], every_column=True)
    if settings.features.source is FeatureSource.model:
        raise ConfigError(f"features.source is model, but {_silence(declared)}")
    return FeatureChoice(
        candidates,
        EVERY_COLUMN,
        [],
        every_column=True,
        note=f"{_silence(declared)}: the features are {EVERY_COLUMN}",
        note_level=logging.WARNING if declared.fault else logging.INFO,
    )


def _named(names: list[str], source: str, columns: list[str], target: str | None) -> FeatureChoice:
    check_names(names, columns, target, source)
    ignored = [c for c in columns if c not in names and c != target]
    return FeatureChoice(names, source, ignored)


def _silence(declared: DeclaredInputs) -> str:
    return f"{declared.source} gives no features ({declared.missing})"


def announce(choice: FeatureChoice) -> None:
    """Log the features and where they come from, and warn of the columns left out."""
    if choice.note is not None:
        log.log(choice.note_level, "%s", choice.note)
    log.info("features (%s): %s", choice.source, ", ".join(choice.names))
    if choice.ignored:
        log.warning(
            "columns of data.reference not in %s, ignored: %s",
            choice.source,
            ", ".join(choice.ignored),
        )


def resolve_features(
    settings: Settings, *, transport: httpx.BaseTransport | None = None
) -> Settings:
    """Choose the features (``choose_features``), announce them, and return a copy of
    ``settings`` whose ``features.names`` are they (left unset when they are every column
    but the target), for the service and its workers to build on."""
    choice = choose_features(settings, transport=transport)
    announce(choice)
    resolved = settings.model_copy(deep=True)
    resolved.features.names = None if choice.every_column else choice.names
    return resolved
