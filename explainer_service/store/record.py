"""What the store holds: one row per explanation request, as a typed ``Record``."""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from explainers import Explanation


class Status(StrEnum):
    pending = "pending"
    running = "running"
    done = "done"
    failed = "failed"


ACTIVE = (Status.pending, Status.running)


@dataclass
class Record:
    id: str
    method: str
    status: Status
    created_at: str
    updated_at: str
    explanation: Explanation | None
    error: dict[str, Any] | None
    owner: str | None = None
    lease_until: float = 0.0
    attempts: int = 0
    task: dict[str, Any] | None = None
    key: str | None = None

    def leased(self, now: float | None = None) -> bool:
        """Pending or running, and its holder's lease has not expired."""
        return self.status in ACTIVE and self.lease_until > (now or time.time())


def cache_key(parts: dict[str, Any]) -> str:
    """The sha256 of ``parts`` as canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def new_id() -> str:
    """A random public id (128 bits)."""
    return secrets.token_urlsafe(16)


def stamp(ago_days: float = 0.0) -> str:
    """Now (or ``ago_days`` before now) as stored: ISO 8601 in UTC with milliseconds, so
    that the text sorts as the time does."""
    moment = datetime.now(UTC) - timedelta(days=ago_days)
    return moment.isoformat(timespec="milliseconds")


#: The columns of a row, in the order ``to_record`` reads them.
COLUMNS = (
    "id, method, status, created_at, updated_at, explanation, error, owner, lease_until, "
    "attempts, task, key"
)


def to_record(row: tuple[Any, ...] | Any) -> Record:
    """A stored row; an explanation stored in an older schema reads as failed, so that asking
    again computes it anew."""
    id, method, status, created, updated, explanation, error = row[:7]
    owner, lease, attempts, task, key = row[7:]
    common = {
        "owner": owner,
        "lease_until": float(lease or 0.0),
        "attempts": attempts or 0,
        "task": json.loads(task) if task else None,
        "key": key,
    }
    try:
        parsed = Explanation.model_validate_json(explanation) if explanation else None
    except ValidationError:
        return Record(id, method, Status.failed, created, updated, None, STALE, **common)
    return Record(
        id=id,
        method=method,
        status=Status(status),
        created_at=created,
        updated_at=updated,
        explanation=parsed,
        error=json.loads(error) if error else None,
        **common,
    )


STALE = {
    "code": "stale",
    "message": "stored by an older version of the service; ask again to compute it anew",
    "detail": {},
    "status": 410,
}
