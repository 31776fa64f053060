"""A worker's live subscribers (gamification.watch) on the real Redis: one pub/sub connection
and one channel subscription per member however many watch, events routed to their member's
watches only, a subscriber that stops reading cut off, and a clean close."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from app import storage
from gamification.fanout import member_channel
from gamification.live import LiveTier
from gamification.watch import FellBehind, MemberEvents, Unavailable, Watch

PREFIX = "{hub}"
WAIT = 10.0


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = storage.open_redis(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


async def tier(redis: aioredis.Redis, member: int, event_id: int, to: str = "gold") -> None:
    message = {
        "id": event_id,
        "type": "tier.changed",
        "memberId": member,
        "payload": {"toTier": to},
    }
    await redis.publish(member_channel(PREFIX, member), json.dumps(message))


async def take(watch: Watch) -> LiveTier:
    event = await asyncio.wait_for(anext(watch), WAIT)
    assert isinstance(event, LiveTier)
    return event


async def numsub(redis: aioredis.Redis, *members: int) -> list[int]:
    channels = [member_channel(PREFIX, m) for m in members]
    counts = dict(await redis.pubsub_numsub(*channels))
    return [counts.get(c, 0) for c in channels]


async def test_watches_share_one_subscription_per_member_and_get_only_their_members_events(
    redis: aioredis.Redis,
) -> None:
    hub = MemberEvents(lambda: redis, PREFIX)
    async with hub.watch(1) as ana, hub.watch(1) as again, hub.watch(2) as bob:
        assert await numsub(redis, 1, 2) == [1, 1]
        assert hub.watching == 3
        await tier(redis, 2, 10, "silver")
        await tier(redis, 1, 11, "gold")
        await tier(redis, 1, 11, "gold")  # a repeat
        await tier(redis, 1, 12, "platinum")
        assert [(await take(ana)).to_tier, (await take(ana)).to_tier] == ["gold", "platinum"]
        assert [(await take(again)).event_id, (await take(again)).event_id] == [11, 12]
        assert (await take(bob)).to_tier == "silver"
    assert await numsub(redis, 1, 2) == [0, 0]
    assert hub.watching == 0


async def test_a_subscriber_that_stops_reading_is_cut_off(redis: aioredis.Redis) -> None:
    hub = MemberEvents(lambda: redis, PREFIX, backlog=3)
    async with hub.watch(1) as slow, hub.watch(1) as quick:
        for event_id in range(1, 6):
            await tier(redis, 1, event_id)
            assert (await take(quick)).event_id == event_id
        for event_id in (1, 2, 3):
            assert (await take(slow)).event_id == event_id
        with pytest.raises(FellBehind):
            await asyncio.wait_for(anext(slow), WAIT)
        await tier(redis, 1, 6)
        assert (await take(quick)).event_id == 6  # the others are served on


async def test_closing_ends_every_watch_and_refuses_new_ones(redis: aioredis.Redis) -> None:
    hub = MemberEvents(lambda: redis, PREFIX)
    async with hub.watch(1) as ana:
        before = len(await redis.client_list(_type="pubsub"))
        await hub.close()
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(anext(ana), WAIT)
        assert len(await redis.client_list(_type="pubsub")) == before - 1
    with pytest.raises(Unavailable):
        async with hub.watch(1):
            pass


async def test_without_redis_a_watch_is_unavailable() -> None:
    gone = aioredis.Redis(unix_socket_path="/nonexistent/redis.sock")
    hub = MemberEvents(lambda: gone, PREFIX)
    with pytest.raises(Unavailable, match="Redis cannot be reached"):
        async with hub.watch(1):
            pass
    assert hub.watching == 0
    await gone.aclose()


async def test_a_lost_pub_sub_connection_comes_back_subscribed(redis: aioredis.Redis) -> None:
    hub = MemberEvents(lambda: redis, PREFIX)
    async with hub.watch(1) as ana:
        await tier(redis, 1, 1)
        assert (await take(ana)).event_id == 1
        assert await redis.execute_command("CLIENT", "KILL", "TYPE", "pubsub") >= 1
        # What is published while it is away is lost (pub/sub is at most once); once it is
        # back on the channel, events come again.
        async with asyncio.timeout(WAIT):
            while await numsub(redis, 1) != [1]:  # noqa: ASYNC110 - nothing to wait on
                await asyncio.sleep(0.05)
        await tier(redis, 1, 2)
        assert (await take(ana)).event_id == 2
