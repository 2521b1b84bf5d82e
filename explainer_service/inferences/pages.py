"""The pages of a logged inference: its record, and an explanation made of it by id (the
explanation page, saying which decision it explains and whether the model still makes it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from explainer_service.inferences.agreement import NOT_LOGGED, prediction_of_answer, sentence
from explainer_service.inferences.explained import Started, logged
from explainer_service.presentation.views import fidelity_text, prediction_of
from explainer_service.presentation.vocabulary import Vocabulary
from explainer_service.render import LinkFor, links_for, render_explanation
from explainer_service.render.inference import (
    ExplanationRow,
    explain_path,
    record_links,
    render_inference,
    when,
)
from explainer_service.runtime import Runtime
from explainer_service.runtime.editor import editor
from explainer_service.service import Service
from explainer_service.store import Record
from explainer_service.store.inferences import Inference, InferenceExplanation
from explainers import Explanation

#: Explanations of one inference a record lists at most (the latest).
MAX_LISTED = 100


@dataclass(frozen=True)
class InferenceRecord:
    """A logged inference, the explanations linked to it (the latest ``MAX_LISTED``, oldest
    first) and their stored records (by id; one removed by retention is missing)."""

    inference: Inference
    linked: list[InferenceExplanation]
    records: dict[str, Record]


def read_record(service: Service, id: str) -> InferenceRecord:
    """``InferenceNotFoundError`` when there is none. Blocks: call it in a thread."""
    inference = logged(service, id)
    linked = service.store.inference_explanations(id)[-MAX_LISTED:]
    records = {}
    for e in linked:
        record = service.store.get(e.explanation_id)
        if record is not None:
            records[e.explanation_id] = record
    return InferenceRecord(inference, linked, records)


def named(names: Sequence[str], row: list[Any] | None) -> dict[str, Any] | None:
    """A logged row by feature name (by position when the features changed since)."""
    if row is None:
        return None
    if len(names) != len(row):
        return {f"column {i}": value for i, value in enumerate(row)}
    return dict(zip(names, row, strict=True))


def explanation_page(
    runtime: Runtime,
    started: Started,
    explanation: Explanation,
    vocabulary: Vocabulary,
    link: LinkFor,
) -> str:
    """The explanation's page, saying which decision it explains and whether the model
    still makes it; its links to the other methods are by id too."""
    inference, model = started.inference, runtime.settings.model
    others = {
        m: link(explain_path(inference.id, m))
        for m in runtime.local_methods
        if m != explanation.method
    }
    return render_explanation(
        explanation,
        started.ticket.id,
        model_name=model.name,
        model_version=model.version,
        local_methods=runtime.local_methods,
        immutable=runtime.schema.immutable,
        link=link,
        words=vocabulary,
        other_methods=others,
        editor=editor(runtime, started.ticket.id, explanation, link, vocabulary),
        inference={
            "id": inference.id,
            "href": record_links(inference.id, link)["html"],
            "agrees": started.agreement.agrees,
            "sentence": sentence(started.agreement, runtime.class_names, vocabulary),
        },
    )


def record_page(
    runtime: Runtime,
    record: InferenceRecord,
    explain_links: dict[str, str],
    vocabulary: Vocabulary,
    link: LinkFor,
) -> str:
    """The record of a decision: what came in, what the model said and when, which model,
    every explanation with its fidelity and cost, whether the model still agrees."""
    inference, classes, model = record.inference, runtime.class_names, runtime.settings.model
    rows = []
    for e in reversed(record.linked):  # the latest first
        stored = record.records.get(e.explanation_id)
        explanation = stored.explanation if stored else None
        rows.append(
            ExplanationRow(
                id=e.explanation_id,
                method=e.method,
                created_at=e.created_at,
                status=stored.status if stored else "removed",
                prediction=prediction_of(explanation.prediction, vocabulary)
                if explanation
                else "—",
                fidelity=fidelity_text(explanation) if explanation else "—",
                cost=_cost(explanation),
                agreement=_agreed(e, classes, vocabulary),
                agrees=e.agrees,
                href=links_for(e.explanation_id, link)["html"],
            )
        )
    answer = prediction_of(prediction_of_answer(inference.answer, classes), vocabulary)
    return render_inference(
        inference,
        features=named(runtime.schema.names, inference.instance),
        answer=answer if inference.answer else "not logged",
        agreement=_latest_agreement(inference, record.linked, classes, vocabulary),
        explanations=rows,
        explain_links=explain_links,
        json_link=record_links(inference.id, link)["json"],
        model_name=model.name,
        model_version=model.version,
        words=vocabulary,
    )


def _cost(explanation: Explanation | None) -> str:
    if explanation is None:
        return "—"
    cost = explanation.cost
    return f"{cost.model_calls} model calls, {cost.rows} rows, {cost.seconds:.2f} s"


def _agreed(e: InferenceExplanation, classes: list[str] | None, vocabulary: Vocabulary) -> str:
    if e.agrees is None:
        return "not checked"
    if e.agrees:
        return "yes"
    today = prediction_of(prediction_of_answer(e.live, classes), vocabulary)
    return f"no: it answered {today} (explained as it answers now)"


def _latest_agreement(
    inference: Inference,
    linked: list[InferenceExplanation],
    classes: list[str] | None,
    vocabulary: Vocabulary,
) -> str:
    if not inference.answer:
        return NOT_LOGGED[0].upper() + NOT_LOGGED[1:]
    if not linked:
        return "not checked yet: explaining it asks the model again"
    latest = max(linked, key=lambda e: e.created_at)
    if latest.agrees:
        return f"yes, when asked again on {when(latest.created_at)}"
    if latest.agrees is None:
        return "not checked"
    return (
        f"no: asked again on {when(latest.created_at)}, the model answered "
        f"{prediction_of(prediction_of_answer(latest.live, classes), vocabulary)}; "
        "explanations since are of today's model"
    )
