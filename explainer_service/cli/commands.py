"""The ``explainer-service`` command."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from explainer_service.errors import CodecError, ConfigError, ExplainerServiceError
from explainer_service.model_client import RemoteModel
from explainer_service.settings import Protocol, candidate_label, load_settings
from explainers.errors import ExplainerError
from explainers.explanation import LOCAL_METHODS
from explainers.model import OutputKind

app = typer.Typer(no_args_is_help=True, help="Explanations for a remote model.")


@app.callback()
def main() -> None:
    """Explainer-as-a-service."""


def _choices(kind: type[StrEnum]) -> str:
    """``a, b or c``: the values of ``kind``, for a help text."""
    values = [str(v) for v in kind]
    return f"{', '.join(values[:-1])} or {values[-1]}"


#: ``--config`` of the commands that read the configuration as the service does.
Config = Annotated[
    Path | None,
    typer.Option(
        metavar="FILE",
        help="the YAML configuration; EXPLAINER_* variables override its keys "
        "(default: those variables alone)",
    ),
]
Params = Annotated[
    list[str] | None,
    typer.Option("--param", "-p", metavar="KEY=VALUE", help="a method parameter; repeatable"),
]


def _fail(problem: object, status: int, kind: str = "error") -> NoReturn:
    """``problem`` (an error, by its message) on stderr; exit with ``status``."""
    typer.echo(f"{kind}: {getattr(problem, 'message', problem)}", err=True)
    raise typer.Exit(status)


@app.command()
def predict(
    payload: Annotated[
        Path, typer.Argument(metavar="PAYLOAD", help="an inference payload (JSON) for the model")
    ],
    config: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help="the YAML configuration: the model and the reference data; the options "
            "below override its keys",
        ),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(
            metavar="URL", help="the model's predict URL (default: the config's model.url)"
        ),
    ] = None,
    protocol: Annotated[
        Protocol | None,
        typer.Option(
            metavar="NAME",
            help=f"{_choices(Protocol)} (default: the config's model.protocol, else v2)",
        ),
    ] = None,
    model_output: Annotated[
        OutputKind | None,
        typer.Option(
            metavar="KIND",
            help=f"what the model answers: {_choices(OutputKind)} "
            "(default: the config's model.output, else probabilities)",
        ),
    ] = None,
    reference: Annotated[
        Path | None,
        typer.Option(
            metavar="CSV",
            help="reference rows whose columns are the features "
            "(default: the config's data.reference)",
        ),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(
            metavar="COLUMN",
            help="the column of the CSV that is the label, not a feature "
            "(default: the config's data.target)",
        ),
    ] = None,
    candidate: Annotated[
        bool,
        typer.Option(
            help="send the rows to the config's models.candidate too, when it has one",
        ),
    ] = True,
) -> None:
    """Send PAYLOAD to the model as the explainers do, and print the scores.

    Checks that the model speaks the protocol as configured before any explainer uses it.

    With models.candidate in --config, checks it too: its scores under "candidate".

    A candidate that fails exits 2 with an error naming it; --no-candidate skips it.

    The options override the keys of --config; without it, --url and --reference are needed.
    """
    from explainer_service.cli.model_check import model_to_check

    with _exit_on_setup_errors():
        chosen = model_to_check(
            config,
            {"url": url, "protocol": protocol, "output": model_output},
            {"reference": reference, "target": target},
        )
    answer: dict[str, object] = {}
    try:
        with RemoteModel(chosen.model, chosen.names) as remote:
            rows = remote.codec.decode_request(json.loads(payload.read_text()))
            answer = {"rows": len(rows), "scores": remote.predict(rows).tolist()}
        if candidate and chosen.candidate is not None:
            other = chosen.candidate
            with RemoteModel(other, chosen.names, label=candidate_label(other)) as remote:
                scores = remote.predict(rows).tolist()
            answer["candidate"] = {"name": other.name, "version": other.version, "scores": scores}
    except (CodecError, ExplainerServiceError, ExplainerError, ValueError, OSError) as exc:
        _fail(exc, 2)
    typer.echo(json.dumps(answer))


def _parse_param(text: str) -> tuple[str, str]:
    """``key=value``; the method reads the value by the parameter's type, as it reads a
    query parameter (``explainers.text_values``)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise typer.BadParameter(f"expected key=value, got {text!r}")
    return key, value


@contextmanager
def _exit_on_setup_errors() -> Iterator[None]:
    """A configuration or store error: its message on stderr, exit status 2."""
    from explainer_service.store import StoreError

    try:
        yield
    except ConfigError as exc:
        _fail(exc, 2, "configuration error")
    except StoreError as exc:  # its message has no password
        _fail(exc, 2, "store error")


@app.command()
def explain(
    payload: Annotated[
        Path | None,
        typer.Argument(
            metavar="PAYLOAD", help="an inference payload (JSON); importance needs none"
        ),
    ] = None,
    config: Config = None,
    method: Annotated[
        str, typer.Option(metavar="NAME", help="anchors, shap, counterfactual, importance, ...")
    ] = "anchors",
    instance: Annotated[int, typer.Option(metavar="N", help="which row of the payload")] = 0,
    param: Params = None,
) -> None:
    """Explain one instance in-process (no web service) and print the Explanation JSON."""
    from explainer_service.runtime import FittedRuntime
    from explainer_service.runtime.features import resolve_features

    with _exit_on_setup_errors():
        settings = load_settings(config)
        settings.explainers = {method: settings.explainers.get(method, {})}
        runtime = FittedRuntime(resolve_features(settings))
    try:
        body = json.loads(payload.read_text()) if payload else None
        explanation = runtime.explain(
            method, body, instance=instance, params=dict(_parse_param(p) for p in param or [])
        )
    except (ExplainerServiceError, ExplainerError, ValueError, OSError) as exc:
        _fail(exc, 1)
    finally:
        runtime.close()
    typer.echo(explanation.model_dump_json(indent=2))


@app.command()
def batch(
    input: Annotated[
        Path,
        typer.Option(
            "--input",
            metavar="FILE",
            help=".jsonl (logged inference payloads, or records), .csv or .parquet (feature rows)",
        ),
    ],
    output: Annotated[
        Path, typer.Option(metavar="FILE", help="where the results go: .parquet, .csv or .jsonl")
    ],
    config: Config = None,
    method: Annotated[
        str, typer.Option(metavar="NAME", help="anchors, shap, counterfactual, ...")
    ] = "shap",
    address: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            help="a Ray cluster, ray://HOST:PORT (default: the config's batch.address, else "
            "a new local Ray)",
        ),
    ] = None,
    max_in_flight: Annotated[
        int | None,
        typer.Option(
            min=1,
            metavar="N",
            help="explanations at once, at most (default: the config's batch.max_in_flight)",
        ),
    ] = None,
    param: Params = None,
    no_progress: Annotated[
        bool, typer.Option("--no-progress", help="no progress bar on the terminal")
    ] = False,
) -> None:
    """Explain every row of INPUT on Ray and write the results to OUTPUT.

    The explanations are kept in the store as the service keeps them: a row it has is reused.

    OUTPUT gets one tidy row per feature, condition or change; a row that failed, its error.
    """
    from explainer_service.batch import InputError, explain_file
    from explainer_service.batch.extra import require_batch

    try:
        require_batch()
        with _exit_on_setup_errors():
            settings = load_settings(config)
            if address is not None:
                settings.batch.address = address
            if max_in_flight is not None:
                settings.batch.max_in_flight = max_in_flight
            params = dict(_parse_param(p) for p in param or [])
            report = explain_file(settings, input, output, method, params, progress=not no_progress)
    except (InputError, ExplainerServiceError, ExplainerError) as exc:
        _fail(exc, 2)
    counts = report.counts()
    typer.echo(
        f"{len(report.items)} rows: {counts['computed']} computed, {counts['stored']} from the "
        f"store, {counts['failed']} failed, in {report.seconds:.1f} s on {report.workers} "
        f"workers; results in {output}",
        err=True,
    )


@app.command()
def replay(
    log: Annotated[
        Path,
        typer.Argument(
            metavar="LOG",
            help="one JSON value a line: a structured-mode CloudEvent, or a record (or an "
            "array of records) of KServe's blob-storage logger",
        ),
    ],
    config: Config = None,
) -> None:
    """Load logged CloudEvents into the inference log, as POST /inferences keeps them.

    Each event is decoded, and kept in the configured store or dropped, as the sink does.

    Prints how many events did what; exit status 1 when a line could not be kept (it says why).
    """
    from explainer_service.inferences.ingest import Ingest
    from explainer_service.inferences.replay import replay as replay_lines
    from explainer_service.runtime import Runtime
    from explainer_service.runtime.features import resolve_features
    from explainer_service.store import open_configured_store

    with _exit_on_setup_errors():
        settings = resolve_features(load_settings(config))
        runtime = Runtime(settings)
        store = open_configured_store(settings.service)
    try:
        with _exit_on_setup_errors(), log.open("rb") as lines:
            report = replay_lines(
                lines,
                Ingest(runtime, store),
                max_bytes=settings.service.max_body_bytes,
                max_depth=settings.service.max_json_depth,
            )
    except OSError as exc:
        _fail(f"cannot read {log}: {exc.strerror}", 2)
    finally:
        store.close()
        runtime.close()
    for problem in report.problems:
        typer.echo(f"refused: {problem}", err=True)
    typer.echo(report.text())
    if report.outcomes["refused"]:
        raise typer.Exit(1)


@app.command()
def serve(
    config: Config = None,
    host: Annotated[str, typer.Option(metavar="ADDRESS", help="the address to listen on")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(metavar="PORT", help="the port to listen on")] = 8080,
    log_level: Annotated[
        str, typer.Option(metavar="LEVEL", help="debug, info, warning or error")
    ] = "info",
    log_format: Annotated[
        str,
        typer.Option(
            envvar="EXPLAINER_LOG_FORMAT",
            metavar="FORMAT",
            help="text, or json: one object per line (the worker processes follow)",
        ),
    ] = "text",
) -> None:
    """Run the explainer service."""
    from explainer_service.app import create_app
    from explainer_service.cli.server import serve as serve_app
    from explainer_service.observability import logs
    from explainer_service.security.connections import ConnectionLimits, guarded_protocol

    try:
        os.environ[logs.FORMAT_ENV] = logs.chosen_format(log_format)
    except ValueError as exc:
        _fail(exc, 2)
    _log_to_stderr(log_level)

    with _exit_on_setup_errors():
        settings = load_settings(config)
        application = create_app(settings)
    metrics = application.state.service.metrics
    protocol = guarded_protocol(ConnectionLimits.of(settings.service), metrics.connection_closed)
    metrics.watch_connections(lambda: protocol.open)
    status = serve_app(
        application,
        settings.service.shutdown_grace_s,
        host=host,
        port=port,
        log_level=log_level,
        log_config=None,  # uvicorn's records go to the service's handler, in its format
        access_log=False,  # the service logs each request itself, without its query
        http=protocol,
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
    payload: Annotated[
        Path, typer.Argument(metavar="PAYLOAD", help="a logged inference payload (JSON)")
    ],
    base_url: Annotated[
        str,
        typer.Option(
            metavar="URL",
            help="where the service answers (with --config: unless its auth.public_base_url "
            "is set)",
        ),
    ] = "http://127.0.0.1:8080",
    method: Annotated[
        list[str] | None,
        typer.Option(
            metavar="NAME",
            help=f"a method; repeatable (default: {', '.join(LOCAL_METHODS)})",
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help="the service's configuration: links signed with its auth.link_secret, "
            "from its auth.public_base_url when set",
        ),
    ] = None,
) -> None:
    """Print the drill-down links that open the explanations of PAYLOAD in a browser."""
    from explainer_service.render import drilldown_link
    from explainer_service.security import UrlBuilder, signer_of

    link = UrlBuilder(base_url)
    if config is not None:
        with _exit_on_setup_errors():
            security = load_settings(config).auth
        link = UrlBuilder(str(security.public_base_url or base_url), signer_of(security))
    try:
        body = json.loads(payload.read_text())
    except (ValueError, OSError) as exc:
        _fail(exc, 2)
    for name in method or LOCAL_METHODS:
        typer.echo(f"{name}\t{link(drilldown_link(name, body))}")


@app.command("inference-links")
def inference_links(
    ids: Annotated[list[str], typer.Argument(metavar="ID...", help="ids of logged inferences")],
    base_url: Annotated[
        str,
        typer.Option(
            metavar="URL",
            help="where the service answers (with --config: unless its auth.public_base_url "
            "is set)",
        ),
    ] = "http://127.0.0.1:8080",
    method: Annotated[
        list[str] | None,
        typer.Option(
            metavar="NAME",
            help=f"a method; repeatable (default: {', '.join(LOCAL_METHODS)})",
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help="the service's configuration: links signed with its auth.link_secret, "
            "from its auth.public_base_url when set",
        ),
    ] = None,
) -> None:
    """Print the links of logged inferences by id: no personal data in them.

    Each line: the id, record or a method, the link. The service is not asked for them.
    """
    from explainer_service.render.inference import explain_path, inference_path
    from explainer_service.security import UrlBuilder, signer_of

    link = UrlBuilder(base_url)
    if config is not None:
        with _exit_on_setup_errors():
            security = load_settings(config).auth
        link = UrlBuilder(str(security.public_base_url or base_url), signer_of(security))
    for id in ids:
        typer.echo(f"{id}\trecord\t{link(inference_path(id) + '?format=html')}")
        for name in method or LOCAL_METHODS:
            typer.echo(f"{id}\t{name}\t{link(explain_path(id, name))}")
