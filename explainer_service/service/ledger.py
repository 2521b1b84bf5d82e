"""The leases one process holds on explanation requests in the store.

A process (a service replica, a batch driver) makes every lease call as one ``owner``
with one lease length: claim a request, take over one whose holder died, start it, renew
the leases while it lives, and give each request up as done, failed or released
(unfinished, for the next process). A lease not renewed expires after ``lease_s``
seconds; then any process sharing the store may take the request over.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Collection
from typing import Any

from explainer_service.store import Record, Store
from explainers import Explanation


def owner_id(prefix: str | None = None) -> str:
    """A new holder's name, ``[prefix:]host:pid:random``: unique to this process and to
    this call, so two ledgers in one process never hold each other's leases."""
    name = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
    return f"{prefix}:{name}" if prefix else name


class Ledger:
    """The store's lease calls, made as ``owner`` (by default a new ``owner_id``) with
    leases of ``lease_s`` seconds. Each call answers what the store's does; a call about
    a request this owner no longer holds changes nothing and answers False."""

    def __init__(self, store: Store, lease_s: float, owner: str | None = None) -> None:
        self.store = store
        self.lease_s = lease_s
        self.owner = owner or owner_id()

    def claim(self, key: str, method: str, task: dict[str, Any]) -> tuple[Record, bool]:
        """The request of cache key ``key``, and whether this owner now holds it (False:
        it is done, or another live holder has it)."""
        return self.store.claim(key, method, task, self.owner, self.lease_s)

    def take_over(self, id: str) -> bool:
        """Take ``id`` from a holder whose lease expired."""
        return self.store.take_over(id, self.owner, self.lease_s)

    def start(self, id: str) -> bool:
        """``id`` runs now (one more attempt)."""
        return self.store.start(id, self.owner)

    def renew(self, ids: Collection[str] | None = None) -> int:
        """Extend the leases held (only those of ``ids``, when given); answers how many."""
        return self.store.renew(self.owner, self.lease_s, ids)

    def release(self, id: str) -> bool:
        """Give ``id`` up unfinished: pending, free for any process at once."""
        return self.store.release(id, self.owner)

    def finish(self, id: str, explanation: Explanation) -> bool:
        return self.store.finish(id, self.owner, explanation)

    def fail(self, id: str, error: dict[str, Any]) -> bool:
        """``error``: the HTTP error body's fields and its ``status``."""
        return self.store.fail(id, self.owner, error)

    def held_elsewhere(self, record: Record) -> bool:
        """Whether another owner holds a live lease on ``record``."""
        return record.leased() and record.owner != self.owner
