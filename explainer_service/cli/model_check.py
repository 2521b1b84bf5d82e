"""The model ``predict`` calls and the features it sends: the configuration with the
command's options over it, or the options alone; and the configuration's candidate."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from explainer_service.errors import ConfigError
from explainer_service.runtime.features import choose_features
from explainer_service.settings import (
    DataSettings,
    ModelSettings,
    Settings,
    candidate_model,
    load_settings,
)
from explainers.validation import problems_text

#: key of ``model.*`` or ``data.*`` -> the option that sets it
OPTIONS = {
    "url": "--url",
    "protocol": "--protocol",
    "output": "--model-output",
    "reference": "--reference",
    "target": "--target",
}

_Section = TypeVar("_Section", bound=BaseModel)


@dataclass(frozen=True)
class ToCheck:
    """What ``predict`` sends to: ``model``, ``names`` (the features in the model's order)
    and ``candidate``, the configuration's ``models.candidate`` (None without one)."""

    model: ModelSettings
    names: list[str]
    candidate: ModelSettings | None = None


def model_to_check(
    config: Path | None, model: Mapping[str, Any], data: Mapping[str, Any]
) -> ToCheck:
    """``model.*`` and the feature names, chosen as the service chooses them
    (``choose_features``), and ``models.candidate`` over the model as the service makes it
    (``candidate_model``). ``model`` and ``data``: the options for keys of those sections,
    None where not given. Without ``config`` the options are all there is (no environment
    variable either, and no candidate): the model's metadata is not asked for, and the
    features are every column of the reference data but the target. Raises
    ``ConfigError``."""
    model = {k: v for k, v in model.items() if v is not None}
    data = {k: v for k, v in data.items() if v is not None}
    if config is None:
        missing = [OPTIONS[key] for key in ("url", "reference") if key not in {**model, **data}]
        if missing:
            raise ConfigError(f"without --config, give {' and '.join(missing)}")
        settings = Settings.model_construct(
            model=_validated(ModelSettings, {"metadata_wait_s": 0, **model}),
            data=_validated(DataSettings, data),
        )
    else:
        settings = load_settings(config)
        settings.model = _validated(ModelSettings, {**settings.model.model_dump(), **model})
        settings.data = _validated(DataSettings, {**settings.data.model_dump(), **data})
    other = settings.models.candidate if config is not None else None
    try:
        candidate = None if other is None else candidate_model(settings.model, other)
    except ValueError as exc:
        raise ConfigError(f"models.candidate: {exc}") from None
    return ToCheck(settings.model, choose_features(settings).names, candidate)


def _validated(section: type[_Section], values: Mapping[str, Any]) -> _Section:
    """``section`` of ``values``; a problem is named by its option."""
    try:
        return section.model_validate(values)
    except ValidationError as exc:
        problems = [
            {**p, "loc": (OPTIONS.get(str(p["loc"][0]), p["loc"][0]), *p["loc"][1:])}
            if p["loc"]
            else p
            for p in exc.errors()
        ]
        raise ConfigError(f"invalid options: {problems_text(problems)}") from None
