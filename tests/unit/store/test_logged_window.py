"""The store's window of logged request rows, on both backends: bounded by the times they
were logged, counted, and at most ``limit`` of them spread evenly, oldest first."""

from __future__ import annotations

from explainer_service.store.inferences import LoggedSide
from tests.unit.store.conftest import Backend


def side(id: str, row: list | None, kind: str = "request") -> LoggedSide:
    return LoggedSide(
        id=id, event_id=id, row_index=0, row_count=1, side=kind, source="kserve",  # type: ignore[arg-type]
        model="income", instance=row, answer=None if row else {"scores": [0.5, 0.5]},
    )  # fmt: skip


def fill(backend: Backend) -> None:
    """Rows [0] ... [9] logged on 2026-11-10 ... 2026-11-19 (shuffled ids), one row logged
    before the window, one after it, and an inference with no request side."""
    store = backend.open()
    for day in range(10):
        store.log_inferences([side(f"id-{(day * 7) % 10}", [day])])
        backend.execute(
            "UPDATE inferences SET logged_at = ? WHERE id = ?",
            (f"2026-11-{10 + day}T12:00:00.000+00:00", f"id-{(day * 7) % 10}"),
        )
    store.log_inferences(
        [side("before", [-1]), side("after", [99]), side("answer", None, "response")]
    )
    backend.execute(
        "UPDATE inferences SET logged_at = '2026-10-01T00:00:00.000+00:00' WHERE id = 'before'"
    )
    backend.execute(
        "UPDATE inferences SET logged_at = '2026-12-01T00:00:00.000+00:00' WHERE id = 'after'"
    )
    backend.execute(
        "UPDATE inferences SET logged_at = '2026-11-15T00:00:00.000+00:00' WHERE id = 'answer'"
    )


SINCE, UNTIL = "2026-11-01T00:00:00.000+00:00", "2026-11-30T00:00:00.000+00:00"


def test_the_window_is_counted_and_spread_evenly(backend: Backend) -> None:
    fill(backend)
    store = backend.open()
    assert store.logged_window(SINCE, UNTIL, 100) == (10, [[day] for day in range(10)])
    assert store.logged_window(SINCE, UNTIL, 5) == (10, [[0], [2], [4], [6], [8]])
    assert store.logged_window(SINCE, UNTIL, 4) == (10, [[0], [3], [6], [9]])
    assert store.logged_window(SINCE, UNTIL, 1) == (10, [[0]])
    # the bounds are inclusive and the same rows give the same answer
    bounded = store.logged_window(
        "2026-11-12T12:00:00.000+00:00", "2026-11-14T12:00:00.000+00:00", 9
    )
    assert bounded == (3, [[2], [3], [4]])
    assert store.logged_window(SINCE, UNTIL, 4) == store.logged_window(SINCE, UNTIL, 4)
    assert store.logged_window("2027-01-01", "2027-02-01", 10) == (0, [])


def test_rows_whose_metadata_names_a_header_can_be_left_out(backend: Backend) -> None:
    """KServe's logger logs the service's own calls too; with Seldon-Skip-Logging among the
    metadata headers kept, the window leaves them out, whatever the header's case."""
    store = backend.open()
    marked = [
        side("own-1", [1]),
        side("own-2", [2]),
        side("theirs", [3]),
        side("plain", [4]),
    ]
    marked[0].metadata = {"Seldon-Skip-Logging": ["true"]}
    marked[1].metadata = {"seldon-skip-logging": "true", "x-tenant": "a"}
    marked[2].metadata = {"x-tenant": "b"}
    for one in marked:
        store.log_inferences([one])
    since, until = "2000-01-01", "2100-01-01"
    assert store.logged_window(since, until, 10)[0] == 4
    kept = store.logged_window(since, until, 10, unless_header="Seldon-Skip-Logging")
    assert sorted(kept[1]) == [[3], [4]] and kept[0] == 2
