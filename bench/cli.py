"""``python -m bench [OPTIONS]`` (what ``make bench`` runs). Every option can also be given
as an environment variable, e.g. ``BENCH_APPLICANTS=6 make bench``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bench import markdown
from bench.run import ROOT, Options, run

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, help=__doc__)


@app.command()
def main(
    applicants: Annotated[
        int,
        typer.Option(
            envvar="BENCH_APPLICANTS",
            min=2,
            help="half per predicted class (an odd number is rounded down)",
        ),
    ] = 20,
    seed: Annotated[int, typer.Option(envvar="BENCH_SEED", min=0)] = 0,
    reference_rows: Annotated[
        int,
        typer.Option(envvar="BENCH_REFERENCE_ROWS", min=100, help="rows fitting the explainers"),
    ] = 3000,
    threshold: Annotated[float, typer.Option(envvar="BENCH_THRESHOLD", min=0.5, max=1.0)] = 0.95,
    shap_nsamples: Annotated[int, typer.Option(envvar="BENCH_SHAP_NSAMPLES", min=10)] = 500,
    background_size: Annotated[int, typer.Option(envvar="BENCH_BACKGROUND_SIZE", min=1)] = 100,
    clients: Annotated[
        int,
        typer.Option(
            envvar="BENCH_CLIENTS", min=2, help="concurrent clients of the throughput run"
        ),
    ] = 4,
    payload: Annotated[
        str,
        typer.Option(
            envvar="BENCH_PAYLOAD",
            help="tensor sent to ours: fp64; int64; auto = fp64, or int64 if fp64 is refused",
        ),
    ] = "auto",
    skip_mlserver: Annotated[
        bool,
        typer.Option(
            envvar="BENCH_SKIP_MLSERVER",
            help="ours only; the model is served from .venv-mlserver (make mlserver)",
        ),
    ] = False,
    mlserver_workers: Annotated[
        int,
        typer.Option(
            envvar="BENCH_MLSERVER_WORKERS",
            min=0,
            help="parallel_workers of the alibi-explain server",
        ),
    ] = 1,
    skip_dice: Annotated[
        bool,
        typer.Option(
            envvar="BENCH_SKIP_DICE",
            help="no counterfactuals against dice-ml (.venv-reference: make reference)",
        ),
    ] = False,
    skip_text: Annotated[
        bool,
        typer.Option(
            envvar="BENCH_SKIP_TEXT",
            help="no text anchors against alibi's AnchorText (.venv-reference)",
        ),
    ] = False,
    text_reviews: Annotated[
        int,
        typer.Option(envvar="BENCH_TEXT_REVIEWS", min=1, help="held-out reviews of the text row"),
    ] = 10,
    out: Annotated[Path, typer.Option(envvar="BENCH_OUT")] = ROOT / "bench-output",
) -> None:
    """Benchmark the explainer service against MLServer 1.6.1's alibi-explain on one model."""
    if payload not in ("auto", "fp64", "int64"):
        raise typer.BadParameter("auto, fp64 or int64", param_hint="--payload")
    options = Options(
        applicants=applicants,
        seed=seed,
        reference_rows=reference_rows,
        threshold=threshold,
        shap_nsamples=shap_nsamples,
        background_size=background_size,
        clients=clients,
        payload=payload,
        skip_mlserver=skip_mlserver,
        mlserver_workers=mlserver_workers,
        skip_dice=skip_dice,
        skip_text=skip_text,
        text_reviews=text_reviews,
        out=out.resolve(),
    )
    try:
        result = run(options)
    except KeyboardInterrupt:
        typer.echo("interrupted; every server the benchmark started is stopped", err=True)
        raise typer.Exit(130) from None
    typer.echo("")
    typer.echo(markdown.render(result))
    typer.echo(f"written {out / 'bench.md'} and {out / 'bench.json'}")
