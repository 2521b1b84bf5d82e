"""``ExplainerClient`` (blocking, threads for batches) and ``AsyncExplainerClient`` (asyncio):
the same verbs over the service's HTTP API (``_protocol`` says what they send)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import httpx

from explainer_service.client import _protocol
from explainer_service.client._errors import (
    ClientError,
    ServiceUnreachableError,
    WaitTimeoutError,
)
from explainer_service.client._explanation import Explanation
from explainer_service.client._html import PlotlyJs
from explainer_service.client._results import Batch, Comparison, Fairness
from explainer_service.presentation.vocabulary import Vocabulary
from explainers.explanation import LOCAL_METHODS

if TYPE_CHECKING:
    import pandas as pd

#: How often a batch asks whether an accepted explanation is done.
POLL_S = 0.25
#: Logged inferences asked for in one request (the service's most).
PAGE = 500
#: How many times a request refused with 429 (queue full) is sent again.
QUEUE_RETRIES = 5


def _rows(data: Any) -> tuple[list[Any], list[Any]]:
    """(index labels, rows): a DataFrame's rows as Series, a sequence's items as they are."""
    if hasattr(data, "iterrows"):
        pairs = list(data.iterrows())
        return [k for k, _ in pairs], [row for _, row in pairs]
    items = list(data)
    return list(range(len(items))), items


def _retry_after(response: httpx.Response) -> float:
    """Seconds to wait before sending a request refused with 429 again."""
    text = response.headers.get("retry-after", "")
    return float(text) if text.isdigit() else 1.0


def _progress(total: int, method: str, show: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=method, unit="row", disable=not show)


class _Common:
    def __init__(
        self,
        base_url: str,
        token: str | None,
        words: Vocabulary | None,
        plotlyjs: PlotlyJs,
        timeout: float,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.words = words or Vocabulary()
        #: given no words, the client reads the service's (``GET /vocabulary``) once
        self._words_asked = words is not None
        self.plotlyjs: PlotlyJs = plotlyjs
        self.timeout = timeout
        self._headers = {"Accept": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"

    def _take_words(self, response: httpx.Response) -> None:
        """The service's words from its ``/vocabulary`` answer; kept as they are when the
        service has none (an older one answers 404) or answers something else."""
        if response.status_code == 200:
            with contextlib.suppress(ValueError):
                self.words = Vocabulary.of_json(response.json())

    def _explanation(self, body: dict[str, Any]) -> Explanation:
        return Explanation.from_answer(body, self.base_url, self.words, self.plotlyjs)

    def _fairness(self, response: httpx.Response, attribute: str, window: str) -> Fairness:
        url = _protocol.fairness_page(self.base_url, attribute, window)
        return Fairness(_protocol.answer_body(response), url, self.words)


class ExplainerClient(_Common):
    """The explainer service from Python (a notebook, a script).

    ``base_url``: where the service listens (``http://127.0.0.1:8080``); ``token``: a bearer
    token when the service has ``auth.tokens``; ``timeout``: seconds for one explanation
    (the HTTP timeout, and how long a batch waits for each row); ``words``: class, feature
    and category names for sentences and figures (``Vocabulary(classes={">50K":
    "approved"}, ...)``), by default the service's own (``GET /vocabulary``, read once);
    ``plotlyjs``: ``inline`` (outputs carry plotly.js: they work offline, anywhere) or
    ``service`` (outputs load it from the service). Every method raises the typed
    exceptions of ``explainer_service.client`` (``ServiceError`` and below)."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        timeout: float = 300.0,
        *,
        words: Vocabulary | None = None,
        plotlyjs: PlotlyJs = "inline",
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, token, words, plotlyjs, timeout)
        self._http = httpx.Client(
            base_url=self.base_url, headers=self._headers, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ExplainerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, request: _protocol.Request) -> httpx.Response:
        try:
            if not self._words_asked:
                self._words_asked = True
                self._take_words(self._http.get("/vocabulary"))
            return self._http.request(
                request.method, request.path, params=request.params, json=request.json
            )
        except httpx.TransportError as exc:
            raise ServiceUnreachableError(f"{self.base_url}: {exc!r}") from exc

    def _retrying(self, request: _protocol.Request) -> httpx.Response:
        """Sends ``request`` again while the service's queue is full (429)."""
        for attempt in range(QUEUE_RETRIES + 1):
            response = self._send(request)
            if response.status_code != 429 or attempt == QUEUE_RETRIES:
                return response
            time.sleep(_retry_after(response))
        raise AssertionError("unreachable")

    def ready(self) -> bool:
        """Whether the service's explainers are fitted and the model answers."""
        return self._send(_protocol.Request("GET", "/health/ready", {})).status_code == 200

    def explain(
        self, x: Any = None, method: str = "anchors", *, instance: int | None = None, **params: Any
    ) -> Explanation:
        """Explain one instance with ``method``.

        ``x``: a dict of feature -> value, a pandas ``Series``, a one-row ``DataFrame``, or
        the inference payload as the model received it (``instance``: which of its rows);
        None for a global method (``importance``). ``params``: the method's parameters
        (``threshold=0.9``, ``seed=1``, ...)."""
        request = _protocol.explain_request(x, method, params, instance, wait=True)
        return self._explanation(_protocol.answer_body(self._retrying(request)))

    def explain_inference(self, id: str, method: str = "anchors", **params: Any) -> Explanation:
        """Explain the logged inference ``id`` (the id its request logger gave it) with
        ``method``: the same explanation ``explain`` gives for its logged row with the same
        ``params``, with ``inference_id`` and ``agreement`` (whether the model, asked again,
        still gives the logged answer) set."""
        request = _protocol.inference_explain_request(id, method, params)
        return self._explanation(_protocol.answer_body(self._retrying(request)))

    def inferences(
        self, limit: int = 100, *, label: str | None = None, before: str | None = None
    ) -> pd.DataFrame:
        """The latest ``limit`` logged inferences (newest first; ``label``: only those
        predicted that class; ``before``: those logged before that id) as a DataFrame
        indexed by id (see ``_protocol.inference_frame``)."""
        items: list[dict[str, Any]] = []
        while len(items) < limit:
            asked = min(PAGE, limit - len(items))
            request = _protocol.inferences_request(asked, label, before)
            page = _protocol.inference_items(self._send(request))
            items.extend(page)
            if len(page) < asked:
                break
            before = page[-1]["id"]
        return _protocol.inference_frame(items)

    def fairness(self, attribute: str, window: str = "7d") -> Fairness:
        """A protected attribute (one of the service's ``features.protected``) over the
        inferences logged in the last ``window`` (``30m``, ``12h``, ``7d``): the favourable
        rate per group, the parity figures and the flip tests (``GET /fairness``), shown as
        the page's sentence and table; ``.report`` is the JSON, ``.to_frame()`` the groups."""
        request = _protocol.fairness_request(attribute, window)
        return self._fairness(self._send(request), attribute, window)

    def get(self, id: str, *, wait: bool = True) -> Explanation | None:
        """A stored explanation by id; ``wait``: until it is done (else None while it is
        pending). A failed one raises what it failed with."""
        deadline = time.monotonic() + self.timeout
        while True:
            body = _protocol.record(self._send(_protocol.record_request(id)))
            if body is not None:
                return self._explanation(body)
            if not wait:
                return None
            if time.monotonic() > deadline:
                raise WaitTimeoutError(id, self.timeout)
            time.sleep(POLL_S)

    def _one_of_many(
        self, x: Any, method: str, params: Mapping[str, Any]
    ) -> tuple[Explanation, bool]:
        request = _protocol.explain_request(x, method, params, None, wait=False)
        ticket = _protocol.ticket(self._retrying(request))
        explanation = self.get(ticket.id)
        assert explanation is not None
        return explanation, ticket.stored

    def explain_many(
        self,
        data: Any,
        method: str = "anchors",
        *,
        concurrency: int = 4,
        progress: bool = True,
        **params: Any,
    ) -> Batch:
        """Explain every row of ``data`` (a DataFrame, or a sequence of records or payloads),
        ``concurrency`` at a time, with a progress bar.

        Each row is asked for with ``mode=async``: a row the service has explained already
        (the same instance, method and parameters) is fetched from its store, not computed
        again, so running a batch again after an interruption costs only what is missing.
        A row that fails is recorded in ``Batch.errors``; the others go on."""
        index, rows = _rows(data)
        batch = Batch(method, index, [None] * len(rows))
        lock = threading.Lock()
        with _progress(len(rows), method, progress) as bar:

            def run(i: int) -> None:
                outcome: tuple[Explanation, bool] | ClientError
                try:
                    outcome = self._one_of_many(rows[i], method, params)
                except ClientError as exc:
                    outcome = exc
                with lock:
                    batch.add(i, outcome)
                    bar.update(1)
                    bar.set_postfix(batch.counts())

            with ThreadPoolExecutor(max(1, concurrency)) as pool:
                list(pool.map(run, range(len(rows))))
        return batch

    def compare(self, x: Any, methods: Iterable[str] = LOCAL_METHODS, **params: Any) -> Comparison:
        """``x`` explained by each of ``methods`` (concurrently; by default the built-in ones
        that explain one row), shown side by side; a method that fails is shown with its
        error."""
        methods = list(methods)
        comparison = Comparison({})

        def run(method: str) -> tuple[str, Explanation | ClientError]:
            try:
                return method, self.explain(x, method, **params)
            except ClientError as exc:
                return method, exc

        with ThreadPoolExecutor(max(1, len(methods))) as pool:
            for method, outcome in pool.map(run, methods):
                _file(comparison, method, outcome)
        return comparison


def _file(comparison: Comparison, method: str, outcome: Explanation | ClientError) -> None:
    if isinstance(outcome, Explanation):
        comparison.explanations[method] = outcome
    else:
        comparison.errors[method] = outcome


class AsyncExplainerClient(_Common):
    """``ExplainerClient`` for asyncio (``await client.explain(...)``); the same arguments,
    the same answers and exceptions."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        timeout: float = 300.0,
        *,
        words: Vocabulary | None = None,
        plotlyjs: PlotlyJs = "inline",
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, token, words, plotlyjs, timeout)
        self._http = httpx.AsyncClient(
            base_url=self.base_url, headers=self._headers, timeout=timeout, transport=transport
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncExplainerClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _send(self, request: _protocol.Request) -> httpx.Response:
        try:
            if not self._words_asked:
                self._words_asked = True
                self._take_words(await self._http.get("/vocabulary"))
            return await self._http.request(
                request.method, request.path, params=request.params, json=request.json
            )
        except httpx.TransportError as exc:
            raise ServiceUnreachableError(f"{self.base_url}: {exc!r}") from exc

    async def _retrying(self, request: _protocol.Request) -> httpx.Response:
        for attempt in range(QUEUE_RETRIES + 1):
            response = await self._send(request)
            if response.status_code != 429 or attempt == QUEUE_RETRIES:
                return response
            await asyncio.sleep(_retry_after(response))
        raise AssertionError("unreachable")

    async def ready(self) -> bool:
        response = await self._send(_protocol.Request("GET", "/health/ready", {}))
        return response.status_code == 200

    async def explain(
        self, x: Any = None, method: str = "anchors", *, instance: int | None = None, **params: Any
    ) -> Explanation:
        request = _protocol.explain_request(x, method, params, instance, wait=True)
        return self._explanation(_protocol.answer_body(await self._retrying(request)))

    async def explain_inference(
        self, id: str, method: str = "anchors", **params: Any
    ) -> Explanation:
        request = _protocol.inference_explain_request(id, method, params)
        return self._explanation(_protocol.answer_body(await self._retrying(request)))

    async def inferences(
        self, limit: int = 100, *, label: str | None = None, before: str | None = None
    ) -> pd.DataFrame:
        items: list[dict[str, Any]] = []
        while len(items) < limit:
            asked = min(PAGE, limit - len(items))
            request = _protocol.inferences_request(asked, label, before)
            page = _protocol.inference_items(await self._send(request))
            items.extend(page)
            if len(page) < asked:
                break
            before = page[-1]["id"]
        return _protocol.inference_frame(items)

    async def fairness(self, attribute: str, window: str = "7d") -> Fairness:
        request = _protocol.fairness_request(attribute, window)
        return self._fairness(await self._send(request), attribute, window)

    async def get(self, id: str, *, wait: bool = True) -> Explanation | None:
        deadline = time.monotonic() + self.timeout
        while True:
            body = _protocol.record(await self._send(_protocol.record_request(id)))
            if body is not None:
                return self._explanation(body)
            if not wait:
                return None
            if time.monotonic() > deadline:
                raise WaitTimeoutError(id, self.timeout)
            await asyncio.sleep(POLL_S)

    async def _one_of_many(
        self, x: Any, method: str, params: Mapping[str, Any]
    ) -> tuple[Explanation, bool]:
        request = _protocol.explain_request(x, method, params, None, wait=False)
        ticket = _protocol.ticket(await self._retrying(request))
        explanation = await self.get(ticket.id)
        assert explanation is not None
        return explanation, ticket.stored

    async def explain_many(
        self,
        data: Any,
        method: str = "anchors",
        *,
        concurrency: int = 4,
        progress: bool = True,
        **params: Any,
    ) -> Batch:
        index, rows = _rows(data)
        batch = Batch(method, index, [None] * len(rows))
        limit = asyncio.Semaphore(max(1, concurrency))
        with _progress(len(rows), method, progress) as bar:

            async def run(i: int) -> None:
                outcome: tuple[Explanation, bool] | ClientError
                async with limit:
                    try:
                        outcome = await self._one_of_many(rows[i], method, params)
                    except ClientError as exc:
                        outcome = exc
                batch.add(i, outcome)
                bar.update(1)
                bar.set_postfix(batch.counts())

            await asyncio.gather(*(run(i) for i in range(len(rows))))
        return batch

    async def compare(
        self, x: Any, methods: Sequence[str] = LOCAL_METHODS, **params: Any
    ) -> Comparison:
        comparison = Comparison({})

        async def run(method: str) -> tuple[str, Explanation | ClientError]:
            try:
                return method, await self.explain(x, method, **params)
            except ClientError as exc:
                return method, exc

        for method, outcome in await asyncio.gather(*(run(m) for m in methods)):
            _file(comparison, method, outcome)
        return comparison
