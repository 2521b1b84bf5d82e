"""alibi's ``explain`` parameters, as MLServer's ``parameters.explain_parameters`` carries
them, in this service's terms.

A parameter alibi and this service share under another name is renamed; one that tunes
alibi's own implementation (caches, logging, its sampler) has no counterpart and is
ignored, and the answer lists it; any other name is taken as this service's own, so a
misspelt one is refused (422) by the method's validation as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from explainer_service.errors import PayloadError

Rename = Callable[[Any], tuple[str, Any]]

#: method -> alibi name -> (our name, value) for parameters with a counterpart
RENAMED: dict[str, dict[str, Rename]] = {
    "anchors": {
        "delta": lambda delta: ("confidence", 1 - delta),
        "n_covered_ex": lambda n: ("examples", n),
        "min_samples_start": lambda n: ("init_samples", n),
    },
}

#: method -> alibi parameters that tune alibi's implementation and mean nothing here
IGNORED: dict[str, frozenset[str]] = {
    "anchors": frozenset(
        {
            "tau",
            "coverage_samples",
            "stop_on_first",
            "binary_cache_size",
            "cache_margin",
            "verbose",
            "verbose_every",
        }
    ),
    "shap": frozenset(
        {"l1_reg", "summarise_result", "silent", "cat_vars_start_idx", "cat_vars_enc_dim"}
    ),
    "counterfactual": frozenset(
        {"k", "k_type", "threshold", "verbose", "print_every", "log_every"}
    ),
}


def from_alibi(
    method: str, explain_parameters: Any, class_names: list[str] | None
) -> tuple[dict[str, Any], list[str]]:
    """(this service's parameters, the alibi parameters ignored)."""
    if explain_parameters is None:
        return {}, []
    if not isinstance(explain_parameters, Mapping):
        raise PayloadError(
            "'parameters.explain_parameters' must be an object",
            field="parameters.explain_parameters",
        )
    params: dict[str, Any] = {}
    ignored: list[str] = []
    renamed = RENAMED.get(method, {})
    for name, value in explain_parameters.items():
        if name in IGNORED.get(method, ()):
            ignored.append(name)
        elif name in renamed:
            key, converted = _convert(renamed[name], name, value)
            params[key] = converted
        elif method == "counterfactual" and name == "target_class":
            if value != "other":  # alibi's default: any class but the prediction's
                params["desired_class"] = _target_class(value, class_names)
        else:
            params[name] = value
    return params, ignored


def _convert(rename: Rename, name: str, value: Any) -> tuple[str, Any]:
    try:
        return rename(value)
    except TypeError:
        raise PayloadError(
            f"explain parameter {name!r} has the wrong type: {value!r}",
            field=f"parameters.explain_parameters.{name}",
        ) from None


def _target_class(value: Any, class_names: list[str] | None) -> Any:
    """alibi's ``target_class``, a class index or a list of one, as a class name."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    is_index = isinstance(value, int) and not isinstance(value, bool)
    if is_index and class_names and 0 <= value < len(class_names):
        return class_names[value]
    if isinstance(value, str):
        return value
    raise PayloadError(
        f"target_class {value!r} is not a class index of {class_names}",
        field="parameters.explain_parameters.target_class",
    )
