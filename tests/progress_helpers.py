"""Progress tests share a program with badges of several metrics (and one with challenges and
rolling tiers besides), a way to run the progress projector, and a look at what Redis holds."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import redis.asyncio as aioredis
from tortoise.transactions import in_transaction

from domain import consumers, outbox
from gamification.progress import Progress, ProgressProjector
from tests.helpers import BASE_PROGRAM
from tests.leaderboard_helpers import FixedClock

BADGES = """
[[badges]]
key = "regular"
name = "Regular"
metric = "purchases"
levels = [1, 3]

[[badges]]
key = "big-spender"
name = "Big spender"
metric = "spend:RON"
levels = [100, 1000]

[[badges]]
key = "earner"
name = "Earner"
metric = "points_earned"
levels = [500]

[[badges]]
key = "critic"
name = "Critic"
metric = "actions:REVIEW"
levels = [2]

[[badges]]
key = "secret"
name = "Secret shopper"
metric = "purchases"
levels = [5]
hidden = true
"""

BADGES_PROGRAM = BASE_PROGRAM.read_text(encoding="utf-8") + BADGES

# A weekly challenge of purchases and reviews, a monthly one of spend; tiers over the 12
# months up to the next monthly review.
CHALLENGES = """
[[challenges]]
key = "busy-week"
name = "Busy week"
every = "week"
points = 100
goals = [{ metric = "purchases", target = 3 }, { metric = "actions:REVIEW", target = 1 }]

[[challenges]]
key = "big-month"
name = "Big month"
every = "month"
points = 300
goals = [{ metric = "spend", currency = "RON", target = 500 }]

[tier_rules]
window = "rolling_12_months"
"""

PROGRESS_PROGRAM = BADGES_PROGRAM + CHALLENGES


async def project(progress: Progress, now: datetime) -> int:
    """Runs the progress projector as the server does (its runner, from its checkpoint), at
    `now`; returns how many events it handled."""
    return await consumers.Runner(ProgressProjector(progress), FixedClock(now)).drain()


async def replay(progress: Progress, now: datetime) -> None:
    """Hands the projector every event kept, in one batch, whatever it handled before."""
    async with in_transaction("default") as conn:
        found = await outbox.after(conn, outbox.Position(), None, 1_000_000)
        await ProgressProjector(progress).handle(conn, found, now)


async def dump(redis: aioredis.Redis, progress: Progress) -> dict[str, Any]:
    """Every progress key with its members and values, the population, what was built and
    the day (the generation left out)."""
    found: dict[str, Any] = {}
    async for key in redis.scan_iter(match=progress.key("*"), count=1000):
        name = str(key)
        if name == progress.generation_key:
            continue
        if name in (progress.population_key, progress.metrics_key, progress.day_key):
            found[name] = await redis.get(name)
        else:
            found[name] = await redis.zrange(name, 0, -1, withscores=True)
    return dict(sorted(found.items()))
