"""The ``explainer-service`` command: ``main`` (the entry point), the subcommands
(``commands``) and the server that drains on SIGTERM (``server``).

With only the client installed (``pip install explainer-service``) ``main`` says what to
install instead of failing on an import."""

from __future__ import annotations

import sys

#: The same hint as ``errors.install_hint("server")``, written out: this module imports
#: nothing that the client lacks.
SERVER_EXTRA = (
    "pip install 'explainer-service[server]' (from a clone: pip install '.[server]'; "
    "from a wheel: pip install 'explainer_service-VERSION-py3-none-any.whl[server]')"
)


def main() -> None:
    try:
        from explainer_service.cli.commands import app
    except ModuleNotFoundError as exc:
        sys.exit(
            f"explainer-service: the command is the server's and needs its packages "
            f"({exc.name} is not installed): {SERVER_EXTRA}"
        )
    app()
