"""How long the outbox and idempotency records are kept, and the job that prunes them.

- An event is pruned once every registered consumer (domain/consumers.py) has handled it and
  it is older than the event retention (7 days by default). A consumer that stops for good
  holds events back until its checkpoint is forgotten (`coalition events forget NAME`).
- An idempotency record is pruned once older than the idempotency retention (30 days by
  default). A retry with its key after that is a new request: clients retry within minutes or
  days, and a month covers a partner's batch replayed after an outage.
Both are deleted in small batches, each its own transaction, so that writers never wait long.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.transactions import in_transaction

from domain import consumers, outbox, sql

BATCH = 5_000
EVENT_DAYS = 7
IDEMPOTENCY_DAYS = 30


@dataclass(frozen=True)
class Retention:
    events: timedelta = timedelta(days=EVENT_DAYS)
    idempotency: timedelta = timedelta(days=IDEMPOTENCY_DAYS)


@dataclass(frozen=True)
class Pruned:
    events: int
    idempotency_records: int


async def handled_by_all() -> outbox.Position | None:
    """The position every registered consumer has got past; None when none is registered (the
    events are then kept: nobody has read them)."""
    found = await consumers.checkpoints(sql.connection())
    return min((c.position for c in found), default=None)


async def prune(now: datetime, retention: Retention, batch: int = BATCH) -> Pruned:
    events = 0
    upto = await handled_by_all()
    if upto is not None:
        events = await _in_batches(
            "DELETE FROM outbox_event WHERE id IN (SELECT id FROM outbox_event "
            "WHERE (commit_order, id) <= (?, ?) AND created_at < ? ORDER BY commit_order, id "
            "LIMIT ?)",
            [upto.commit_order, upto.event_id, now - retention.events],
            batch,
        )
    records = await _in_batches(
        "DELETE FROM idempotency_record WHERE id IN (SELECT id FROM idempotency_record "
        "WHERE created_at < ? ORDER BY id LIMIT ?)",
        [now - retention.idempotency],
        batch,
    )
    return Pruned(events=events, idempotency_records=records)


async def _in_batches(statement: str, params: list[object], batch: int) -> int:
    total = 0
    while True:
        async with in_transaction("default") as conn:
            deleted = await sql.execute(conn, statement, [*params, batch])
        total += deleted
        if deleted < batch:
            return total
