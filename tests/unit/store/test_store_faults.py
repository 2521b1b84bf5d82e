"""A store that cannot write: every write path raises ``StoreError`` (503
``store_unavailable``) and the write probe (``ping``) notices it, where a read alone would
not; once the store can write again, so can the same open store. A SQLite file deleted or
replaced under an open store is noticed too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from explainer_service.errors import StoreError, StoreReplacedError, http_error
from explainer_service.store import SqliteStore
from tests.unit.store.test_store import TASK, envelope

#: Run in a process of its own: a file size limit (as a full disk: EFBIG) set in the test
#: process would hit its own output files too. Prints what each call did, as JSON.
UNWRITABLE = """
import json, resource, sys
from explainer_service.errors import StoreError, http_error
from explainer_service.store import SqliteStore
from tests.unit.store.test_store import TASK, envelope

store = SqliteStore(sys.argv[1])
record, _ = store.claim("k", "shap", TASK, "a", 30)
store.ping()
calls = {
    "ping": store.ping,
    "claim": lambda: store.claim("k2", "shap", TASK, "a", 30),
    "start": lambda: store.start(record.id, "a"),
    "renew": lambda: store.renew("a", 30),
    "finish": lambda: store.finish(record.id, "a", envelope()),
    "fail": lambda: store.fail(record.id, "a", {"code": "x", "message": "y", "status": 500}),
    "release": lambda: store.release(record.id, "a"),
    "read": lambda: store.get(record.id),
}

def outcomes():
    done = {}
    for name, call in calls.items():
        try:
            call()
            done[name] = "ok"
        except StoreError as exc:
            done[name] = http_error(exc)[1]["error"]["code"]
    return done

soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (1, hard))
limited = outcomes()
resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
print(json.dumps({"limited": limited, "lifted": outcomes()}))
"""


def test_every_write_of_a_store_that_cannot_grow_is_a_store_error_and_ping_notices(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", UNWRITABLE, str(tmp_path / "s.sqlite")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[3])},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    outcomes = json.loads(done.stdout)
    writes = ["ping", "claim", "start", "renew", "finish", "fail", "release"]
    assert outcomes["limited"] == {**dict.fromkeys(writes, "store_unavailable"), "read": "ok"}
    assert set(outcomes["lifted"].values()) == {"ok"}  # the same open store writes again


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_a_sqlite_file_deleted_or_replaced_under_the_store_is_noticed(
    tmp_path: Path, how: str
) -> None:
    path = tmp_path / "s.sqlite"
    store = SqliteStore(path)
    try:
        record, _ = store.claim("k", "shap", TASK, "a", 30)
        store.ping()
        path.unlink()
        if how == "replaced":  # another store at the same path (a restored backup, say)
            SqliteStore(path).close()
        with pytest.raises(StoreReplacedError, match=f"was {how}"):
            store.ping()
        with pytest.raises(StoreError) as info:  # not written where nobody will find it
            store.finish(record.id, "a", envelope())
        assert http_error(info.value)[0] == 503
    finally:
        store.close()
