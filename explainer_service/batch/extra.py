"""Whether the ``batch`` extra is installed: Ray and pyarrow come with
``explainer-service[batch]``, not with ``[server]`` (a sidecar needs neither)."""

from __future__ import annotations

from importlib.util import find_spec

from explainer_service.errors import ExtraMissingError

#: The modules the batch imports, by the distribution that brings each.
PACKAGES = {"ray": "ray", "pyarrow": "pyarrow"}


def missing() -> list[str]:
    """The batch's distributions that cannot be imported here."""
    return [name for module, name in PACKAGES.items() if find_spec(module) is None]


def require_batch() -> None:
    """Raises ``ExtraMissingError`` naming the extra when a batch could not run here."""
    absent = missing()
    if absent:
        raise ExtraMissingError("batch", absent)
