"""Outbox consumers (domain/consumers.py) on both databases: each keeps its own checkpoint and
its own retries, a late commit is never skipped, SQL a consumer writes happens once with its
checkpoint, and two runners of one consumer never handle an event twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime
from itertools import pairwise

import pytest
from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from domain import consumers, events, members, outbox, purchases, sql
from domain.actors import ADMIN
from domain.consumers import Runner
from tests.helpers import ManualClock, Stores, new_key

WAIT = 10.0  # a bound on waiting for something that should happen at once, not a sleep


class Recording:
    """Remembers what it was handed, and can be told to fail."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.seen: list[int] = []
        self.failing: Exception | None = None

    async def handle(
        self, conn: BaseDBAsyncClient, batch: Sequence[outbox.StoredEvent], now: datetime
    ) -> None:
        self.seen += [e.id for e in batch]
        if self.failing is not None:
            raise self.failing


class Tallying:
    """Counts events in SQL, on the consumer's own connection: once per event, or the count is
    wrong."""

    name = "tally"

    async def handle(
        self, conn: BaseDBAsyncClient, batch: Sequence[outbox.StoredEvent], now: datetime
    ) -> None:
        for event in batch:
            await sql.execute(
                conn,
                "INSERT INTO idempotency_record (scope, key, operation, request_hash, "
                "created_at) VALUES ('tally', ?, 'tally', '-', ?)",
                [str(event.id), now],
            )


@pytest.fixture
async def runners() -> AsyncIterator[list[Runner]]:
    made: list[Runner] = []
    yield made
    for runner in made:
        await runner.stop()


async def enroll(db: Stores, external_id: str) -> int:
    enrolled = await members.enroll(db.program, ADMIN, members.Enrollment(external_id), None)
    return enrolled.member.id


async def purchase(db: Stores, member_id: int, amount: str = "10") -> None:
    await purchases.record(
        db.program,
        ADMIN,
        purchases.PurchaseInput(
            member=members.MemberRef(id=member_id),
            order_id=new_key(),
            amount=amount,
            currency="RON",
        ),
        new_key(),
    )


async def all_ids() -> list[int]:
    found = await sql.rows(
        sql.connection(), "SELECT id FROM outbox_event ORDER BY commit_order, id"
    )
    return [int(r["id"]) for r in found]


async def test_each_consumer_keeps_its_own_checkpoint_and_a_failing_one_holds_back_no_other(
    db: Stores, runners: list[Runner]
):
    clock = ManualClock("2026-12-01T10:00:00+00:00")
    healthy, failing = Recording("healthy"), Recording("failing")
    failing.failing = RuntimeError("the projector's store is away")
    first, second = Runner(healthy, clock), Runner(failing, clock)
    runners += [first, second]
    ana = await enroll(db, "ana")
    await purchase(db, ana)
    written = await all_ids()
    assert len(written) == 3

    assert await first.drain() == 3
    with pytest.raises(RuntimeError):
        await second.drain()
    assert healthy.seen == written
    assert failing.seen == written  # handed them, then rolled back: not past them

    # The failure is the failing consumer's alone: recorded on its checkpoint, retried later.
    delay = await second._failed(RuntimeError("the projector's store is away"))
    assert consumers.RETRY_FIRST_SECONDS / 2 <= delay <= consumers.RETRY_FIRST_SECONDS
    conn = sql.connection()
    held = await consumers.checkpoint(conn, "failing")
    moved = await consumers.checkpoint(conn, "healthy")
    assert held is not None
    assert moved is not None
    assert (held.position, held.failures) == (outbox.Position(), 1)
    assert "away" in (held.last_error or "")
    assert held.retry_at is not None
    assert held.retry_at > clock.now()
    assert (moved.position.event_id, moved.handled, moved.failures) == (written[-1], 3, 0)
    assert await consumers.lag(conn, held.position) == 3
    assert await consumers.lag(conn, moved.position) == 0

    # More events: the healthy one goes on, and the failing one, once it recovers, gets every
    # event from where it stopped, in order, and its failures are cleared.
    await purchase(db, ana)
    later = (await all_ids())[3:]
    assert await first.drain() == 2
    assert healthy.seen == written + later
    failing.failing = None
    failing.seen = []
    assert await second.drain() == 5
    assert failing.seen == written + later
    recovered = await consumers.checkpoint(conn, "failing")
    assert recovered is not None
    assert (recovered.failures, recovered.last_error, recovered.retry_at) == (0, None, None)


def test_retries_wait_longer_after_each_failure_up_to_a_minute():
    delays = [consumers.retry_delay(n) for n in range(1, 12)]
    assert delays[0] == consumers.RETRY_FIRST_SECONDS
    assert all(b == min(a * 2, consumers.RETRY_MOST_SECONDS) for a, b in pairwise(delays))
    assert delays[-1] == consumers.RETRY_MOST_SECONDS


async def test_a_started_runner_retries_on_its_own_until_the_consumer_recovers(
    db: Stores, runners: list[Runner]
):
    flaky = Recording("flaky")
    flaky.failing = RuntimeError("not yet")
    runner = Runner(flaky, poll_seconds=0.05)
    runners.append(runner)
    await enroll(db, "ana")
    runner.start()

    async def failed_once() -> bool:
        found = await consumers.checkpoint(sql.connection(), "flaky")
        return found is not None and found.failures > 0

    async def caught_up() -> bool:
        return await consumers.lag(sql.connection(), await position("flaky")) == 0

    await eventually(failed_once)
    flaky.failing = None
    await eventually(caught_up)
    settled = await consumers.checkpoint(sql.connection(), "flaky")
    assert settled is not None
    assert (settled.failures, settled.handled) == (0, 1)


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    """Waits, up to WAIT, for what a background runner does: its loop wakes no one here."""
    deadline = asyncio.get_running_loop().time() + WAIT
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "it never happened"
        await asyncio.sleep(0.01)


async def position(name: str) -> outbox.Position:
    found = await consumers.checkpoint(sql.connection(), name)
    return found.position if found is not None else outbox.Position()


async def test_sql_a_consumer_writes_commits_with_its_checkpoint_exactly_once(
    db: Stores, runners: list[Runner]
):
    ana = await enroll(db, "ana")
    for _ in range(3):
        await purchase(db, ana)
    runner = Runner(Tallying(), batch=2)
    runners.append(runner)
    assert await runner.drain() == 7
    assert await runner.drain() == 0
    tallied = await sql.rows(
        sql.connection(), "SELECT key FROM idempotency_record WHERE scope = 'tally' ORDER BY id"
    )
    assert [int(r["key"]) for r in tallied] == await all_ids()


async def test_two_runners_of_one_consumer_never_handle_an_event_twice(
    db: Stores, runners: list[Runner]
):
    ana = await enroll(db, "ana")
    for _ in range(20):
        await purchase(db, ana)
    one, other = Runner(Tallying(), batch=3), Runner(Tallying(), batch=3)
    runners += [one, other]
    handled = await asyncio.gather(one.drain(), other.drain())
    assert sum(handled) == 41
    tallied = await sql.rows(
        sql.connection(), "SELECT key FROM idempotency_record WHERE scope = 'tally' ORDER BY id"
    )
    assert sorted(int(r["key"]) for r in tallied) == sorted(await all_ids())


async def test_an_event_that_commits_late_is_never_skipped(db: Stores, runners: list[Runner]):
    """On PostgreSQL a transaction that wrote first can commit last. Its event must neither be
    skipped nor handed over before the ones it precedes in commit order are safe."""
    if db.backend != "postgresql":
        pytest.skip("SQLite lets one writer in at a time: ids are given in commit order")
    recording = Recording("late")
    runner = Runner(recording)
    runners.append(runner)
    wrote, release = asyncio.Event(), asyncio.Event()
    late: list[int] = []

    async def slow_writer() -> None:
        async with in_transaction("default") as conn:
            await outbox.write(
                conn, [outbox.Event("member.poked", {"n": 1}, member_id=1)], db_now()
            )
            found = await sql.row(conn, "SELECT MAX(id) AS id FROM outbox_event")
            assert found is not None
            late.append(int(found["id"]))
            wrote.set()
            await release.wait()

    slow = asyncio.create_task(slow_writer())
    await asyncio.wait_for(wrote.wait(), WAIT)
    async with in_transaction("default") as conn:
        await outbox.write(conn, [outbox.Event("member.poked", {"n": 2}, member_id=2)], db_now())
    (early_id,) = await all_ids()
    (late_id,) = late
    assert late_id < early_id  # the late one took its id first

    # The second write has committed, but the first may still commit before it in order: the
    # consumer waits rather than go past it.
    assert await runner.drain() == 0
    assert recording.seen == []
    release.set()
    await asyncio.wait_for(slow, WAIT)
    assert await runner.drain() == 2
    assert recording.seen == [late_id, early_id]


def db_now() -> datetime:
    return datetime.fromisoformat("2026-12-01T10:00:00+00:00")


async def test_every_event_the_domain_writes_reads_back_from_the_catalogue_in_order(
    db: Stores, runners: list[Runner]
):
    """What a consumer is handed reads back as the typed event that was emitted."""
    recording: list[tuple[str, int | None]] = []

    class Typed:
        name = "typed"

        async def handle(
            self, conn: BaseDBAsyncClient, batch: Sequence[outbox.StoredEvent], now: datetime
        ) -> None:
            for stored in batch:
                event, occurred_at = events.read(stored.type, stored.payload)
                assert occurred_at is not None
                recording.append((event.TYPE, event.member_id))

    runner = Runner(Typed())
    runners.append(runner)
    ana = await enroll(db, "ana")
    await purchase(db, ana)
    assert await runner.drain() == 3
    assert recording == [
        ("member.enrolled", ana),
        ("points.changed", ana),
        ("purchase.recorded", ana),
    ]


class Busy:
    """Takes a while over each batch, inside the batch's transaction."""

    name = "busy"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.inside = asyncio.Event()
        self.finished: list[int] = []

    async def handle(
        self, conn: BaseDBAsyncClient, batch: Sequence[outbox.StoredEvent], now: datetime
    ) -> None:
        self.inside.set()
        if sql.is_postgres(conn):
            await sql.row(conn, "SELECT pg_sleep(?) AS slept", [self.seconds])
        else:
            await asyncio.sleep(self.seconds)
        self.finished += [e.id for e in batch]


def idle_connections_missing() -> int:
    """Connections checked out of the PostgreSQL pool and not given back (0 on SQLite)."""
    pool = getattr(connections.get("default"), "_pool", None)
    return 0 if pool is None else pool.get_size() - pool.get_idle_size()


async def test_a_stop_lets_the_batch_in_hand_commit_and_gives_its_connection_back(db: Stores):
    # Cancelled inside its transaction, a runner would roll the batch back and, on asyncpg,
    # could keep its pooled connection for ever: enough stops and every query waits.
    await enroll(db, "ana")
    busy = Busy(0.3)
    runner = Runner(busy, poll_seconds=3600.0)
    runner.start()
    await asyncio.wait_for(busy.inside.wait(), WAIT)
    await asyncio.wait_for(runner.stop(), WAIT)
    assert busy.finished != []
    found = await consumers.checkpoint(sql.connection(), busy.name)
    assert found is not None
    assert found.position.event_id == busy.finished[-1]
    assert idle_connections_missing() == 0


async def test_a_runner_still_busy_after_the_grace_is_cancelled(db: Stores):
    await enroll(db, "ana")
    busy = Busy(5.0)
    runner = Runner(busy, poll_seconds=3600.0)
    runner.start()
    await asyncio.wait_for(busy.inside.wait(), WAIT)
    await asyncio.wait_for(runner.stop(grace=0.1), WAIT)
    assert busy.finished == []
    found = await consumers.checkpoint(sql.connection(), busy.name)
    assert found is not None
    assert found.handled == 0
