"""``POST /inferences``: the CloudEvents sink of the model's request logger.

KServe's agent and Seldon's executor post each inference's request and response as
CloudEvents (``inferences.events``); each is kept in the inference log
(``inferences.ingest``) and answered 200 with what it did (KServe's agent logs any other
status as an error). A malformed event gets a 4xx saying why; more events per second
than ``inference_log.max_events_per_s`` get 429 with ``Retry-After``; a store that fails,
503.

With access control on, loggers (which send no ``Authorization``) post to
``/inferences/{secret}`` (``inference_log.sink_secret``); ``security.sink_path`` checks the
secret before any route or log sees the path, and only that route takes its pass.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

from fastapi import APIRouter, Request

from explainer_service.api.bodies import LoggedEvent, error_responses
from explainer_service.api.deps import IngestDep, SettingsDep, SinkBucketDep
from explainer_service.errors import (
    ErrorBody,
    ExplainerServiceError,
    NotFoundError,
    RateLimitedError,
)
from explainer_service.inferences.events import parse_event
from explainer_service.inferences.ingest import Ingest
from explainer_service.inferences.token_bucket import TokenBucket, retry_after
from explainer_service.security.sink_path import SECRET_PATH, admitted
from explainer_service.settings import Settings

router = APIRouter(tags=["inference log"])

#: Events up to this size are read in the event loop, larger ones in a thread.
INLINE_BYTES = 16 * 1024

#: The errors the sink answers in its own words (each an ``ErrorBody``, as every error).
SINK_ERRORS = {
    400: "not a CloudEvent, an unknown type, or a missing attribute (detail.field names it)",
    409: "the other side of this inference was logged with other rows",
    413: "the body, inflated, passes service.max_body_bytes, or more rows than "
    "inference_log.max_rows_per_event",
    422: "the logged body is not in the model's protocol (detail.field names what)",
    429: "inference_log.max_events_per_s passed: retry after Retry-After",
}
RESPONSES: dict[int | str, dict[str, Any]] = {
    **error_responses(),
    **{status: {"model": ErrorBody, "description": text} for status, text in SINK_ERRORS.items()},
}


@router.post(
    "/inferences",
    response_model=LoggedEvent,
    summary="Take one request logger's CloudEvent (KServe, Seldon Core v1) into the log",
    description="Binary mode (Ce-* headers, the logged body as the body) or structured mode "
    "(application/cloudevents+json); gzip with or without Content-Encoding. With access "
    "control on, loggers (which send no token) post to /inferences/{inference_log.sink_secret} "
    "instead, and only there; any other secret: 404.",
    responses=RESPONSES,
)
async def post_inference(
    request: Request, ingest: IngestDep, bucket: SinkBucketDep, settings: SettingsDep
) -> LoggedEvent:
    return await _receive(request, ingest, bucket, settings)


# Not in the OpenAPI document: its path is a secret. POST /inferences's says where it is.
@router.post(SECRET_PATH, include_in_schema=False)
async def post_inference_with_secret(
    request: Request, ingest: IngestDep, bucket: SinkBucketDep, settings: SettingsDep
) -> LoggedEvent:
    if not admitted(request.scope):
        raise NotFoundError("no inference sink at this path")
    return await _receive(request, ingest, bucket, settings)


async def _receive(
    request: Request, ingest: Ingest | None, bucket: TokenBucket, settings: Settings
) -> LoggedEvent:
    if ingest is None:
        raise NotFoundError("the inference log is off (inference_log.enabled)")
    wait_s = bucket.take()
    if wait_s:
        ingest.count("unknown", "unknown", "rate_limited")
        raise RateLimitedError(bucket.rate, retry_after(wait_s))
    body = await request.body()
    parse = partial(
        parse_event,
        request.headers,
        body,
        max_bytes=settings.service.max_body_bytes,
        max_depth=settings.service.max_json_depth,
    )
    try:  # a small body in the event loop: its parse costs less than a thread's hand-over
        event = parse() if len(body) <= INLINE_BYTES else await asyncio.to_thread(parse)
    except ExplainerServiceError:
        ingest.count("unknown", "unknown", "refused")
        raise
    done = await asyncio.to_thread(ingest, event)
    return LoggedEvent(
        id=done.key,
        source=done.source,
        type=done.type,
        outcome=done.outcome,
        model=done.model,
        inferences=done.ids,
        rows=done.rows,
    )
