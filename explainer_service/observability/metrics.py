"""Prometheus metrics of one service: what its explanations cost and how full it is.

Each ``Metrics`` has its own ``CollectorRegistry`` (several applications may live in one
process, as in the tests). Counters and histograms move when an explanation is looked up,
refused or finished (the workers, which call the model, send the duration of each of its
requests back with the answer) and when the access log logs an HTTP request; queue depth,
explanations in flight and worker saturation are read from the service when ``/metrics``
is scraped. Labels take only bounded values: methods that passed validation, error codes,
stages, status classes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder

from explainer_service.errors import problem_of
from explainers import Explanation

#: Explanations take from milliseconds (answered at once) to minutes (``budget.max_seconds``).
BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
#: Error codes that say the model failed, not the request or the service.
MODEL_ERRORS = frozenset(
    {"model_unavailable", "model_timeout", "model_error", "model_output", "protocol_mismatch"}
)


class Metrics:
    """The service's metrics; ``watch(service)`` adds the gauges read at scrape time."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.explanations = Counter(
            "explainer_explanations",
            "Explanations this process computed, by method and status (done, failed)",
            ["method", "status"],
            registry=r,
        )
        self.duration = Histogram(
            "explainer_explanation_duration_seconds",
            "Wall time of an explanation, from a worker starting it to its answer",
            ["method"],
            buckets=BUCKETS,
            registry=r,
        )
        self.stages = Histogram(
            "explainer_explanation_stage_seconds",
            "Seconds an explanation spent waiting for a worker (queue), for the model (model) "
            "and computing (engine: its wall time less the model's)",
            ["method", "stage"],
            buckets=BUCKETS,
            registry=r,
        )
        self.model_call_duration = Histogram(
            "explainer_model_call_duration_seconds",
            "Duration of each HTTP request to the model (every chunk and retry), by the method "
            "of the explanation that made it (readiness: the service's own check)",
            ["method"],
            registry=r,
        )
        self.model_calls = Counter(
            "explainer_model_calls", "Requests to the model by explanations", ["method"], registry=r
        )
        self.model_rows = Counter(
            "explainer_model_rows", "Rows sent to the model by explanations", ["method"], registry=r
        )
        self.model_errors = Counter(
            "explainer_model_errors",
            "Explanations that failed because of the model, by error code",
            ["code"],
            registry=r,
        )
        self.lookups = Counter(
            "explainer_store_lookups",
            "Explanations asked for: hit (answered from the store), joined (waits for the "
            "same computation, here or in another process), miss (computed now)",
            ["result"],
            registry=r,
        )
        self.http_requests = Counter(
            "explainer_http_requests",
            "HTTP requests answered, by status class (2xx, 4xx, 5xx, ...); a client that went "
            "away before sending its body counts as 4xx (499 in the log)",
            ["status"],
            registry=r,
        )
        self.inference_events = Counter(
            "explainer_inference_events",
            "Request loggers' events at POST /inferences (and replayed), by logger (kserve, "
            "seldon, unknown), type (request, response, feedback, unknown) and outcome: "
            "stored, joined, duplicate, conflict (rows already logged otherwise), "
            "dropped_component, dropped_model, dropped_feedback, dropped_synthetic (the "
            "explainers' own calls), refused (4xx), rate_limited",
            ["source", "type", "outcome"],
            registry=r,
        )
        self.inference_rows = Counter(
            "explainer_inference_rows",
            "Rows of the events kept, by logger, type and what writing each did: stored (its "
            "first side), joined (the other side), duplicate, conflict",
            ["source", "type", "outcome"],
            registry=r,
        )
        self.refusals = Counter(
            "explainer_requests_refused",
            "Requests for explanations refused before any work, by error code",
            ["code"],
            registry=r,
        )
        self.connections_closed = Counter(
            "explainer_connections_closed",
            "Connections the HTTP server closed or refused before their request was answered, "
            "by reason: idle_timeout, header_timeout, body_timeout, headers_too_large, busy, "
            "displaced, refused (docs/operations.md#connections)",
            ["reason"],
            registry=r,
        )
        self.agreement = Counter(
            "explainer_inference_agreement",
            "Logged inferences explained by id, by whether the model, asked again, still gave "
            "the logged answer (agrees, differs, not_checked: no answer was logged)",
            ["outcome"],
            registry=r,
        )
        self.fairness_checks = Counter(
            "explainer_fairness_checks",
            "Explanations given a fairness block (features.protected: one flip test each), "
            "by method",
            ["method"],
            registry=r,
        )
        self.fairness_flags = Counter(
            "explainer_fairness_flags",
            "Explanations that flag a protected attribute, by method, attribute and reason: "
            "anchor (in the anchor), shap (its share of |SHAP| reaches fairness.shap_share), "
            "counterfactual (a counterfactual changes it), flip (changing it alone changes "
            "the predicted class)",
            ["method", "attribute", "reason"],
            registry=r,
        )
        self.text_anchor_checks = Counter(
            "explainer_text_anchor_corpus_checks",
            "Text anchors checked on the reference texts that contain their words, by "
            "outcome: met, or not_met (the anchor holds on perturbed texts only)",
            ["outcome"],
            registry=r,
        )
        self.comparisons = Counter(
            "explainer_comparisons",
            "Comparisons with models.candidate: explanations compared (kind explanation) and "
            "logged inferences re-scored (kind inference), by whether the candidate's decision "
            "is the same, changed, or unknown (a regression)",
            ["kind", "outcome"],
            registry=r,
        )
        self.policy_inferences = Counter(
            "explainer_policy_inferences",
            "Complete logged inferences the explanation policy decided about: chosen (some "
            "rule matched) or skipped (none did)",
            ["outcome"],
            registry=r,
        )
        self.policy_jobs = Counter(
            "explainer_policy_jobs",
            "The policy's explanation jobs, by method and outcome: queued, dropped (the "
            "backlog was full), explained, failed",
            ["method", "outcome"],
            registry=r,
        )
        self.policy_backlog = Gauge(
            "explainer_policy_backlog",
            "The policy's jobs waiting or running, in the store (all replicas)",
            registry=r,
        )
        self.policy_lag = Gauge(
            "explainer_policy_lag_seconds",
            "Age of the oldest waiting policy job (0 when none waits)",
            registry=r,
        )
        self.whatif = Counter(
            "explainer_whatif_requests",
            "Requests of the pages' what-if editor: predict (one model call, not stored) and "
            "explain (an explanation started or found)",
            ["kind"],
            registry=r,
        )

    def compared(self, kind: str, outcome: str, calls: int, rows: int, count: int = 1) -> None:
        """Count ``count`` comparisons with models.candidate (``kind``: explanation or
        inference) by ``outcome`` (same or changed decision, unknown), and the requests
        their checks made (under the method label ``compare``)."""
        self.comparisons.labels(kind, outcome).inc(count)
        self.model_calls.labels("compare").inc(calls)
        self.model_rows.labels("compare").inc(rows)

    def checked_agreement(self, outcome: str, calls: int, rows: int) -> None:
        """Count one agreement check and the requests it made to the model (under the
        method label ``agreement``)."""
        self.agreement.labels(outcome).inc()
        self.model_calls.labels("agreement").inc(calls)
        self.model_rows.labels("agreement").inc(rows)

    def watch(
        self,
        *,
        in_flight: Callable[[], float],
        waiting: Callable[[], float],
        limit: Callable[[], float],
        workers: Callable[[], float],
        busy: Callable[[], float],
        unstored: Callable[[], float] = lambda: 0.0,
    ) -> None:
        """Gauges of a service's state, each read when ``/metrics`` is scraped."""
        gauges: dict[str, tuple[str, Callable[[], float]]] = {
            "explainer_explanations_in_flight": (
                "Explanations this process has accepted and not finished (queued or running)",
                in_flight,
            ),
            "explainer_queue_depth": ("Explanations waiting for a worker", waiting),
            "explainer_queue_limit": (
                "service.max_queue: beyond it requests are refused (429 queue_full)",
                limit,
            ),
            "explainer_queue_saturated": (
                "1 when the queue is full (as /health/ready reports), else 0",
                lambda: float(waiting() >= limit()),
            ),
            "explainer_workers": ("Worker processes", workers),
            "explainer_workers_busy": ("Worker processes running an explanation now", busy),
            "explainer_explanations_unstored": (
                "Explanations computed here that the store did not take (it failed), kept in "
                "memory until it does (service.max_unstored at most)",
                unstored,
            ),
        }
        for name, (help, read) in gauges.items():
            Gauge(name, help, registry=self.registry).set_function(read)

    def watch_connections(self, open_now: Callable[[], float]) -> None:
        """The gauge of open HTTP connections, read when ``/metrics`` is scraped."""
        Gauge(
            "explainer_connections_open", "HTTP connections open now", registry=self.registry
        ).set_function(open_now)

    def connection_closed(self, reason: str) -> None:
        self.connections_closed.labels(reason).inc()

    def answered(self, status: int) -> None:
        """Count one HTTP request by its status's class (``RequestIds.on_done``)."""
        self.http_requests.labels(f"{status // 100}xx").inc()

    def inference_event(
        self, source: str, type: str, outcome: str, rows: dict[str, int] | None = None
    ) -> None:
        """Count one logged event, and its rows by what writing each did."""
        self.inference_events.labels(source, type, outcome).inc()
        for row_outcome, count in (rows or {}).items():
            if count:
                self.inference_rows.labels(source, type, row_outcome).inc(count)

    def looked_up(self, result: str) -> None:
        self.lookups.labels(result).inc()

    @contextmanager
    def counting_refusals(self) -> Iterator[None]:
        """Counts an exception raised inside by its error code, and raises it again."""
        try:
            yield
        except Exception as exc:
            self.refusals.labels(problem_of(exc).code).inc()
            raise

    def finished(self, method: str, explanation: Explanation) -> None:
        cost = explanation.cost
        self.explanations.labels(method, "done").inc()
        self.duration.labels(method).observe(cost.seconds)
        if cost.queue_seconds is not None:
            self.stages.labels(method, "queue").observe(cost.queue_seconds)
        self.stages.labels(method, "model").observe(cost.model_seconds)
        self.stages.labels(method, "engine").observe(max(cost.seconds - cost.model_seconds, 0.0))
        self.model_calls.labels(method).inc(cost.model_calls)
        self.model_rows.labels(method).inc(cost.rows)
        corpus_met = getattr(explanation.result, "corpus_met", None)
        if corpus_met is not None:
            self.text_anchor_checks.labels("met" if corpus_met else "not_met").inc()
        fairness = explanation.fairness
        if fairness is not None:
            self.fairness_checks.labels(method).inc()
            for attribute in fairness.attributes:
                for reason in attribute.flags:
                    self.fairness_flags.labels(method, attribute.feature, reason).inc()

    def called_model(self, method: str, seconds: Iterable[float]) -> None:
        """Observe the duration of each request to the model made for ``method``."""
        histogram = self.model_call_duration.labels(method)
        for duration in seconds:
            histogram.observe(duration)

    def failed(self, method: str, code: str) -> None:
        self.explanations.labels(method, "failed").inc()
        if code in MODEL_ERRORS:
            self.model_errors.labels(code).inc()

    def exposition(self, accept: str = "") -> tuple[bytes, str]:
        """The metrics and their content type, in the format the ``Accept`` header asks for
        (as ``prometheus_client``'s own exporters answer): Prometheus's text format 0.0.4
        unless a scraper asks for a newer one or for OpenMetrics."""
        encode, content_type = choose_encoder(accept)
        return encode(self.registry), content_type
