"""The object schemas an OpenAPI document says its answers hold, for tests that check
the answers against the document."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

SCHEMAS = "#/components/schemas/"
#: Keywords whose value is a schema, or a list or mapping of schemas.
ONE = ("items", "additionalProperties", "not")
MANY = ("anyOf", "oneOf", "allOf", "prefixItems")


def answer_objects(
    document: dict[str, Any], statuses: Callable[[int], bool] = lambda status: True
) -> Iterator[dict[str, Any]]:
    """Each object schema (one with ``properties``) that an answer of ``document`` with a
    status ``statuses`` accepts may hold, once, following ``$ref``s into the components."""
    components = document.get("components", {}).get("schemas", {})
    seen: set[int] = set()
    todo: list[Any] = [
        media.get("schema", {})
        for path in document["paths"].values()
        for operation in path.values()
        for status, response in operation.get("responses", {}).items()
        if statuses(int(status))
        for media in response.get("content", {}).values()
    ]
    while todo:
        schema = todo.pop()
        if not isinstance(schema, dict) or id(schema) in seen:
            continue
        seen.add(id(schema))
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith(SCHEMAS):
            todo.append(components[ref.removeprefix(SCHEMAS)])
        if "properties" in schema:
            yield schema
            todo.extend(schema["properties"].values())
        todo.extend(schema[key] for key in ONE if key in schema)
        todo.extend(item for key in MANY for item in schema.get(key, []))


def closed_answers(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` (changed in place) with every object its answers hold closed
    (``additionalProperties: false``) unless its schema says what else it may hold: a
    validator then refuses an answer with a key its model does not declare."""
    for schema in answer_objects(document):
        schema.setdefault("additionalProperties", False)
    return document
