"""``RemoteModel``: rows in, scores out, by calling the model's predict URL."""

from __future__ import annotations

import collections
import json
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np

from explainer_service.errors import (
    CodecError,
    ModelError,
    ModelResponseError,
    ModelTimeoutError,
    ModelUnavailableError,
    PayloadError,
    ProtocolMismatchError,
)
from explainer_service.model_client.codecs import Codec, Rows, make_codec
from explainer_service.model_client.codecs.base import normalise_rows
from explainer_service.model_client.scores import interpret
from explainer_service.observability import context
from explainer_service.settings import ModelSettings
from explainers.errors import ModelOutputError

#: Sent with every call, so request loggers can leave synthetic traffic out of prediction logs.
SKIP_LOGGING_HEADER = "Seldon-Skip-Logging"
RETRY_STATUSES = frozenset({502, 503})
#: How many durations of single requests ``take_durations`` keeps between two reads (the
#: latest); the default budget allows an explanation 5,000 requests.
MAX_DURATIONS = 10_000


def synthetic_headers(settings: ModelSettings) -> dict[str, str]:
    """The headers of every call the service makes to the model: ``model.headers`` and
    ``Seldon-Skip-Logging: true``."""
    return {**settings.headers, SKIP_LOGGING_HEADER: "true"}


@dataclass(frozen=True)
class _Failure:
    """What an httpx error means for a call to the model: the ``ModelError`` it becomes, its
    public message (``{attempts}``, ``{timeout_s}`` filled in), and whether it is retried."""

    error: type[ModelError]
    public: str
    retried: bool


_UNREACHABLE = _Failure(
    ModelUnavailableError, "the model is unreachable after {attempts} attempt(s)", retried=True
)
_UNSENDABLE = _Failure(ModelError, "the request to the model cannot be sent", retried=False)

#: httpx's errors, by class (looked up along the MRO, as httpx maps httpcore's): every
#: ``TransportError`` (connecting, sending, reading, timeouts) and ``DecodingError`` (a body
#: its ``Content-Encoding`` does not decode) becomes a ``ModelError`` here.
HTTPX_ERRORS: dict[type[Exception], _Failure] = {
    httpx.TransportError: _UNREACHABLE,
    httpx.NetworkError: _UNREACHABLE,  # ConnectError, ReadError, WriteError, CloseError
    httpx.RemoteProtocolError: _UNREACHABLE,  # e.g. closed before or while answering
    httpx.ProxyError: _UNREACHABLE,
    httpx.TimeoutException: _Failure(
        ModelTimeoutError, "the model did not answer within {timeout_s} s", retried=False
    ),
    httpx.LocalProtocolError: _UNSENDABLE,  # e.g. a header value HTTP does not allow
    httpx.UnsupportedProtocol: _UNSENDABLE,
    httpx.DecodingError: _Failure(
        ModelResponseError,
        "the model's answer cannot be decoded (its Content-Encoding does not match its body)",
        retried=False,
    ),
}


def _failure(exc: Exception) -> _Failure:
    for cls in type(exc).__mro__:
        if cls in HTTPX_ERRORS:
            return HTTPX_ERRORS[cls]
    return _UNREACHABLE


class _AnswerTooLarge(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


@dataclass
class CallStats:
    """What calling the model has cost: HTTP calls (retries included), rows sent, seconds."""

    calls: int = 0
    rows: int = 0
    seconds: float = 0.0
    failures: int = 0

    def copy(self) -> CallStats:
        return CallStats(self.calls, self.rows, self.seconds, self.failures)

    def __add__(self, other: CallStats) -> CallStats:
        return CallStats(
            self.calls + other.calls,
            self.rows + other.rows,
            self.seconds + other.seconds,
            self.failures + other.failures,
        )

    def __sub__(self, other: CallStats) -> CallStats:
        return CallStats(
            self.calls - other.calls,
            self.rows - other.rows,
            self.seconds - other.seconds,
            self.failures - other.failures,
        )


class RemoteModel:
    """A model known only by its predict URL and protocol.

    One pooled keep-alive ``httpx.Client`` serves every call. Batches larger than
    ``max_batch_rows`` are split into chunks, ``concurrency`` of them in flight at once, and
    the scores come back in row order. Refused or reset connections and 502/503 answers are
    retried ``retries`` times with exponential backoff; a call that takes longer than
    ``timeout_s`` fails at once. Every httpx error becomes a ``ModelError`` here
    (``HTTPX_ERRORS``). Thread-safe: explanations may share one instance.

    Every HTTP request is counted: ``stats`` for the whole instance, ``thread_stats()`` for
    the requests made on behalf of the calling thread (its chunks are counted there even
    though pool threads send them), which is what an explanation's cost reads.
    ``take_durations()`` gives the seconds of each request, for a latency histogram.

    Raises the ``ModelError`` subclasses of ``explainer_service.errors``; rows that cannot
    be sent (wrong length, NaN) raise ``PayloadError``.
    """

    def __init__(
        self,
        settings: ModelSettings,
        feature_names: Sequence[str],
        *,
        transport: httpx.BaseTransport | None = None,
        text: bool = False,
        label: str | None = None,
    ) -> None:
        """``text``: the one feature is a text, sent in the protocol's form for strings
        (``codecs.text``). ``label``: which model this is, put before the message of every
        error its answers raise (``ModelError``, ``ModelOutputError``) when it is not the
        service's ``model`` (``settings.candidate_label``)."""
        self.settings = settings
        self.label = label
        self.url = str(settings.url)
        self.codec: Codec = make_codec(settings, feature_names, text=text)
        self.n_features = len(feature_names)
        self._http = httpx.Client(
            headers=synthetic_headers(settings),
            timeout=httpx.Timeout(settings.timeout_s),
            limits=httpx.Limits(
                max_connections=settings.concurrency * 4,
                max_keepalive_connections=settings.concurrency * 4,
            ),
            transport=transport,
        )
        self._pool = ThreadPoolExecutor(settings.concurrency, thread_name_prefix="model-call")
        self._lock = threading.Lock()
        self._stats = CallStats()
        self._durations: collections.deque[float] = collections.deque(maxlen=MAX_DURATIONS)
        self._local = threading.local()

    # --- public ------------------------------------------------------------------------

    @property
    def stats(self) -> CallStats:
        """A snapshot of the cumulative cost."""
        with self._lock:
            return self._stats.copy()

    def thread_stats(self) -> CallStats:
        """A snapshot of the cumulative cost of the ``predict`` calls made by this thread."""
        mine: CallStats = getattr(self._local, "stats", CallStats())
        return mine.copy()

    def take_durations(self) -> list[float]:
        """The seconds of each HTTP request made since the last call (chunks and retries
        each count; at most ``MAX_DURATIONS``, the latest), oldest first."""
        with self._lock:
            taken = list(self._durations)
            self._durations.clear()
        return taken

    def predict(self, rows: Sequence[Sequence[Any]] | np.ndarray) -> np.ndarray:
        """Scores for ``rows`` (n, d) of wire values in feature order; see ``scores.interpret``."""
        try:
            checked = normalise_rows(rows, self.n_features)
        except CodecError as exc:
            raise PayloadError(exc.message, field=exc.field) from None
        if not checked:
            n_classes = len(self.settings.class_names or ()) or 2
            return interpret(np.empty((0, n_classes)), self.settings.output, 0, n_classes)
        size = self.settings.max_batch_rows
        chunks = [checked[i : i + size] for i in range(0, len(checked), size)]
        spent = CallStats()  # this call's requests, wherever they are sent from
        trace = context.forwarded()  # read here: the pool's threads have other contexts
        try:
            if len(chunks) == 1:
                return self._call(chunks[0], spent, trace)
            return np.concatenate(
                list(self._pool.map(lambda c: self._call(c, spent, trace), chunks))
            )
        except ModelError as exc:
            if self.label is None:
                raise
            raise exc.named(self.label) from None
        except ModelOutputError as exc:
            if self.label is None:
                raise
            raise ModelOutputError(f"{self.label}: {exc.message}", exc.sent) from None
        finally:
            with self._lock:
                spent = spent.copy()
            self._local.stats = self.thread_stats() + spent

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._http.close()

    def __enter__(self) -> RemoteModel:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- one HTTP call ------------------------------------------------------------------

    def _call(self, rows: Rows, spent: CallStats, trace: dict[str, str]) -> np.ndarray:
        content = json.dumps(
            self.codec.encode_request(rows), allow_nan=False, ensure_ascii=False
        ).encode()
        response = self._post(content, len(rows), spent, trace)
        try:
            body = response.json()
        except ValueError:
            raise ProtocolMismatchError(
                "the model did not answer JSON",
                url=self.url,
                status=response.status_code,
                body=response.text,
            ) from None
        try:
            n_classes = len(self.settings.class_names) if self.settings.class_names else None
            return interpret(
                self.codec.decode_response(body),
                self.settings.output,
                len(rows),
                n_classes,
                self.settings.probability_tolerance,
            )
        except CodecError as exc:
            raise ProtocolMismatchError(
                f"the model's answer is not a {self.settings.protocol} {self.settings.output} "
                "answer",
                url=self.url,
                status=response.status_code,
                body=response.text,
                cause=exc.message,
            ) from None

    def _post(
        self, content: bytes, n_rows: int, spent: CallStats, trace: dict[str, str]
    ) -> httpx.Response:
        attempts = self.settings.retries + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            started = time.perf_counter()
            try:
                response = self._send(content, trace)
            except _AnswerTooLarge as exc:
                self._count(n_rows, started, spent, failed=True)
                raise ModelResponseError(
                    f"the model's answer is larger than {self.settings.max_response_bytes} "
                    "bytes (model.max_response_bytes)",
                    url=self.url,
                    status=exc.status,
                ) from None
            except (httpx.TransportError, httpx.DecodingError) as exc:
                self._count(n_rows, started, spent, failed=True)
                failure = _failure(exc)
                if last or not failure.retried:
                    public = failure.public.format(
                        attempts=attempt + 1, timeout_s=self.settings.timeout_s
                    )
                    cause = f"{type(exc).__name__}: {exc}".rstrip(": ")
                    raise failure.error(public, url=self.url, cause=cause) from None
            else:
                failed = response.status_code >= 300  # a redirect is not the model's answer
                self._count(n_rows, started, spent, failed=failed)
                if not failed:
                    return response
                if response.is_redirect:
                    where = response.headers.get("location", "(none)")
                    raise ModelUnavailableError(
                        f"the model answered HTTP {response.status_code}, a redirect, not an "
                        "answer: model.url must be the predict URL itself",
                        url=self.url,
                        status=response.status_code,
                        cause=f"Location: {where}",
                    )
                if response.status_code not in RETRY_STATUSES or last:
                    error = (
                        ModelUnavailableError if response.status_code == 503 else ModelResponseError
                    )
                    raise error(
                        f"the model answered HTTP {response.status_code}",
                        url=self.url,
                        status=response.status_code,
                        body=response.text,
                    )
            time.sleep(self.settings.backoff_s * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(self, content: bytes, trace: dict[str, str]) -> httpx.Response:
        """POST ``content`` and read the answer, at most ``max_response_bytes`` of it
        (decompressed): a larger one raises ``_AnswerTooLarge`` before it is all in memory.

        ``timeout_s`` bounds each read (httpx) and also the whole answer: a server that
        sends a byte now and then raises ``httpx.ReadTimeout`` once it is spent."""
        limit = self.settings.max_response_bytes
        headers = {"Content-Type": "application/json", **trace}
        ends = time.monotonic() + self.settings.timeout_s
        with self._http.stream("POST", self.url, content=content, headers=headers) as streamed:
            declared = streamed.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise _AnswerTooLarge(streamed.status_code)
            chunks, size = [], 0
            for chunk in streamed.iter_bytes():
                size += len(chunk)
                if size > limit:
                    raise _AnswerTooLarge(streamed.status_code)
                if time.monotonic() > ends:
                    raise httpx.ReadTimeout("the answer took longer than timeout_s")
                chunks.append(chunk)
        kept = [
            (k, v)
            for k, v in streamed.headers.multi_items()
            if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
        ]
        return httpx.Response(
            streamed.status_code,
            headers=kept,
            content=b"".join(chunks),
            request=streamed.request,
        )

    def _count(self, n_rows: int, started: float, spent: CallStats, *, failed: bool) -> None:
        seconds = time.perf_counter() - started
        with self._lock:
            for stats in (self._stats, spent):
                stats.calls += 1
                stats.rows += n_rows
                stats.seconds += seconds
                stats.failures += int(failed)
            self._durations.append(seconds)
