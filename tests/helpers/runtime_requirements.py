"""What the server installs, pinned: ``python -m tests.helpers.runtime_requirements [PROJECT]``.

Prints ``name==version`` for every distribution that the project's runtime dependencies
and its ``server`` and ``batch`` extras (not the others: no test or example tools) pull in, as
installed in this environment, following the markers that apply here and the extras a
dependency asks of another (``uvicorn[standard]``). The project itself is left out (it is
not on PyPI). ``make test`` audits this list with pip-audit.
"""

from __future__ import annotations

import re
import sys
from importlib.metadata import PackageNotFoundError, distribution

from packaging.requirements import Requirement


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_closure(project: str, extras: frozenset[str] = frozenset()) -> dict[str, str]:
    """Canonical name -> installed version of everything ``project`` with ``extras`` needs
    at run time."""
    found: dict[str, str] = {}
    extras_seen: dict[str, set[str]] = {}
    pending: list[tuple[str, frozenset[str]]] = [(project, extras)]
    while pending:
        name, extras = pending.pop()
        key = canonical(name)
        new = set(extras) - extras_seen.get(key, set())
        if key in found and not new:
            continue
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            continue  # a dependency for another platform or Python, not installed here
        found[key] = dist.version
        extras_seen.setdefault(key, set()).update(extras)
        for text in dist.requires or []:
            requirement = Requirement(text)
            wanted = [{"extra": extra} for extra in (extras or {""})]
            if requirement.marker and not any(requirement.marker.evaluate(e) for e in wanted):
                continue
            pending.append((requirement.name, frozenset(requirement.extras)))
    found.pop(canonical(project), None)
    return found


#: The extra that installs the service (the plain install is the notebook client).
SERVER = frozenset({"server"})
#: What the audit reads: the service with its batch (Ray, pyarrow), as an image with both has.
RUNTIME = frozenset({"server", "batch"})


def main(project: str = "explainer-service") -> None:
    for name, version in sorted(runtime_closure(project, RUNTIME).items()):
        print(f"{name}=={version}")


if __name__ == "__main__":
    main(*sys.argv[1:])
