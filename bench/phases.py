"""The measurements, one function each; every one returns raw numbers, no summaries.

Explanations within a phase run one at a time per explainer unless the phase says
otherwise, so the counting proxies attribute every model call to one explanation.
"""

from __future__ import annotations

import queue
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import httpx
import numpy as np
from tqdm import tqdm

from bench import stability
from bench.clients import TIMEOUT, MLServerExplainers, Ours, Outcome, Proxy, score


class AnchorExplainer(Protocol):
    name: str
    proxy: Proxy
    live_url: str

    def anchors(self, client: httpx.Client, row: list[float], seed: int) -> Outcome: ...


Call = Callable[[httpx.Client, int], Outcome]  # (client, applicant number) -> outcome


def counted(proxy: Proxy, call: Call) -> Call:
    """``call`` with the model calls and rows it causes, counted at ``proxy``."""
    return lambda client, i: proxy.counted(lambda: call(client, i))


def interleaved(
    contenders: Sequence[tuple[str, Call]],
    count: int,
    desc: str,
) -> dict[str, list[Outcome]]:
    """Each contender once per item ``0..count-1``, rotating who goes first."""
    results: dict[str, list[Outcome]] = {name: [] for name, _ in contenders}
    with httpx.Client(timeout=TIMEOUT) as client:
        for i in tqdm(range(count), desc=desc, unit="applicant"):
            shift = i % len(contenders)
            for name, call in [*contenders[shift:], *contenders[:shift]]:
                results[name].append(call(client, i))
    return results


def anchors_latency(
    explainers: Sequence[AnchorExplainer], rows: Sequence[list[float]], seed: int
) -> dict[str, list[Outcome]]:
    """One anchors explanation per applicant and explainer, interleaved, counted."""

    def explain(e: AnchorExplainer) -> Call:
        return counted(e.proxy, lambda client, i: e.anchors(client, rows[i], seed))

    return interleaved([(e.name, explain(e)) for e in explainers], len(rows), "anchors")


def repeat(explainer: Ours, rows: Sequence[list[float]], seed: int) -> list[Outcome]:
    """The same anchors requests again (the service answers them from its store)."""
    call = counted(explainer.proxy, lambda client, i: explainer.anchors(client, rows[i], seed))
    return interleaved([("repeat", call)], len(rows), "repeat")["repeat"]


class HealthPoller:
    """GET ``url`` every ``interval`` seconds in a thread, keeping each latency."""

    def __init__(self, url: str, interval: float = 0.05, timeout: float = 10.0) -> None:
        self.url, self.interval, self.timeout = url, interval, timeout
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> HealthPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        with httpx.Client(timeout=self.timeout) as client:
            while not self._stop.is_set():
                start = time.perf_counter()
                try:
                    status = client.get(self.url).status_code
                    if status != 200:
                        self.failures.append(f"HTTP {status}")
                except httpx.HTTPError as exc:
                    self.failures.append(type(exc).__name__)
                elapsed = time.perf_counter() - start
                self.latencies.append(elapsed)
                self._stop.wait(max(0.0, self.interval - elapsed))

    def summary(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "polls": len(self.latencies),
            "failures": len(self.failures),
            "max_s": max(self.latencies) if self.latencies else None,
            "median_s": statistics.median(self.latencies) if self.latencies else None,
        }


def throughput(
    explainer: AnchorExplainer, rows: Sequence[list[float]], seed: int, clients: int
) -> dict[str, Any]:
    """Every applicant explained once by ``clients`` concurrent callers; wall time, model
    calls and rows for the whole run, and the explainer's liveness polled meanwhile."""
    work: queue.Queue[int] = queue.Queue()
    for i in range(len(rows)):
        work.put(i)
    outcomes: list[Outcome | None] = [None] * len(rows)
    bar = tqdm(total=len(rows), desc=f"{explainer.name}, {clients} client(s)", unit="expl")

    def caller() -> None:
        with httpx.Client(timeout=TIMEOUT) as client:
            while True:
                try:
                    i = work.get_nowait()
                except queue.Empty:
                    return
                outcomes[i] = explainer.anchors(client, rows[i], seed)
                bar.update()

    explainer.proxy.reset()
    with HealthPoller(explainer.live_url) as poller:
        start = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            futures = [pool.submit(caller) for _ in range(clients)]
            try:
                for future in futures:
                    future.result()
            except BaseException:  # Ctrl-C: callers finish what they hold, take no more
                while not work.empty():
                    work.get_nowait()
                raise
        wall = time.perf_counter() - start
    bar.close()
    counts = explainer.proxy.stats()
    done = [o for o in outcomes if o is not None]
    return {
        "clients": clients,
        "explanations": len(done),
        "ok": sum(o.ok for o in done),
        "errors": [o.error for o in done if not o.ok],
        "seconds": wall,
        "latencies_s": [o.seconds for o in done],
        "model_calls": counts["calls"],
        "model_rows": counts["rows"],
        "health": poller.summary(),
        "rules": [None if o is None else stability.rule_of(o, explainer.name) for o in outcomes],
    }


def shap_comparison(
    ours: Ours,
    theirs: MLServerExplainers | None,
    in_process: Callable[[httpx.Client, list[float], int], Outcome],
    rows: Sequence[list[float]],
    classes: Sequence[int],
    seed: int,
    nsamples: int,
) -> dict[str, list[Outcome]]:
    """SHAP values per applicant from the service, from ``in_process`` (shap's
    KernelExplainer in this process, calling the same model over HTTP) and from MLServer's
    kernel_shap, interleaved and counted."""
    contenders: list[tuple[str, Call]] = [
        ("ours", counted(ours.proxy, lambda c, i: ours.explain(c, "shap", rows[i], seed=seed))),
        ("in_process", counted(ours.proxy, lambda c, i: in_process(c, rows[i], classes[i]))),
    ]
    if theirs is not None:
        shap = counted(theirs.proxy, lambda c, i: theirs.shap(c, rows[i], nsamples))
        contenders.append(("mlserver", shap))
    return interleaved(contenders, len(rows), "shap")


def kernel_shap_in_process(
    model_url: str, background: Any, nsamples: int, seed: int
) -> Callable[[httpx.Client, list[float], int], Outcome]:
    """shap's ``KernelExplainer`` over ``background`` (a shap ``DenseData``) for one class's
    probability, the model called over HTTP in batches of 2,000 rows; built per call, as the
    service builds it per explanation. ``body``: ``{"values", "base_value"}``."""
    import shap

    def explain(client: httpx.Client, row: list[float], class_index: int) -> Outcome:
        def f(matrix: np.ndarray) -> np.ndarray:
            return score(client, model_url, matrix)[:, class_index]

        start = time.perf_counter()
        try:
            np.random.seed(seed)
            explainer = shap.KernelExplainer(f, background, link="identity")
            values = explainer.shap_values(
                np.asarray([row], dtype=float), nsamples=nsamples, l1_reg=False, silent=True
            )
        except (httpx.HTTPError, ValueError) as exc:
            return Outcome(time.perf_counter() - start, None, None, f"{type(exc).__name__}: {exc}")
        seconds = time.perf_counter() - start
        base = float(np.asarray(explainer.expected_value).reshape(-1)[0])
        body = {"values": np.asarray(values).reshape(-1).tolist(), "base_value": base}
        return Outcome(seconds, 200, body, None)

    return explain


def counterfactuals(ours: Ours, rows: Sequence[list[float]], seed: int) -> list[Outcome]:
    """One counterfactual explanation per applicant from the service, counted."""
    call = counted(
        ours.proxy, lambda client, i: ours.explain(client, "counterfactual", rows[i], seed=seed)
    )
    return interleaved([("counterfactual", call)], len(rows), "counterfactuals")["counterfactual"]


def warm_up(calls: Sequence[tuple[str, Callable[[httpx.Client], Outcome]]]) -> dict[str, Outcome]:
    """Each call once, on a row outside the applicants (first calls pay for imports,
    connections and worker start-up); kept apart from the measurements."""
    with httpx.Client(timeout=TIMEOUT) as client:
        return {name: call(client) for name, call in tqdm(calls, desc="warm-up", unit="call")}
