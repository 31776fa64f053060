"""A member's gamification standing: badge progress and streaks."""

from __future__ import annotations

from datetime import date, datetime

import strawberry

from domain import program
from gamification.badges import Standing
from gamification.streaks import StreakStatus
from schema.common import expose_enum
from schema.program.types import Badge

expose_enum(
    program.StreakPeriod,
    name="StreakPeriod",
    description="What a streak counts in a row, in the program's time zone.",
    meanings={
        program.StreakPeriod.DAY: "Calendar days.",
        program.StreakPeriod.WEEK: "Calendar weeks, Monday to Sunday.",
    },
)


@strawberry.type(
    description="Where a member stands on one badge: the metric's value, the next level's "
    "target, and when the latest level was unlocked."
)
class BadgeProgress:
    badge: Badge = strawberry.field(description="The badge.")
    current: int = strawberry.field(
        description="The badge's metric for this member now (money in whole units of its "
        "currency, a streak as its longest run)."
    )
    target: int = strawberry.field(
        description="What the next level needs; the top level's once every level is unlocked."
    )
    progress: float = strawberry.field(
        description="current / target, from 0 to 1: 1 once every level is unlocked."
    )
    level: int = strawberry.field(
        description="Levels unlocked, from 0 (none) to the number of the badge's levels: 1 is "
        "the first (bronze), 2 the second (silver)..."
    )
    unlocked_at: datetime | None = strawberry.field(
        description="When the latest unlocked level was unlocked; null before the first."
    )
    percentile: float | None = strawberry.field(
        description="How many of the program's members have a lower value of this badge's "
        "metric, in percent (0 to 100): 'ahead of 73% of members'. Null when Redis cannot be "
        "read just now."
    )

    @classmethod
    def of(
        cls, standing: Standing, language: str | None, percentile: float | None = None
    ) -> BadgeProgress:
        return cls(
            badge=Badge.of(standing.badge, language),
            current=standing.current,
            target=standing.target,
            progress=standing.progress,
            level=standing.level,
            unlocked_at=standing.unlocked_at,
            percentile=percentile,
        )


@strawberry.type(
    description="A member's run of consecutive days or weeks with the streak's activity "
    "(missed periods within its grace do not break it)."
)
class StreakProgress:
    key: str = strawberry.field(description="The streak's key in the program file.")
    name: str = strawberry.field(description="Its name, in the caller's language.")
    description: str | None = strawberry.field(
        description="What keeps it going, in the caller's language."
    )
    period: program.StreakPeriod = strawberry.field(description="Days or weeks.")
    grace: int = strawberry.field(
        description="Missed periods a streak may have without breaking (in all, not per gap)."
    )
    current: int = strawberry.field(
        description="Active periods in the streak still running: the current period counts "
        "once active, and is never a miss while it lasts. 0 when the streak is broken."
    )
    longest: int = strawberry.field(description="Active periods in the longest streak ever.")
    last_active: date | None = strawberry.field(
        description="The first day of the latest active period (a Monday for weeks), in the "
        "program's time zone; null if never active."
    )

    @classmethod
    def of(
        cls, streak: program.Streak, status: StreakStatus, language: str | None
    ) -> StreakProgress:
        return cls(
            key=streak.key,
            name=streak.name.get(language),
            description=streak.description.get(language) if streak.description else None,
            period=streak.period,
            grace=streak.grace,
            current=status.current,
            longest=status.longest,
            last_active=status.last_active,
        )
