"""What the server installs, pinned: ``python -m tests.helpers.runtime_requirements
[PROJECT] [--python X.Y.Z]``.

Prints ``name==version`` for every distribution that the project's runtime dependencies
and its ``server`` and ``batch`` extras (not the others: no test or example tools) pull in, as
installed in this environment, following the markers that apply here and the extras a
dependency asks of another (``uvicorn[standard]``). The project itself is left out (it is
not on PyPI). ``make test`` audits this list with pip-audit. With ``--python``, the
constraints of a matrix venv of that Python (``make matrix``): a distribution whose
installed release does not support it (its ``Requires-Python``) is left out.
"""

from __future__ import annotations

import argparse
import re
from importlib.metadata import PackageNotFoundError, distribution

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet


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


def supports(name: str, python: str) -> bool:
    """Whether the installed release of ``name`` declares support for Python ``python``."""
    declared = distribution(name).metadata.get("Requires-Python")
    return declared is None or SpecifierSet(declared).contains(python)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.helpers.runtime_requirements")
    parser.add_argument("project", nargs="?", default="explainer-service")
    parser.add_argument("--python", help="leave out what does not support this Python")
    args = parser.parse_args(argv)
    for name, version in sorted(runtime_closure(args.project, RUNTIME).items()):
        if args.python is None or supports(name, args.python):
            print(f"{name}=={version}")


if __name__ == "__main__":
    main()
