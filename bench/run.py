"""One benchmark run: data and model, the servers, the phases, the report.

Processes, all on 127.0.0.1 with free ports, stopped at the end (also on Ctrl-C, SIGTERM or
an error): MLServer serving the model; two counting proxies in front of it (one per
explainer, ``bench.proxy``); MLServer's alibi-explain runtime calling the model through
its proxy; the explainer service calling it through the other. Once they are stopped, the
comparisons with the reference engines in ``.venv-reference`` start their own servers:
counterfactuals against dice-ml (``bench.counterfactuals``) and text anchors against alibi's
``AnchorText`` (``bench.text``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench import (
    counterfactuals,
    data,
    environment,
    evaluation,
    markdown,
    mlserver,
    ours,
    phases,
    records,
    stability,
    stats,
    text,
)
from bench.clients import TIMEOUT, MLServerExplainers, Ours, Outcome, Proxy, score
from bench.processes import Server, free_port

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 600.0


@dataclass
class Options:
    applicants: int = 20
    seed: int = 0
    reference_rows: int = 3000
    threshold: float = 0.95
    shap_nsamples: int = 500
    background_size: int = 100
    clients: int = 4
    payload: str = "auto"  # auto | fp64 | int64
    skip_mlserver: bool = False
    mlserver_workers: int = 1
    #: counterfactuals against dice-ml (``applicants`` of the income example's held-out rows)
    skip_dice: bool = False
    #: text anchors against alibi's AnchorText, on ``text_reviews`` held-out reviews
    skip_text: bool = False
    text_reviews: int = 10
    out: Path = ROOT / "bench-output"
    venv: Path = ROOT / ".venv-bench"
    #: serves the model when MLServer's alibi-explain is skipped (``make mlserver``)
    model_venv: Path = ROOT / ".venv-mlserver"
    disc_perc: tuple[float, ...] = field(default=(25, 50, 75))


@dataclass
class Prepared:
    """What is made before any server starts (under ``work``)."""

    work: Path
    dataset: data.Dataset
    accuracy: float
    model: Path
    reference_csv: Path
    background: Any  # shap DenseData
    alibi_dir: Path


@dataclass
class Servers:
    """Where everything listens once it is ready."""

    model_url: str  # the model server itself (for scoring, not counted)
    counted_url: str  # the model behind ours' proxy (for in-process shap)
    ours: Ours
    theirs: MLServerExplainers | None


def run(options: Options) -> dict[str, Any]:
    """The whole benchmark; writes ``bench.json`` and ``bench.md`` under ``options.out``
    and returns the report."""
    load_before = [round(x, 2) for x in os.getloadavg()]
    with _sigterm_unwinds():
        prepared = prepare(options)
        with contextlib.ExitStack() as stack:
            servers = start(options, prepared, stack)
            result = measure(options, prepared, servers)
        found, errors = references(options, prepared.work)
    result.update(found)
    result["errors"] += errors
    result["environment"]["load_before"] = load_before
    result["environment"]["load_after"] = [round(x, 2) for x in os.getloadavg()]
    options.out.mkdir(parents=True, exist_ok=True)
    (options.out / "bench.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    (options.out / "bench.md").write_text(markdown.render(result))
    return result


def references(options: Options, work: Path) -> tuple[dict[str, Any], list[str]]:
    """Ours against dice-ml (``counterfactuals_vs_dice``) and alibi's ``AnchorText``
    (``text``), unless skipped; each starts and stops its own servers, logging under
    ``work``. A comparison that fails is an error of the report, and the run goes on."""
    found: dict[str, Any] = {}
    errors: list[str] = []
    steps: list[tuple[str, str, bool, Callable[[], dict[str, Any]]]] = [
        (
            "counterfactuals_vs_dice",
            "counterfactuals against dice-ml",
            options.skip_dice,
            lambda: counterfactuals.measure(
                counterfactuals.Settings(options.applicants, seed=options.seed, out=work)
            ),
        ),
        (
            "text",
            "text anchors against alibi's AnchorText",
            options.skip_text,
            lambda: text.measure(options.text_reviews, work),
        ),
    ]
    for key, name, skipped, compare in steps:
        if skipped:
            continue
        print(f"{name} ...", flush=True)
        try:
            found[key] = compare()
        except Exception as exc:  # recorded in the report; the run goes on
            errors.append(f"{name} failed: {exc}")
    return found, errors


@contextlib.contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so every started server is stopped."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# --- before the servers -------------------------------------------------------------------


def prepare(options: Options) -> Prepared:
    """Data, model, the service's reference CSV, and the inputs of ``bench.fit_alibi``."""
    work = options.out / "run"
    shutil.rmtree(work, ignore_errors=True)
    (work / "logs").mkdir(parents=True)
    print("data and model ...", flush=True)
    dataset = data.load(options.seed, options.reference_rows)
    model = work / "model" / "model.joblib"
    _, accuracy = data.train(dataset, model, options.seed)
    reference_csv = work / "reference.csv"
    frame = dataset.frame(dataset.reference).assign(**{data.TARGET: dataset.reference_labels})
    frame.to_csv(reference_csv, index=False)
    background = _background(dataset.reference, options.background_size)
    alibi_dir = work / "alibi"
    alibi_dir.mkdir()
    spec = {
        "features": data.FEATURES,
        "categories": dataset.categories,
        "seed": options.seed,
        "disc_perc": list(options.disc_perc),
    }
    (alibi_dir / "spec.json").write_text(json.dumps(spec, indent=2))
    np.save(alibi_dir / "reference.npy", dataset.reference)
    np.savez(alibi_dir / "background.npz", data=background.data, weights=background.weights)
    shutil.copy(model, alibi_dir / "model.joblib")
    return Prepared(work, dataset, accuracy, model, reference_csv, background, alibi_dir)


def _background(reference: np.ndarray, size: int) -> Any:
    """shap's k-means summary of the reference rows, as MLServer's documentation fits
    ``kernel_shap`` (the service picks real rows itself)."""
    import shap

    return shap.kmeans(reference, min(size, len(reference)))


# --- the servers --------------------------------------------------------------------------


def start(options: Options, prepared: Prepared, stack: contextlib.ExitStack) -> Servers:
    """Every server, ready; each is stopped when ``stack`` closes."""
    logs = prepared.work / "logs"

    def started(server: Server) -> Server:
        stack.callback(server.stop)
        return server

    venv = options.model_venv if options.skip_mlserver else options.venv
    model_server = started(
        mlserver.model_server(
            venv, prepared.work / "model-repo", prepared.model, logs / "model-server.log"
        )
    )
    model_base = model_server.ready_url.split("/v2/")[0]
    proxies = {name: started(_proxy(name, model_base, logs)) for name in ("ours", "mlserver")}
    fit = None if options.skip_mlserver else _fit_alibi(options, prepared, stack)
    print("starting MLServer (model), the proxies and the explainer service ...", flush=True)
    model_server.wait_ready(START_TIMEOUT_S)
    for proxy in proxies.values():
        proxy.wait_ready(60)
    bases = {name: p.ready_url.removesuffix("/_bench/stats") for name, p in proxies.items()}
    infer = f"/v2/models/{mlserver.MODEL_NAME}/infer"
    service = started(_service(options, prepared, bases["ours"] + infer, logs))

    theirs = None
    if fit is not None:
        if fit.wait() != 0:
            raise RuntimeError(f"fitting alibi's explainers failed; see {logs / 'fit-alibi.log'}")
        print("starting MLServer (alibi-explain) ...", flush=True)
        explainer = started(
            mlserver.explainer_server(
                options.venv,
                prepared.work / "explainer-repo",
                prepared.alibi_dir,
                bases["mlserver"] + infer,
                logs / "mlserver-explainer.log",
                options.mlserver_workers,
            )
        )
        base = explainer.ready_url.split("/v2/")[0]
        for name in (mlserver.ANCHORS_NAME, mlserver.SHAP_NAME):
            explainer.ready_url = f"{base}/v2/models/{name}/ready"
            explainer.wait_ready(START_TIMEOUT_S)
        theirs = MLServerExplainers(base, Proxy(bases["mlserver"]), options.threshold)
    service.wait_ready(START_TIMEOUT_S)
    service_base = service.ready_url.removesuffix("/health/ready")
    return Servers(
        model_url=model_base + infer,
        counted_url=bases["ours"] + infer,
        ours=Ours(service_base, Proxy(bases["ours"])),
        theirs=theirs,
    )


def _proxy(name: str, upstream: str, logs: Path) -> Server:
    port = free_port()
    return Server(
        f"proxy ({name})",
        [sys.executable, "-m", "bench.proxy", "--port", str(port), "--upstream", upstream],
        f"http://127.0.0.1:{port}/_bench/stats",
        logs / f"proxy-{name}.log",
        cwd=ROOT,
    )


def _fit_alibi(
    options: Options, prepared: Prepared, stack: contextlib.ExitStack
) -> subprocess.Popen[bytes]:
    print("fitting alibi's explainers in .venv-bench ...", flush=True)
    with open(prepared.work / "logs" / "fit-alibi.log", "wb") as log:
        fit = subprocess.Popen(
            [options.venv / "bin" / "python", "-m", "bench.fit_alibi", prepared.alibi_dir],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    stack.callback(lambda: fit.poll() is None and fit.kill())
    return fit


def _service(options: Options, prepared: Prepared, model_url: str, logs: Path) -> Server:
    """``explainer-service serve`` from the interpreter's own environment (the main .venv)."""
    port = free_port()
    config = ours.write_config(
        prepared.work / "explainer.yaml",
        ours.config(
            model_url=model_url,
            reference=prepared.reference_csv,
            categories=prepared.dataset.categories,
            store=prepared.work / "explanations.sqlite",
            threshold=options.threshold,
            shap_nsamples=options.shap_nsamples,
            background_size=options.background_size,
        ),
    )
    command = Path(sys.executable).parent / "explainer-service"
    args = [command, "serve", "--config", config, "--host", "127.0.0.1", "--port", str(port)]
    return Server(
        "explainer service",
        [*args, "--log-level", "warning"],
        f"http://127.0.0.1:{port}/health/ready",
        logs / "explainer-service.log",
        cwd=ROOT,
    )


# --- the measurements ---------------------------------------------------------------------


def measure(options: Options, prepared: Prepared, servers: Servers) -> dict[str, Any]:
    """Every phase, then the report (as JSON-able data)."""
    dataset, service, theirs = prepared.dataset, servers.ours, servers.theirs
    print("scoring the evaluation set ...", flush=True)
    with httpx.Client(timeout=TIMEOUT) as client:
        predicted = score(client, servers.model_url, dataset.evaluation).argmax(axis=1)
    picked = data.pick_applicants(predicted, options.applicants // 2, options.seed)
    rows = [dataset.evaluation[i].tolist() for i in picked]
    classes = [int(predicted[i]) for i in picked]
    spare = next(i for i in range(len(predicted)) if i not in set(picked.tolist()))
    spare_row = dataset.evaluation[spare].tolist()

    payload = _choose_payload(service, spare_row, options.payload)
    in_process = phases.kernel_shap_in_process(
        servers.counted_url, prepared.background, options.shap_nsamples, options.seed
    )
    warm = phases.warm_up(
        _warm_up_calls(service, theirs, in_process, spare_row, int(predicted[spare]), options)
    )
    explainers: list[Any] = [service, *([theirs] if theirs else [])]
    seeds = {"latency": options.seed + 1, "t1": options.seed + 2, "tn": options.seed + 3}
    latency = phases.anchors_latency(explainers, rows, seeds["latency"])
    repeated = phases.repeat(service, rows, seeds["latency"])
    runs: dict[str, dict[str, Any]] = {}
    for clients, seed, order in (
        (1, seeds["t1"], explainers),
        (options.clients, seeds["tn"], explainers[::-1]),
    ):
        runs[str(clients)] = {e.name: phases.throughput(e, rows, seed, clients) for e in order}
    seed_stability, by_seeds = {}, {}
    for e in explainers:
        by_seed = {
            seeds["latency"]: [stability.rule_of(o, e.name) for o in latency[e.name]],
            seeds["t1"]: runs["1"][e.name]["rules"],
            seeds["tn"]: runs[str(options.clients)][e.name]["rules"],
        }
        by_seed.update(stability.more_seeds(e, rows, [options.seed, options.seed + 4]))
        seed_stability[e.name] = stability.summarise(by_seed)
        by_seeds[e.name] = by_seed
    shap_outcomes = phases.shap_comparison(
        service, theirs, in_process, rows, classes, options.seed, options.shap_nsamples
    )
    cf_outcomes = phases.counterfactuals(service, rows, options.seed)
    with httpx.Client(timeout=TIMEOUT) as client:
        rescored = [_rescore(client, servers.model_url, o, dataset.categories) for o in cf_outcomes]

    judges = [
        evaluation.Judge(data.FEATURES, dataset.categories, dataset.evaluation, predicted, k)
        for k in classes
    ]
    for name, by_seed in by_seeds.items():
        seed_stability[name]["precision"] = stability.precision_over_seeds(
            by_seed, judges, options.threshold
        )
    applicants = [
        {
            "index": int(index),
            "predicted": data.CLASS_NAMES[k],
            "row": rows[i],
            "anchors": {
                name: records.anchor_record(outcomes[i], name, judges[i])
                for name, outcomes in latency.items()
            },
            "repeat": records.base_record(repeated[i]),
            "shap": records.shap_records({n: o[i] for n, o in shap_outcomes.items()}, k),
            "counterfactual": records.counterfactual_record(
                cf_outcomes[i], data.CLASS_NAMES, k, rescored[i]
            ),
        }
        for i, (index, k) in enumerate(zip(picked.tolist(), classes, strict=True))
    ]
    return _assemble(options, prepared, payload, warm, seeds, applicants, runs, seed_stability)


def _assemble(
    options: Options,
    prepared: Prepared,
    payload: dict[str, Any],
    warm: dict[str, Outcome],
    seeds: dict[str, int],
    applicants: list[dict[str, Any]],
    runs: dict[str, dict[str, Any]],
    seed_stability: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    anchors: dict[str, Any] = {
        name: records.summarise_anchors([a["anchors"][name] for a in applicants], options.threshold)
        for name in applicants[0]["anchors"]
    }
    for name, summary in seed_stability.items():
        anchors[name]["seed_stability"] = summary
    anchors["ratios"] = records.ratios(anchors["ours"], anchors.get("mlserver"))
    throughput: dict[str, Any] = {}
    for n, by_name in runs.items():
        throughput[n] = {name: records.throughput_summary(r) for name, r in by_name.items()}
        throughput[n]["ratio"] = stats.ratio(
            records.dig(throughput[n], "ours", "per_second"),
            records.dig(throughput[n], "mlserver", "per_second"),
        )
    errors = []
    if payload.get("fp64") not in (None, "accepted"):
        errors.append(f"ours refuses the FP64 tensor payload: {payload['fp64']}")
    notes = list(NOTES)
    if payload["sent"] != "FP64":
        notes.insert(
            0,
            "Ours was sent INT64 tensors (the same whole numbers): it refused FP64. "
            "MLServer's alibi-explain always receives FP64.",
        )
    if options.skip_mlserver:
        notes.insert(0, "MLServer's alibi-explain was skipped (--skip-mlserver): ours only.")
    if not options.skip_dice:
        notes.append(DICE_NOTE)
    if not options.skip_text:
        notes.append(TEXT_NOTE)
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(options).items()}
    return {
        "environment": environment.describe(
            ROOT,
            Path(sys.executable),
            (options.model_venv if options.skip_mlserver else options.venv) / "bin" / "python",
        ),
        "settings": {
            **settings,
            "model_accuracy": prepared.accuracy,
            "training_rows": len(prepared.dataset.train),
            "evaluation_rows": len(prepared.dataset.evaluation),
            "seeds": seeds,
        },
        "payload": payload,
        "warm_up": {n: {"seconds": o.seconds, "error": o.error} for n, o in warm.items()},
        "anchors": anchors,
        "throughput": throughput,
        "cache": records.repeat_summary([a["repeat"] for a in applicants]),
        "shap": records.summarise_shap([a["shap"] for a in applicants]),
        "counterfactuals": records.summarise_counterfactuals(
            [a["counterfactual"] for a in applicants]
        ),
        "applicants": applicants,
        "errors": errors + records.error_list(applicants, runs),
        "notes": notes,
    }


NOTES = [
    "Ratios are ours / MLServer's (ours / in-process shap): below 1, ours is faster or "
    "cheaper; for throughput, above 1 means ours explains more per second.",
    "Each explainer calls the one model server through its own counting proxy "
    "(bench/proxy.py); model calls and rows are counted there, the same way for both.",
    "Rule length counts predicates; a numeric range `a < x <= b` counts as its two bounds.",
    "Precision re-measured: of the evaluation rows (census rows used to fit neither the model "
    "nor the explainers) that satisfy the rule, the share the model gives the applicant's "
    "predicted class. Coverage: the share of evaluation rows that satisfy the rule.",
    "Throughput: every applicant explained once with anchors, by 1 and by N concurrent "
    "clients; ours gets a different seed per phase, so it computes instead of answering "
    "from its store. Liveness is polled every 50 ms during each explainer's runs.",
    "In-process shap sends the model batches of 2,000 rows one after another; the service "
    "splits at its max_batch_rows (2,000) and sends up to 4 at once.",
    "MLServer's kernel_shap explains every class from the same model calls; the values of "
    "the applicant's predicted class are compared.",
    "Counterfactuals (ours only): each one returned is re-scored by the model; valid when the "
    "model gives it the desired class.",
]


DICE_NOTE = (
    "Counterfactuals against dice-ml: the income example's model server and the service "
    "(its configuration), dice-ml's genetic search in .venv-reference told the constraints it "
    "can take (immutable features, ranges, directions; not the education link, not '?'); "
    "each counterfactual re-scored by the model; distance as `proximity` measures it."
)
TEXT_NOTE = (
    "Text anchors against alibi 0.9.4's AnchorText (unknown sampling, spacy.blank('en'), in "
    ".venv-reference) on the reviews example's model server; held-out precision: of the "
    "held-out reviews holding every anchor word, the share the model gives the review's class."
)


def _choose_payload(service: Ours, row: list[float], choice: str) -> dict[str, Any]:
    """Which tensor the service is sent: FP64, as a tensor model is called; with ``auto``,
    INT64 (the same whole numbers) when the service refuses the FP64 payload itself (422)."""
    probe: dict[str, Any] = {"requested": choice}
    service.datatype = "INT64" if choice == "int64" else "FP64"
    if choice != "int64":
        with httpx.Client(timeout=TIMEOUT) as client:
            outcome = service.explain(client, "shap", row, seed=987654)
        probe["fp64"] = "accepted" if outcome.ok else outcome.error
        if not outcome.ok and choice == "auto" and outcome.status == 422:
            service.datatype = "INT64"
    probe["sent"] = service.datatype
    return probe


def _warm_up_calls(
    service: Ours,
    theirs: MLServerExplainers | None,
    in_process: Callable[[httpx.Client, list[float], int], Outcome],
    row: list[float],
    class_index: int,
    options: Options,
) -> list[tuple[str, Callable[[httpx.Client], Outcome]]]:
    seed = options.seed + 100
    calls: list[tuple[str, Callable[[httpx.Client], Outcome]]] = [
        (
            "ours anchors, each worker",
            lambda c: _each_worker(lambda w: service.anchors(w, row, seed)),
        ),
        (
            "ours shap, each worker",
            lambda c: _each_worker(lambda w: service.explain(w, "shap", row, seed=seed)),
        ),
        (
            "ours counterfactual, each worker",
            lambda c: _each_worker(lambda w: service.explain(w, "counterfactual", row, seed=seed)),
        ),
        ("in-process shap", lambda c: in_process(c, row, class_index)),
    ]
    if theirs is not None:
        calls += [
            ("mlserver anchors", lambda c: theirs.anchors(c, row, seed)),
            ("mlserver shap", lambda c: theirs.shap(c, row, options.shap_nsamples)),
        ]
    return calls


def _each_worker(call: Callable[[httpx.Client], Outcome]) -> Outcome:
    """``call`` made by ``ours.WORKERS`` clients at once, so each of the service's workers
    takes one (a worker's first explanation of a method imports its libraries); the first
    client's outcome."""

    def one(_: int) -> Outcome:
        with httpx.Client(timeout=TIMEOUT) as client:
            return call(client)

    with ThreadPoolExecutor(ours.WORKERS) as pool:
        outcomes = list(pool.map(one, range(ours.WORKERS)))
    return outcomes[0]


def _rescore(
    client: httpx.Client, url: str, outcome: Outcome, categories: dict[str, list[str]]
) -> list[int]:
    """The model's class for each counterfactual in ours' answer (none when it failed)."""
    if not outcome.ok:
        return []
    try:
        rows = records.counterfactual_rows(outcome.body, data.FEATURES, categories)
    except (KeyError, TypeError, ValueError):
        return []
    if not rows:
        return []
    return [int(k) for k in score(client, url, np.asarray(rows)).argmax(axis=1)]
