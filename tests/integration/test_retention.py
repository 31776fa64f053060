"""Pruning (domain/retention.py) on both databases: events go once every consumer has handled
them and they are past the retention, never before; idempotency records go after theirs, and a
retry with a pruned key is then a new request."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from domain import adjustments, consumers, members, outbox, sql
from domain.actors import ADMIN
from domain.consumers import Runner
from domain.retention import Retention, prune
from tests.helpers import Stores, new_key

T0 = datetime.fromisoformat("2026-11-01T12:00:00+00:00")
WEEK = Retention(events=timedelta(days=7), idempotency=timedelta(days=30))


class Counting:
    def __init__(self, name: str) -> None:
        self.name = name
        self.seen = 0

    async def handle(
        self, conn: BaseDBAsyncClient, batch: Sequence[outbox.StoredEvent], now: datetime
    ) -> None:
        self.seen += len(batch)


async def write_events(at: datetime, count: int) -> list[int]:
    async with in_transaction("default") as conn:
        await outbox.write(
            conn, [outbox.Event("member.poked", {"n": n}, member_id=1) for n in range(count)], at
        )
    found = await sql.rows(
        sql.connection(), "SELECT id FROM outbox_event WHERE created_at = ? ORDER BY id", [at]
    )
    return [int(r["id"]) for r in found]


async def kept() -> list[int]:
    found = await sql.rows(sql.connection(), "SELECT id FROM outbox_event ORDER BY id")
    return [int(r["id"]) for r in found]


async def test_events_are_kept_until_every_consumer_has_them_and_they_are_old_enough(db: Stores):
    old = await write_events(T0, 4)
    # Nobody has registered: nobody has read anything, so nothing goes.
    assert (await prune(T0 + timedelta(days=30), WEEK)).events == 0
    assert await kept() == old

    fast, slow = Runner(Counting("fast"), batch=500), Runner(Counting("slow"), batch=2)
    assert await fast.drain() == 4
    await consumers.register(sql.connection(), "slow", T0)
    assert await slow._batch(wait=True) == 2  # the slow one has handled the first two only
    recent = await write_events(T0 + timedelta(days=6), 3)
    assert await fast.drain() == 3

    # Old enough, but the slow consumer has not had the last two old ones yet.
    pruned = await prune(T0 + timedelta(days=8), WEEK)
    assert pruned.events == 2
    assert await kept() == old[2:] + recent

    # It catches up: the old ones go, the recent ones stay until they are a week old.
    assert await slow.drain() == 5
    assert (await prune(T0 + timedelta(days=8), WEEK)).events == 2
    assert await kept() == recent
    assert (await prune(T0 + timedelta(days=13), WEEK)).events == 0  # a week to the moment
    assert (await prune(T0 + timedelta(days=13, seconds=1), WEEK)).events == 3
    assert await kept() == []
    await fast.stop()
    await slow.stop()


async def test_pruning_goes_in_batches_and_a_second_run_finds_nothing(db: Stores):
    ids = await write_events(T0, 12)
    runner = Runner(Counting("all"))
    assert await runner.drain() == 12
    assert (await prune(T0 + timedelta(days=8), WEEK, batch=5)).events == len(ids)
    assert (await prune(T0 + timedelta(days=8), WEEK)).events == 0
    await runner.stop()


async def test_a_key_past_its_retention_is_pruned_and_its_retry_is_a_new_request(db: Stores):
    enrolled = await members.enroll(db.program, ADMIN, members.Enrollment("ana"), None, now=T0)
    ana = members.MemberRef(id=enrolled.member.id)
    key = new_key()
    first = await adjustments.adjust(db.program, ADMIN, ana, 50, "welcome", key, now=T0)
    within = T0 + timedelta(days=29)
    assert (await prune(within, WEEK)).idempotency_records == 0
    replay = await adjustments.adjust(db.program, ADMIN, ana, 50, "welcome", key, now=within)
    assert replay.transaction.id == first.transaction.id

    after = T0 + timedelta(days=31)
    assert (await prune(after, WEEK)).idempotency_records == 1
    again = await adjustments.adjust(db.program, ADMIN, ana, 50, "welcome", key, now=after)
    assert again.transaction.id != first.transaction.id
    assert again.member.balance == 100
