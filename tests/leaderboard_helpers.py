"""Leaderboard tests share a program with boards, a way to run the projector, and a look at
what Redis holds."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import redis.asyncio as aioredis
from tortoise.transactions import in_transaction

from domain import consumers, outbox
from gamification.leaderboards import Leaderboards, Projector
from tests.helpers import BASE_PROGRAM

BOARDS = """
[[leaderboards]]
key = "points"
name = { en = "Top earners", ro = "Cei mai harnici" }
metric = "points_earned"
periods = ["ALL_TIME", "WEEK", "MONTH"]

[[leaderboards]]
key = "reviewers"
name = "Most helpful reviewers"
metric = "actions:REVIEW"
periods = ["MONTH"]

[[leaderboards]]
key = "skyways"
name = "SkyWays flyers"
metric = "points_earned"
partner = "skyways"
periods = ["ALL_TIME"]
"""

BOARDS_PROGRAM = BASE_PROGRAM.read_text(encoding="utf-8") + BOARDS


async def project(boards: Leaderboards, now: datetime) -> int:
    """Runs the projector as the server does (its runner, from its checkpoint), at `now`;
    returns how many events it handled."""
    return await consumers.Runner(Projector(boards), FixedClock(now)).drain()


async def replay(boards: Leaderboards, now: datetime) -> None:
    """Hands the projector every event kept, in one batch, whatever it handled before."""
    async with in_transaction("default") as conn:
        found = await outbox.after(conn, outbox.Position(), None, 1_000_000)
        await Projector(boards).handle(conn, found, now)


class FixedClock:
    def __init__(self, now: datetime) -> None:
        self.moment = now

    def now(self) -> datetime:
        return self.moment


async def dump(redis: aioredis.Redis, boards: Leaderboards) -> dict[str, list[Any]]:
    """Every board key and its members with their values (the generation left out)."""
    keys = sorted(
        [str(k) async for k in redis.scan_iter(match=f"{boards.boards.tag}:lb:*", count=1000)]
    )
    return {
        key: await redis.zrange(key, 0, -1, withscores=True)
        for key in keys
        if key != boards.boards.generation_key
    }
