"""Outbox consumers, each with its own checkpoint and its own retries.

A consumer (the live fan-out, the leaderboard projector, the badge engine...) is handed the
events after its checkpoint, in batches, in the outbox's commit-safe order (domain/outbox.py):
an event that commits late is never skipped. What must always hold:
- A batch is handled and the checkpoint moved past it in one SQL transaction. SQL the consumer
  writes on that connection therefore happens exactly once; effects elsewhere (Redis) happen at
  least once and are made idempotent by the consumer (event ids, absolute values).
- One runner at a time works for a consumer, across processes: it holds the checkpoint row
  (a row lock on PostgreSQL; SQLite lets one writer in at a time).
- Events reach a consumer in order, so a member's events arrive in the order they committed.
- A consumer that fails keeps its checkpoint, records the error and retries with growing
  delays; the others go on. Nothing is dropped: a failing event holds back only its consumer.
"""

from __future__ import annotations

import contextlib
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from domain import outbox, sql
from domain.clock import SYSTEM_CLOCK, Clock
from domain.loops import STOP_GRACE_SECONDS, Loop

log = logging.getLogger("coalition.consumers")

BATCH = 500
POLL_SECONDS = 2.0
RETRY_FIRST_SECONDS = 0.5
RETRY_MOST_SECONDS = 60.0


class Consumer(Protocol):
    # Unique and stable: the key of the consumer's checkpoint.
    name: str

    async def handle(
        self, conn: BaseDBAsyncClient, events: Sequence[outbox.StoredEvent], now: datetime
    ) -> None:
        """Handles a batch inside the transaction that then moves the checkpoint past it."""
        ...


@dataclass(frozen=True)
class Checkpoint:
    name: str
    position: outbox.Position
    handled: int
    failures: int
    last_error: str | None
    retry_at: datetime | None
    updated_at: datetime


def retry_delay(failures: int) -> float:
    """Seconds to wait after the `failures`-th failure in a row: doubling, at most a minute."""
    return min(RETRY_FIRST_SECONDS * 2 ** max(failures - 1, 0), RETRY_MOST_SECONDS)


async def register(conn: BaseDBAsyncClient, name: str, now: datetime) -> None:
    """A consumer seen for the first time starts at the oldest event kept."""
    await sql.execute(
        conn,
        "INSERT INTO consumer_checkpoint (name, commit_order, event_id, handled, failures, "
        "updated_at) VALUES (?, 0, 0, 0, 0, ?) ON CONFLICT (name) DO NOTHING",
        [name, now],
    )


def _checkpoint(r: dict) -> Checkpoint:
    return Checkpoint(
        name=r["name"],
        position=outbox.Position(int(r["commit_order"]), int(r["event_id"])),
        handled=int(r["handled"]),
        failures=int(r["failures"]),
        last_error=r["last_error"],
        retry_at=None if r["retry_at"] is None else sql.to_datetime(r["retry_at"]),
        updated_at=sql.to_datetime(r["updated_at"]),
    )


_COLUMNS = "name, commit_order, event_id, handled, failures, last_error, retry_at, updated_at"


async def checkpoints(conn: BaseDBAsyncClient) -> list[Checkpoint]:
    """Every consumer that has registered, by name."""
    found = await sql.rows(conn, f"SELECT {_COLUMNS} FROM consumer_checkpoint ORDER BY name")
    return [_checkpoint(r) for r in found]


async def checkpoint(conn: BaseDBAsyncClient, name: str) -> Checkpoint | None:
    found = await sql.row(
        conn, f"SELECT {_COLUMNS} FROM consumer_checkpoint WHERE name = ?", [name]
    )
    return None if found is None else _checkpoint(found)


async def _hold(conn: BaseDBAsyncClient, name: str, wait: bool) -> Checkpoint | None:
    """Locks the consumer's checkpoint for this transaction; None when another runner holds it
    and `wait` is false."""
    lock = ""
    if sql.is_postgres(conn):
        lock = " FOR UPDATE" if wait else " FOR UPDATE SKIP LOCKED"
    found = await sql.row(
        conn, f"SELECT {_COLUMNS} FROM consumer_checkpoint WHERE name = ?{lock}", [name]
    )
    return None if found is None else _checkpoint(found)


async def forget(conn: BaseDBAsyncClient, name: str) -> bool:
    """Drops a retired consumer's checkpoint, so that it no longer holds back pruning."""
    return await sql.execute(conn, "DELETE FROM consumer_checkpoint WHERE name = ?", [name]) > 0


async def lag(conn: BaseDBAsyncClient, position: outbox.Position) -> int:
    """How many events are past `position`."""
    found = await sql.row(
        conn,
        "SELECT COUNT(*) AS n FROM outbox_event WHERE (commit_order, id) > (?, ?)",
        [position.commit_order, position.event_id],
    )
    return int(found["n"]) if found is not None else 0


class Runner(Loop):
    """Runs one consumer in this process: when events commit here, on a slow poll for events
    written elsewhere, and on demand (`drain`)."""

    def __init__(
        self,
        consumer: Consumer,
        clock: Clock = SYSTEM_CLOCK,
        batch: int = BATCH,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        super().__init__(f"outbox-{consumer.name}")
        self.consumer = consumer
        self.clock = clock
        self.batch = batch
        # How soon events that no commit here announced (another process's, a crash's) are seen.
        self.poll_seconds = poll_seconds
        self._registered = False
        self._forget_listener = outbox.on_commit(self._wake.set)

    @property
    def name(self) -> str:
        return self.consumer.name

    async def drain(self, wait: bool = False) -> int:
        """Handles every event committed so far; returns how many. With `wait`, waits for a
        runner in another process to let go of the consumer rather than leaving the work to
        it (read-your-writes)."""
        conn = sql.connection()
        if not self._registered:
            await register(conn, self.name, self.clock.now())
            self._registered = True
        handled = 0
        while True:
            # Looked at first, outside a transaction: on SQLite a transaction takes the write
            # lock as it begins, and an idle poll must not make other processes' writers wait.
            found = await checkpoint(conn, self.name)
            if found is None or not await outbox.any_after(conn, found.position):
                return handled
            done = await self._batch(wait)
            if not done:
                return handled
            handled += done
            if self.stopping:  # the rest is left to the next start (or another process)
                return handled
            # What a consumer wrote may include events of its own (a badge unlocked): the
            # others are woken for them as for any commit, not left to their poll.
            outbox.committed()

    async def _batch(self, wait: bool) -> int:
        bound = await outbox.settled_bound(sql.connection())
        async with in_transaction("default") as conn:
            held = await _hold(conn, self.name, wait)
            if held is None:
                return 0
            events = await outbox.after(conn, held.position, bound, self.batch)
            if not events:
                return 0
            now = self.clock.now()
            await self.consumer.handle(conn, events, now)
            last = events[-1].position
            await sql.execute(
                conn,
                "UPDATE consumer_checkpoint SET commit_order = ?, event_id = ?, "
                "handled = handled + ?, failures = 0, last_error = NULL, retry_at = NULL, "
                "updated_at = ? WHERE name = ?",
                [last.commit_order, last.event_id, len(events), now, self.name],
            )
        return len(events)

    async def _failed(self, error: Exception) -> float:
        """Records a failure on the consumer's checkpoint; returns how long to wait."""
        now = self.clock.now()
        async with in_transaction("default") as conn:
            found = await checkpoint(conn, self.name)
            failures = (found.failures if found is not None else 0) + 1
            # Jittered, so that workers retrying the same consumer spread out.
            delay = retry_delay(failures) * random.uniform(0.5, 1.0)
            await sql.execute(
                conn,
                "UPDATE consumer_checkpoint SET failures = ?, last_error = ?, retry_at = ?, "
                "updated_at = ? WHERE name = ?",
                [failures, repr(error)[:2000], now + timedelta(seconds=delay), now, self.name],
            )
        return delay

    async def rounds(self) -> None:
        while not self.stopping:
            try:
                await self.drain()
            except Exception as error:
                log.exception("outbox consumer %s failed; retrying", self.name)
                delay = RETRY_FIRST_SECONDS
                with contextlib.suppress(Exception):  # the database itself may be away
                    delay = await self._failed(error)
                await self.sleep(delay)
                continue
            await self.pause(self.poll_seconds)

    async def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        self._forget_listener()
        await super().stop(grace)
