"""Paging through the inference log with a cursor (``before`` + ``after_id``): the rows of
one event share their ``logged_at``, and a page may end among them."""

from __future__ import annotations

from explainer_service.store.inferences import LoggedSide
from tests.unit.store.conftest import Backend


def event(id: str, rows: int) -> list[LoggedSide]:
    return [
        LoggedSide(
            id=f"{id}/{k}", event_id=id, row_index=k, row_count=rows, side="request",
            source="kserve", model="income", instance=[k], label="<=50K" if k % 2 else ">50K",
        )
        for k in range(rows)
    ]  # fmt: skip


def test_pages_end_among_the_rows_of_one_event_and_lose_none(backend: Backend) -> None:
    store = backend.open()
    store.log_inferences(event("a", 3))
    store.log_inferences(event("b", 4))
    everything = [i.id for i in store.inferences(100)]
    assert sorted(everything) == sorted(f"a/{k}" for k in range(3)) + [f"b/{k}" for k in range(4)]
    seen: list[str] = []
    page = store.inferences(3)
    while page:
        seen += [i.id for i in page]
        last = page[-1]
        page = store.inferences(3, before=last.logged_at, after_id=last.id)
    assert seen == everything  # in the same order, each once
    # the label filter goes with the cursor
    refused = store.inferences(1, label="<=50K")
    after = store.inferences(100, before=refused[0].logged_at, after_id=refused[0].id,
                             label="<=50K")  # fmt: skip
    assert [i.id for i in refused + after] == [i.id for i in store.inferences(100, label="<=50K")]
