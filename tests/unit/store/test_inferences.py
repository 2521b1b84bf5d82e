"""The store's inference log, on both backends: the two sides of an inference joined in
either order, duplicates and conflicts, listing, links to explanations, retention."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from explainer_service.store.inferences import Logged, LoggedSide
from tests.unit.store.conftest import Backend

ROW = [39, "State-gov", "Bachelors"]


def request(id: str = "e1", **changes: Any) -> LoggedSide:
    values: dict[str, Any] = {
        "id": id, "event_id": id, "row_index": 0, "row_count": 1, "side": "request",
        "source": "kserve", "model": "income", "instance": ROW, "protocol": "v2",
        "at": "2026-12-06T10:00:00Z", "metadata": {"x-tenant": "a"},
    }  # fmt: skip
    return LoggedSide(**{**values, **changes})


def response(id: str = "e1", **changes: Any) -> LoggedSide:
    values: dict[str, Any] = {
        "id": id, "event_id": id, "row_index": 0, "row_count": 1, "side": "response",
        "source": "kserve", "model": "income", "answer": {"scores": [0.8, 0.2]},
        "label": "<=50K", "score": 0.8, "at": "2026-12-06T10:00:01Z",
    }  # fmt: skip
    return LoggedSide(**{**values, **changes})


def test_the_sides_join_in_either_order_and_once(backend: Backend) -> None:
    store = backend.open()
    assert store.log_inferences([request("a")]) == [Logged.new]
    assert store.log_inferences([response("a")]) == [Logged.joined]
    assert store.log_inferences([response("b")]) == [Logged.new]
    assert store.log_inferences([request("b")]) == [Logged.joined]
    for id in ("a", "b"):
        logged = store.inference(id)
        assert logged is not None and logged.complete
        assert logged.instance == ROW and logged.answer == {"scores": [0.8, 0.2]}
        assert logged.label == "<=50K" and logged.score == 0.8
        assert logged.requested_at == "2026-12-06T10:00:00Z"
        assert logged.answered_at == "2026-12-06T10:00:01Z"
        assert logged.metadata == ({"x-tenant": "a"} if id == "a" else {})
    assert store.log_inferences([request("a"), response("a")]) == [Logged.duplicate] * 2
    changed = store.log_inferences([request("a", instance=[40, "x", "y"])])
    assert changed == [Logged.conflict] and store.inference("a").instance == ROW  # type: ignore[union-attr]
    assert store.count_inferences() == 2
    assert store.inference("nobody") is None


def test_one_side_only_is_kept_incomplete(backend: Backend) -> None:
    store = backend.open()
    store.log_inferences([request("q")])
    store.log_inferences([response("r")])
    only_request, only_response = store.inference("q"), store.inference("r")
    assert only_request is not None and only_request.answer is None and not only_request.complete
    assert only_response is not None and only_response.instance is None


def test_two_replicas_writing_the_two_sides_at_once_both_succeed(backend: Backend) -> None:
    one, two = backend.open(), backend.open()
    ids = [f"c{i}" for i in range(20)]
    with ThreadPoolExecutor(2) as threads:
        a = threads.submit(lambda: [one.log_inferences([request(i)])[0] for i in ids])
        b = threads.submit(lambda: [two.log_inferences([response(i)])[0] for i in ids])
        outcomes = list(zip(a.result(), b.result(), strict=True))
    assert all(sorted(pair) == [Logged.joined, Logged.new] for pair in outcomes), outcomes
    assert all(one.inference(i).complete for i in ids)  # type: ignore[union-attr]


def test_listing_is_newest_first_and_filters(backend: Backend) -> None:
    store = backend.open()
    for i in range(5):
        label = "<=50K" if i % 2 else ">50K"
        store.log_inferences([request(f"l{i}"), response(f"l{i}", label=label)])
        backend.execute(
            "UPDATE inferences SET logged_at = ? WHERE id = ?", (f"2026-01-0{i + 1}", f"l{i}")
        )
    assert [i.id for i in store.inferences(10)] == ["l4", "l3", "l2", "l1", "l0"]
    assert [i.id for i in store.inferences(2, before="2026-01-04")] == ["l2", "l1"]
    assert [i.id for i in store.inferences(10, label="<=50K")] == ["l3", "l1"]
    assert store.inferences(10, model="other") == []


def test_links_to_explanations_keep_the_latest_check(backend: Backend) -> None:
    store = backend.open()
    store.log_inferences([request("x"), response("x")])
    store.link_explanation("x", "exp1", "shap", True, {"scores": [0.8, 0.2]})
    store.link_explanation("x", "exp2", "anchors", None, None)
    store.link_explanation("x", "exp1", "shap", False, {"scores": [0.3, 0.7]})
    linked = {e.explanation_id: e for e in store.inference_explanations("x")}
    assert set(linked) == {"exp1", "exp2"}
    assert linked["exp1"].agrees is False and linked["exp1"].live == {"scores": [0.3, 0.7]}
    assert linked["exp2"].agrees is None and linked["exp2"].method == "anchors"


def test_retention_by_age_then_by_count_takes_the_links_along(backend: Backend) -> None:
    store = backend.open()
    for i in range(6):
        store.log_inferences([request(f"r{i}")])
        backend.execute(
            "UPDATE inferences SET logged_at = ? WHERE id = ?", (f"2026-12-0{i + 1}T00", f"r{i}")
        )
    backend.execute("UPDATE inferences SET logged_at = '2020-01-01' WHERE id = 'r0'")
    store.link_explanation("r0", "e", "shap", True, None)
    store.link_explanation("r5", "e", "shap", True, None)
    assert store.purge_inferences(older_than_days=30, max_rows=1000) == 1
    assert store.inference("r0") is None and store.inference_explanations("r0") == []
    assert store.purge_inferences(older_than_days=None, max_rows=3) == 2  # r1, r2 go
    assert sorted(i.id for i in store.inferences(10)) == ["r3", "r4", "r5"]
    assert len(store.inference_explanations("r5")) == 1
    assert store.purge_inferences(older_than_days=30, max_rows=3) == 0


def test_retention_by_count_keeps_exactly_max_rows_of_one_millisecond(backend: Backend) -> None:
    store = backend.open()
    store.log_inferences([request(f"m{i}") for i in range(5)])
    backend.execute("UPDATE inferences SET logged_at = '2026-12-06T10:00:00.000+00:00'")
    assert store.purge_inferences(older_than_days=None, max_rows=3) == 2
    assert store.count_inferences() == 3
