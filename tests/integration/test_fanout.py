"""The outbox fan-out (gamification/fanout.py), run as an outbox consumer, against the real
Redis: what it publishes, that its checkpoint moves past what it sent, that a Redis outage
loses nothing, and the loop that a commit wakes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from tortoise.transactions import in_transaction

from domain import consumers, members, outbox, purchases, sql
from domain.actors import ADMIN
from domain.consumers import Runner
from domain.unit import utcnow
from gamification.fanout import Fanout, member_channel, program_channel
from tests.helpers import Stores, new_key

PREFIX = "{c}"
WAIT = 10.0  # a bound on waiting for a message that should come at once, not a sleep
SENTINEL = "sentinel"


async def enroll(db: Stores, external_id: str = "ana") -> int:
    enrolled = await members.enroll(db.program, ADMIN, members.Enrollment(external_id), None)
    return enrolled.member.id


async def purchase(db: Stores, member_id: int, amount: str = "120") -> purchases.Recorded:
    return await purchases.record(
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


async def outbox_rows(where: str = "1 = 1", params: list[Any] | None = None) -> list[dict]:
    found = await sql.rows(
        sql.connection(),
        "SELECT id, type, member_id, transaction_id, payload, commit_order FROM outbox_event "
        f"WHERE {where} ORDER BY id",
        params or [],
    )
    for r in found:
        r["commit_order"] = int(r["commit_order"])
        if not isinstance(r["payload"], dict):
            r["payload"] = json.loads(r["payload"])
    return found


def as_message(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": int(row["id"]),
        "type": row["type"],
        "memberId": None if row["member_id"] is None else int(row["member_id"]),
        "transactionId": None if row["transaction_id"] is None else int(row["transaction_id"]),
        "payload": row["payload"],
    }


async def subscribe(redis: aioredis.Redis, *channels: str) -> PubSub:
    pubsub = redis.pubsub()
    await pubsub.subscribe(*channels)
    for _ in channels:
        confirmation = await pubsub.get_message(timeout=WAIT)
        assert confirmation is not None
        assert confirmation["type"] == "subscribe"
    return pubsub


async def next_message(pubsub: PubSub) -> dict[str, Any]:
    async def wait() -> dict[str, Any]:
        while True:
            found = await pubsub.get_message(ignore_subscribe_messages=True, timeout=WAIT)
            if found is not None:
                return found

    return await asyncio.wait_for(wait(), WAIT)


async def received_until_sentinel(
    redis: aioredis.Redis, pubsub: PubSub, *channels: str
) -> dict[str, list[dict[str, Any]]]:
    """Every message on `channels` up to a sentinel we publish on each now: Redis delivers
    to a subscriber in publishing order, so this is exactly what was published before, with
    no waiting for silence."""
    for channel in channels:
        await redis.publish(channel, SENTINEL)
    received: dict[str, list[dict[str, Any]]] = {channel: [] for channel in channels}
    open_channels = set(channels)
    while open_channels:
        found = await next_message(pubsub)
        channel = found["channel"]
        assert channel in open_channels, found
        if found["data"] == SENTINEL:
            open_channels.remove(channel)
        else:
            received[channel].append(json.loads(found["data"]))
    return received


@pytest.fixture
async def fanouts(db: Stores) -> AsyncIterator[list[Runner]]:
    """Fan-outs made by a test; each is stopped afterwards, so none keeps listening."""
    made: list[Runner] = []
    yield made
    for made_one in made:
        if made_one._wake.set in outbox._commit_listeners:  # not stopped by the test itself
            await made_one.stop()


def fanout(redis: aioredis.Redis, made: list[Runner], poll_seconds: float = 2.0) -> Runner:
    runner = Runner(Fanout(redis, PREFIX), poll_seconds=poll_seconds)
    made.append(runner)
    return runner


async def unsent(where: str = "1 = 1", params: list[Any] | None = None) -> list[dict]:
    """The events past the fan-out's checkpoint (all of them before it first ran)."""
    found = await consumers.checkpoint(sql.connection(), Fanout.name)
    position = found.position if found is not None else outbox.Position()
    return await outbox_rows(
        f"(commit_order, id) > (?, ?) AND {where}",
        [position.commit_order, position.event_id, *(params or [])],
    )


def dead_redis(tmp_path: Path) -> aioredis.Redis:
    return aioredis.Redis(
        unix_socket_path=str(tmp_path / "nobody-listens.sock"),
        decode_responses=True,
        retry=Retry(NoBackoff(), 0),
        socket_connect_timeout=1,
    )


async def test_drain_publishes_events_to_the_member_channel_and_moves_its_checkpoint(
    db: Stores, fanouts: list[Runner]
):
    runner = fanout(db.redis, fanouts)
    ana = await enroll(db)
    assert await runner.drain() == 1  # member.enrolled
    channel = member_channel(PREFIX, ana)
    assert channel == f"{{c}}:member:{ana}"
    pubsub = await subscribe(db.redis, channel)
    try:
        recorded = await purchase(db, ana, "120")
        rows = await unsent()
        assert [r["type"] for r in rows] == ["points.changed", "purchase.recorded"]

        assert await runner.drain() == 2

        first, second = await next_message(pubsub), await next_message(pubsub)
        assert first["channel"] == second["channel"] == channel
        messages = [json.loads(first["data"]), json.loads(second["data"])]
        assert messages == [as_message(r) for r in rows]
        changed, bought = messages
        assert changed["memberId"] == bought["memberId"] == ana
        assert changed["transactionId"] == bought["transactionId"] == recorded.transaction.id
        assert changed["payload"]["delta"] == 120
        assert changed["payload"]["balance"] == 120
        assert bought["payload"]["purchaseId"] == recorded.purchase.id
        assert bought["payload"]["points"] == 120

        # The checkpoint is past them: nothing is left, and a second drain sends nothing.
        assert await unsent() == []
        found = await consumers.checkpoint(sql.connection(), Fanout.name)
        assert found is not None
        assert (found.handled, found.failures) == (3, 0)
        assert found.position.event_id == rows[-1]["id"]
        assert await runner.drain() == 0
        assert await received_until_sentinel(db.redis, pubsub, channel) == {channel: []}
    finally:
        await pubsub.aclose()


async def test_events_written_while_redis_is_down_go_out_exactly_once_when_it_is_back(
    db: Stores, fanouts: list[Runner], tmp_path: Path
):
    ana = await enroll(db)
    bob = await enroll(db, "bob")
    down = dead_redis(tmp_path)
    broken = fanout(down, fanouts)
    try:
        await purchase(db, ana, "100")
        await purchase(db, bob, "50")
        await purchase(db, ana, "30")
        with pytest.raises(RedisConnectionError):
            await broken.drain()
        with pytest.raises(RedisConnectionError):
            await broken.drain()
    finally:
        await down.aclose()
    pending = await outbox_rows()
    assert len(pending) == 8  # 2 enrollments, 3 x (points.changed + purchase.recorded)
    assert await unsent() == pending

    channels = [member_channel(PREFIX, ana), member_channel(PREFIX, bob)]
    pubsub = await subscribe(db.redis, *channels)
    try:
        # A fresh fan-out, as after a restart.
        recovered = fanout(db.redis, fanouts)
        assert await recovered.drain() == 8
        assert await recovered.drain() == 0
        got = await received_until_sentinel(db.redis, pubsub, *channels)
        assert got == {
            channel: [as_message(r) for r in pending if int(r["member_id"]) == member_id]
            for member_id, channel in zip((ana, bob), channels, strict=True)
        }
    finally:
        await pubsub.aclose()
    assert await unsent() == []


async def settled_checkpoint() -> outbox.Position:
    """The fan-out's checkpoint once no transaction holds it any more: a loop that has published
    a batch holds it until it has moved it (PostgreSQL: FOR UPDATE waits for that lock; SQLite:
    a transaction holds the only connection, which a plain read waits for)."""
    statement = "SELECT commit_order, event_id FROM consumer_checkpoint WHERE name = ?"
    if sql.is_postgres(sql.connection()):
        async with in_transaction("default") as conn:
            found = await sql.row(conn, statement + " FOR UPDATE", [Fanout.name])
    else:
        found = await sql.row(sql.connection(), statement, [Fanout.name])
    assert found is not None
    return outbox.Position(int(found["commit_order"]), int(found["event_id"]))


async def sent(rows: list[dict[str, Any]]) -> bool:
    checkpoint = await settled_checkpoint()
    return all(outbox.Position(r["commit_order"], r["id"]) <= checkpoint for r in rows)


async def test_the_started_loop_publishes_as_soon_as_a_commit_wakes_it(
    db: Stores, fanouts: list[Runner]
):
    # With the slow poll out of the way, only the commit's wake-up can deliver in time.
    ana = await enroll(db)
    runner = fanout(db.redis, fanouts, poll_seconds=3600.0)
    assert await runner.drain() == 1
    channel = member_channel(PREFIX, ana)
    pubsub = await subscribe(db.redis, channel)
    try:
        runner.start()
        runner.start()  # a second start is a no-op, not a second loop
        recorded = await purchase(db, ana, "75")
        rows = await outbox_rows("transaction_id = ?", [recorded.transaction.id])
        first = json.loads((await next_message(pubsub))["data"])
        second = json.loads((await next_message(pubsub))["data"])
        assert [first, second] == [as_message(r) for r in rows]
        assert first["payload"]["delta"] == 75
        assert await sent(rows)

        task = runner._task
        assert task is not None
        await runner.stop()
        assert task.done()
        assert runner._task is None
        assert runner._wake.set not in outbox._commit_listeners

        # Stopped: a commit no longer gets anything published.
        later = await purchase(db, ana, "9")
        left = await unsent("transaction_id = ?", [later.transaction.id])
        assert [r["type"] for r in left] == ["points.changed", "purchase.recorded"]
        assert await received_until_sentinel(db.redis, pubsub, channel) == {channel: []}
    finally:
        await pubsub.aclose()


async def test_the_slow_poll_picks_up_events_no_commit_announced(db: Stores, fanouts: list[Runner]):
    # Events written by another process (or left by a crash) wake nobody here.
    pubsub = await subscribe(db.redis, program_channel(PREFIX), member_channel(PREFIX, 7))
    try:
        async with in_transaction("default") as conn:
            await outbox.write(
                conn,
                [
                    outbox.Event("program.changed", {"version": 2}),
                    outbox.Event("member.poked", {"n": 1}, member_id=7),
                ],
                utcnow(),
            )
        runner = fanout(db.redis, fanouts, poll_seconds=0.05)
        runner.start()
        first, second = await next_message(pubsub), await next_message(pubsub)
        assert first["channel"] == "{c}:program"
        assert json.loads(first["data"])["type"] == "program.changed"
        assert json.loads(first["data"])["memberId"] is None
        assert second["channel"] == "{c}:member:7"
        assert json.loads(second["data"])["payload"] == {"n": 1}
        ids = [json.loads(m["data"])["id"] for m in (first, second)]
        assert await sent(await outbox_rows(f"id IN ({sql.in_list(len(ids))})", ids))
        await runner.stop()
    finally:
        await pubsub.aclose()
    assert await unsent() == []
