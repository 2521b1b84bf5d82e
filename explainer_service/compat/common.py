"""What the compatibility routes share: one row of a foreign request explained, answered in
alibi's ``{"meta", "data"}`` shape as KServe's and Seldon's alibi explainers answer it
(``format=json``: this service's own schema)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, Query, Request

from explainer_service.api.answers import answer
from explainer_service.api.bodies import AlibiExplanation, ExplanationOut
from explainer_service.api.deps import (
    LinkDep,
    RuntimeDep,
    ServiceDep,
    SettingsDep,
    method_params,
    parse_json,
)
from explainer_service.api.dry_run import DryRunOut, answer_dry_run
from explainer_service.compat.alibi_shape import to_alibi
from explainer_service.errors import CodecError, PayloadError
from explainer_service.model_client.codecs import Codec, TextCodec
from explainer_service.render import LinkFor, links_for
from explainer_service.runtime import Runtime
from explainer_service.service import Service
from explainer_service.settings import Settings
from explainers import Explanation

CompatFormat = Annotated[
    Literal["alibi", "json"],
    Query(description="alibi: alibi's {meta, data} shape; json: this service's own schema"),
]


@dataclass(frozen=True)
class Explaining:
    """What a compatibility route explains with: the route's dependencies, together."""

    service: Service
    settings: Settings
    runtime: Runtime
    link: LinkFor

    def alibi(self, id: str, explanation: Explanation) -> AlibiExplanation:
        names, classes = self.runtime.schema.names, self.runtime.class_names
        return alibi_answer(names, classes, id, explanation, self.link)


def get_explaining(
    service: ServiceDep, settings: SettingsDep, runtime: RuntimeDep, link: LinkDep
) -> Explaining:
    return Explaining(service, settings, runtime, link)


ExplainingDep = Annotated[Explaining, Depends(get_explaining)]


def default_method(methods: Iterable[str]) -> str:
    """What a compatibility route explains with when the request does not say."""
    methods = list(methods)
    return "anchors" if "anchors" in methods else methods[0]


async def first_row(runtime: Runtime, codec: Codec, body: Any) -> dict[str, Any]:
    """The request's first row as records (``{"instances": [{feature: value}]}``); a text
    model's request is read in the protocol's form for strings (``TextCodec``)."""
    if runtime.schema.text_feature is not None:
        codec = TextCodec(codec)
    try:
        # decoding up to max_body_bytes of JSON takes a while: not on the event loop
        rows = await asyncio.to_thread(codec.decode_request, body)
        rows = runtime.limit_rows(rows)
    except CodecError as exc:
        raise PayloadError(
            f"not a {codec.protocol} request: {exc.message}", field=exc.field
        ) from None
    if not rows:
        raise PayloadError("the request holds no rows")
    return {"instances": [dict(zip(runtime.schema.names, rows[0], strict=True))]}


async def explain_row(
    service: Service, method: str, records: dict[str, Any], params: dict[str, Any]
) -> tuple[str, Explanation]:
    """(id, explanation) of the one row in ``records``."""
    ticket = (await asyncio.to_thread(service.tickets, method, records, 0, params))[0]
    explanation = await service.result(ticket)
    assert explanation is not None
    return ticket.id, explanation


async def planned(
    runtime: Runtime, method: str, records: dict[str, Any], params: dict[str, Any]
) -> DryRunOut:
    """The dry run's answer for the one row in ``records``."""
    return await asyncio.to_thread(answer_dry_run, runtime, method, records, 0, params)


def alibi_answer(
    names: list[str],
    class_names: list[str] | None,
    id: str,
    explanation: Explanation,
    link: LinkFor,
) -> AlibiExplanation:
    """``explanation`` in alibi's shape; ``names``: the features in schema order."""
    shaped = to_alibi(
        explanation, id=id, links=links_for(id, link), names=names, class_names=class_names
    )
    return AlibiExplanation.model_validate(shaped)


async def explain_foreign(
    request: Request,
    explaining: Explaining,
    codec: Codec,
    method: str | None,
    dry_run: bool,
    format: str,
) -> AlibiExplanation | ExplanationOut | DryRunOut:
    runtime = explaining.runtime
    chosen = method or default_method(runtime.classes)
    params = method_params(request)
    depth = explaining.settings.service.max_json_depth
    body = await asyncio.to_thread(parse_json, await request.body(), "the body", depth)
    records = await first_row(runtime, codec, body)
    if dry_run:
        return await planned(runtime, chosen, records, params)
    id, explanation = await explain_row(explaining.service, chosen, records, params)
    if format == "json":
        return answer(id, explanation, explaining.link)
    return explaining.alibi(id, explanation)
