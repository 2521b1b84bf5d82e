"""The explanation policy's jobs in the store, on both backends: each inference decided
about once, the backlog's bound, claims under leases (one winner, taken over after the
lease), starts counted for the rates, release and the end of a job."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from explainer_service.store.inference_jobs import JobState
from tests.unit.store.conftest import Backend
from tests.unit.store.test_inferences import request, response


def test_each_inference_is_decided_about_once_and_the_backlog_is_bounded(
    backend: Backend,
) -> None:
    one, two = backend.open(), backend.open()
    first = one.queue_inference_jobs([("a", ["shap", "anchors"]), ("b", [])], max_backlog=3)
    assert (first.considered, first.skipped, first.queued, first.dropped) == (2, 1, 2, 0)
    again = two.queue_inference_jobs([("a", ["shap"]), ("b", ["shap"])], max_backlog=3)
    assert again.considered == 0 and again.jobs == []  # another replica decided already
    full = two.queue_inference_jobs([("c", ["shap"]), ("d", ["shap", "anchors"])], max_backlog=3)
    assert full.jobs == [
        ("shap", JobState.waiting),
        ("shap", JobState.dropped),
        ("anchors", JobState.dropped),
    ]
    assert one.inference_job_counts() == {JobState.waiting: 3, JobState.dropped: 2}
    backlog = one.inference_backlog()
    assert (backlog.waiting, backlog.running, backlog.size) == (3, 0, 3)
    assert backlog.oldest_waiting is not None and backlog.oldest_waiting <= time.time()
    assert [j.method for j in one.inference_jobs("d")] == ["anchors", "shap"]


def test_two_replicas_claiming_at_once_never_take_the_same_job(backend: Backend) -> None:
    one, two = backend.open(), backend.open()
    one.queue_inference_jobs([(f"i{n}", ["shap"]) for n in range(20)], max_backlog=100)

    def claim_all(store, owner: str) -> list[str]:
        taken = []
        while (job := store.claim_inference_job(owner, 60, ["shap"])) is not None:
            taken.append(job.inference_id)
        return taken

    with ThreadPoolExecutor(2) as threads:
        a = threads.submit(claim_all, one, "one")
        b = threads.submit(claim_all, two, "two")
        taken_a, taken_b = a.result(), b.result()
    assert sorted(taken_a + taken_b) == sorted(f"i{n}" for n in range(20))
    assert not set(taken_a) & set(taken_b)
    assert one.inference_backlog().running == 20


def test_a_claim_takes_the_oldest_of_the_methods_asked_for(backend: Backend) -> None:
    store = backend.open()
    store.queue_inference_jobs([("old", ["anchors"])], max_backlog=10)
    store.queue_inference_jobs([("new", ["shap", "anchors"])], max_backlog=10)
    assert store.claim_inference_job("me", 60, []) is None
    job = store.claim_inference_job("me", 60, ["shap"])
    assert job is not None and (job.inference_id, job.method) == ("new", "shap")
    assert job.state is JobState.running and job.owner == "me" and job.attempts == 0
    job = store.claim_inference_job("me", 60, ["anchors", "shap"])
    assert job is not None and (job.inference_id, job.method) == ("old", "anchors")


def test_a_dead_holders_job_is_taken_over_after_its_lease_and_keeps_its_explanation(
    backend: Backend,
) -> None:
    dead, alive = backend.open(), backend.open()
    dead.queue_inference_jobs([("x", ["shap"])], max_backlog=10)
    assert dead.claim_inference_job("dead", 60, ["shap"]) is not None
    assert dead.start_inference_job("x", "shap", "dead", "exp-1", 40, now=1000.0)
    assert alive.claim_inference_job("alive", 60, ["shap"]) is None  # its lease is live
    assert not alive.start_inference_job("x", "shap", "alive", "exp-2", 40, now=1001.0)
    backend.execute("UPDATE inference_jobs SET lease_until = ?", (time.time() - 1,))
    job = alive.claim_inference_job("alive", 60, ["shap"])
    assert job is not None and job.owner == "alive"
    assert job.explanation_id == "exp-1" and job.attempts == 1 and job.started_at == 1000.0
    assert not dead.end_inference_job("x", "shap", "dead", JobState.done)  # lost it
    assert alive.end_inference_job("x", "shap", "alive", JobState.done, model_calls=7)
    (ended,) = alive.inference_jobs("x")
    assert ended.state is JobState.done and ended.owner is None and ended.model_calls == 7
    assert alive.inference_backlog().size == 0


def test_starts_are_counted_with_their_calls_and_a_release_frees_the_job(
    backend: Backend,
) -> None:
    store = backend.open()
    store.queue_inference_jobs([("a", ["shap"]), ("b", ["shap"])], max_backlog=10)
    for id, at in (("a", 100.0), ("b", 160.0)):
        store.claim_inference_job("me", 60, ["shap"])
        store.start_inference_job(id, "shap", "me", f"exp-{id}", 50, now=at)
    assert store.inference_job_starts(since=0) == [(100.0, 50), (160.0, 50)]
    assert store.inference_job_starts(since=120) == [(160.0, 50)]
    store.end_inference_job("a", "shap", "me", JobState.failed, error={"code": "x"})
    assert store.inference_jobs("a")[0].error == {"code": "x"}
    assert store.inference_job_starts(since=0)[0] == (100.0, 50)  # still counts its reserve
    assert store.renew_inference_jobs("me", 60) == 1
    assert store.release_inference_job("b", "shap", "me")
    (released,) = store.inference_jobs("b")
    assert released.state is JobState.waiting and released.owner is None
    assert store.claim_inference_job("other", 60, ["shap"]) is not None  # at once


def test_unconsidered_inferences_are_the_complete_ones_of_the_window(backend: Backend) -> None:
    store = backend.open()
    store.log_inferences([request("done"), response("done")])
    store.log_inferences([request("half")])
    store.log_inferences([request("old"), response("old")])
    store.log_inferences([request("seen"), response("seen")])
    backend.execute("UPDATE inferences SET logged_at = '2020-01-01' WHERE id = 'old'")
    store.queue_inference_jobs([("seen", [])], max_backlog=10)
    found = store.unconsidered_inferences(since_s=3600, limit=10)
    assert [i.id for i in found] == ["done"]
    assert found[0].complete
    store.queue_inference_jobs([("done", ["shap"])], max_backlog=10)
    assert store.unconsidered_inferences(since_s=3600, limit=10) == []
    assert store.purge_inferences(older_than_days=None, max_rows=0) == 4
    assert store.inference_jobs("done") == []
    # a purged inference logged again is decided about again
    store.log_inferences([request("done"), response("done")])
    assert [i.id for i in store.unconsidered_inferences(since_s=3600, limit=10)] == ["done"]
