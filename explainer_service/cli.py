"""The ``explainer-service`` command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from explainer_service.errors import ExplainerServiceError
from explainer_service.model_client import CodecError, RemoteModel
from explainer_service.settings import ModelSettings, Protocol
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
