"""The ``explainer-service`` command."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from explainer_service.errors import CodecError, ConfigError, ExplainerServiceError
from explainer_service.model_client import RemoteModel
from explainer_service.settings import ModelSettings, Protocol, load_settings
from explainers.errors import ExplainerError
from explainers.model import OutputKind

app = typer.Typer(no_args_is_help=True, help="Explanations for a remote model.")


@app.callback()
def main() -> None:
    """Explainer-as-a-service."""


@app.command()
def predict(
    payload: Annotated[Path, typer.Argument(help="inference payload (JSON) in the protocol")],
    url: Annotated[str, typer.Option(help="the model's predict URL")],
    reference: Annotated[Path, typer.Option(help="CSV whose columns are the features")],
    protocol: Annotated[Protocol, typer.Option()] = Protocol.v2,
    output: Annotated[OutputKind, typer.Option()] = OutputKind.probabilities,
    target: Annotated[str | None, typer.Option(help="column of the CSV that is no feature")] = None,
) -> None:
    """Send PAYLOAD to the model the way the explainers do, and print the scores.

    Checks that a model speaks the protocol as configured before any explainer uses it.
    """
    names = [c for c in pd.read_csv(reference, nrows=0).columns if c != target]
    settings = ModelSettings(url=url, protocol=protocol, output=output)
    try:
        with RemoteModel(settings, names) as model:
            rows = model.codec.decode_request(json.loads(payload.read_text()))
            scores = model.predict(rows)
    except (CodecError, ExplainerServiceError, ValueError) as exc:
        typer.echo(f"error: {getattr(exc, 'message', exc)}", err=True)
        raise typer.Exit(2) from None
    typer.echo(json.dumps({"rows": len(rows), "scores": scores.tolist()}))


def _parse_param(text: str) -> tuple[str, str]:
    """``key=value``; the method reads the value by the parameter's type, as it reads a
    query parameter (``explainers.text_values``)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise typer.BadParameter(f"expected key=value, got {text!r}")
    return key, value


@app.command()
def explain(
    payload: Annotated[
        Path | None, typer.Argument(help="inference payload (JSON); not needed for importance")
    ] = None,
    config: Annotated[Path | None, typer.Option(help="YAML configuration")] = None,
    method: Annotated[str, typer.Option(help="anchors, shap, counterfactual, importance, ...")] = (
        "anchors"
    ),
    instance: Annotated[int, typer.Option(help="which row of the payload")] = 0,
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="method parameter key=value")
    ] = None,
) -> None:
    """Explain one instance in-process (no web service) and print the Explanation JSON."""
    from explainer_service.runtime import FittedRuntime
    from explainer_service.runtime.features import resolve_features

    try:
        settings = load_settings(config)
        settings.explainers = {method: settings.explainers.get(method, {})}
        runtime = FittedRuntime(resolve_features(settings))
    except ConfigError as exc:
        typer.echo(f"configuration error: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        body = json.loads(payload.read_text()) if payload else None
        explanation = runtime.explain(
            method, body, instance=instance, params=dict(_parse_param(p) for p in param or [])
        )
    except (ExplainerServiceError, ExplainerError, ValueError, OSError) as exc:
        typer.echo(f"error: {getattr(exc, 'message', exc)}", err=True)
        raise typer.Exit(1) from None
    finally:
        runtime.close()
    typer.echo(explanation.model_dump_json(indent=2))


@contextmanager
def _exit_on_setup_errors() -> Iterator[None]:
    """A configuration or store error: its message on stderr, exit status 2."""
    from explainer_service.store import StoreError

    try:
        yield
    except ConfigError as exc:
        typer.echo(f"configuration error: {exc}", err=True)
        raise typer.Exit(2) from None
    except StoreError as exc:  # its message has no password
        typer.echo(f"store error: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command()
def batch(
    input: Annotated[
        Path,
        typer.Option(
            "--input",
            help=".jsonl (logged inference payloads, or records), .csv or .parquet (feature rows)",
        ),
    ],
    output: Annotated[Path, typer.Option(help="the results: .parquet, .csv or .jsonl")],
    config: Annotated[Path | None, typer.Option(help="YAML configuration")] = None,
    method: Annotated[str, typer.Option(help="anchors, shap, counterfactual, ...")] = "shap",
    address: Annotated[
        str | None,
        typer.Option(help="a Ray cluster (ray://HOST:PORT); default batch.address, else local"),
    ] = None,
    max_in_flight: Annotated[
        int | None,
        typer.Option(min=1, help="explanations at once, at most (default batch.max_in_flight)"),
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="method parameter key=value")
    ] = None,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
) -> None:
    """Explain every row of INPUT on Ray, store the explanations as the service does (rows
    it has already are not computed again) and write one tidy row per feature, condition
    or change to OUTPUT. A row that fails is reported there with its error."""
    from explainer_service.batch import InputError, explain_file

    try:
        with _exit_on_setup_errors():
            settings = load_settings(config)
            if address is not None:
                settings.batch.address = address
            if max_in_flight is not None:
                settings.batch.max_in_flight = max_in_flight
            params = dict(_parse_param(p) for p in param or [])
            report = explain_file(settings, input, output, method, params, progress=progress)
    except (InputError, ExplainerServiceError, ExplainerError) as exc:
        typer.echo(f"error: {getattr(exc, 'message', exc)}", err=True)
        raise typer.Exit(2) from None
    counts = report.counts()
    typer.echo(
        f"{len(report.items)} rows: {counts['computed']} computed, {counts['stored']} from the "
        f"store, {counts['failed']} failed, in {report.seconds:.1f} s on {report.workers} "
        f"workers; results in {output}",
        err=True,
    )


@app.command()
def serve(
    config: Annotated[
        Path | None, typer.Option(help="YAML configuration (or env vars only)")
    ] = None,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8080,
    log_level: Annotated[str, typer.Option()] = "info",
    log_format: Annotated[
        str,
        typer.Option(
            envvar="EXPLAINER_LOG_FORMAT",
            help="text, or json: one object per line (the worker processes follow)",
        ),
    ] = "text",
) -> None:
    """Run the explainer service."""
    from explainer_service.app import create_app
    from explainer_service.cli.server import serve as serve_app
    from explainer_service.observability import logs

    try:
        os.environ[logs.FORMAT_ENV] = logs.chosen_format(log_format)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    _log_to_stderr(log_level)

    with _exit_on_setup_errors():
        settings = load_settings(config)
        application = create_app(settings)
    status = serve_app(
        application,
        settings.service.shutdown_grace_s,
        host=host,
        port=port,
        log_level=log_level,
        log_config=None,  # uvicorn's records go to the service's handler, in its format
        access_log=False,  # the service logs each request itself, without its query
    )
    if status:
        raise typer.Exit(status)


def _log_to_stderr(level: str) -> None:
    """The service's and uvicorn's records on stderr, in the format of
    ``EXPLAINER_LOG_FORMAT``, each with its request id (``-`` outside one)."""
    from explainer_service.observability import logs

    handler = logs.handler()
    for name in ("explainer_service", "uvicorn"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(getattr(logging, level.upper(), logging.DEBUG))  # uvicorn has "trace"
        logger.propagate = False


@app.command()
def links(
    payload: Annotated[Path, typer.Argument(help="a logged inference payload (JSON)")],
    base_url: Annotated[str, typer.Option(help="where the service answers")] = (
        "http://127.0.0.1:8080"
    ),
    method: Annotated[
        list[str] | None, typer.Option(help="methods (default: the local three)")
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            help="the service's configuration: links signed with its auth.link_secret, "
            "from its auth.public_base_url when set"
        ),
    ] = None,
) -> None:
    """Print the drill-down links that open the explanations of PAYLOAD in a browser."""
    from explainer_service.render import drilldown_link
    from explainer_service.security import UrlBuilder, signer_of

    link = UrlBuilder(base_url)
    if config is not None:
        try:
            security = load_settings(config).auth
        except ConfigError as exc:
            typer.echo(f"configuration error: {exc}", err=True)
            raise typer.Exit(2) from None
        link = UrlBuilder(str(security.public_base_url or base_url), signer_of(security))
    body = json.loads(payload.read_text())
    for name in method or ["anchors", "shap", "counterfactual"]:
        typer.echo(f"{name}\t{link(drilldown_link(name, body))}")
