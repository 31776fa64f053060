"""Leaderboard tests share a program with boards, a way to run the projector, and a look at
what Redis holds."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import redis.asyncio as aioredis
from tortoise.transactions import in_transaction

from gamification import leaderboards
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


async def project(boards: Leaderboards, now: datetime, after_id: int = 0) -> int:
    """Hands the projector every outbox event past `after_id` in one batch, as the runner
    would (in the transaction that would advance its checkpoint); returns the last id."""
    async with in_transaction("default") as conn:
        found = await leaderboards.events_after(conn, after_id)
        await Projector(boards).handle(conn, found, now)
    return found[-1].id if found else after_id


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
