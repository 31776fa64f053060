"""Challenges as clients see them: the public list, and a member's progress in each."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from domain import program
from gamification import challenge_engine, challenges, progress
from schema import ids
from schema.common import Decimal, Node, expose_enum
from schema.context import Context

expose_enum(
    program.Recurrence,
    name="ChallengeRecurrence",
    description="How a challenge's windows follow each other, edges at midnight in the "
    "program's time zone.",
    meanings={
        program.Recurrence.WEEK: "Every week, from the weekday weekStarts names.",
        program.Recurrence.MONTH: "Every calendar month.",
        program.Recurrence.FIXED: "Once, from startsAt until endsAt.",
    },
)
expose_enum(
    program.ChallengeMetric,
    name="ChallengeMetric",
    description="What a challenge goal counts within a window.",
    meanings={
        program.ChallengeMetric.PURCHASES: "Purchases recorded (a purchase refunded in full "
        "stops counting).",
        program.ChallengeMetric.SPEND: "The eligible amount of those purchases, in one currency.",
        program.ChallengeMetric.PARTNERS: "Distinct partners those purchases were made at.",
        program.ChallengeMetric.ACTIONS: "Rewarded actions of one key.",
    },
)

expose_enum(
    program.Weekday,
    name="Weekday",
    description="A day of the week.",
    meanings={day: f"{day.value.title()}." for day in program.Weekday},
)
WEEKDAYS = tuple(program.Weekday)


@strawberry.type(description="One thing a challenge asks for within a window.")
class ChallengeGoal:
    metric: program.ChallengeMetric = strawberry.field(description="What counts.")
    target: Decimal = strawberry.field(
        description='How much of it: a whole number ("3"), or an amount of currency for SPEND.'
    )
    currency: str | None = strawberry.field(
        description="SPEND: the currency whose purchases count; null for the other metrics."
    )
    action: str | None = strawberry.field(
        description="ACTIONS: the action's key (see actions); null for the other metrics."
    )

    @classmethod
    def of(cls, goal: program.ChallengeGoal) -> ChallengeGoal:
        return cls(
            metric=goal.metric,
            target=Decimal(str(goal.target)),
            currency=goal.currency,
            action=goal.action,
        )


@strawberry.type(
    description="A time-boxed goal: every goal met within one window earns its points, once a "
    "window, for the first members to finish when it has a limit. Public."
)
class Challenge(Node):
    key: str = strawberry.field(description="The challenge's key in the program file.")
    name: str = strawberry.field(description="Its name, in the caller's language.")
    description: str | None = strawberry.field(
        description="What it asks, in the caller's language; null when the program says no more."
    )
    points: int = strawberry.field(description="Whole points it gives on completion.")
    recurrence: program.Recurrence = strawberry.field(description="How its windows recur.")
    week_starts: program.Weekday | None = strawberry.field(
        description="WEEK: the weekday its windows start on, at local midnight; null otherwise."
    )
    first: int | None = strawberry.field(
        description="Only this many members complete it per window; null for no limit."
    )
    goals: list[ChallengeGoal] = strawberry.field(
        description="What it asks for; all of them within one window complete it."
    )
    starts_at: datetime | None = strawberry.field(
        description="The start of the window running now, or of the first one to come."
    )
    ends_at: datetime | None = strawberry.field(
        description="The end (not included) of that window."
    )

    @classmethod
    def of(
        cls, challenge: program.Challenge, window: challenges.Window | None, language: str | None
    ) -> Challenge:
        return cls(
            id=strawberry.ID(ids.global_id("Challenge", challenge.key)),
            key=challenge.key,
            name=challenge.name.get(language),
            description=challenge.description.get(language) if challenge.description else None,
            points=challenge.points,
            recurrence=challenge.window.every,
            week_starts=(
                WEEKDAYS[challenge.window.week_starts]
                if challenge.window.every is program.Recurrence.WEEK
                else None
            ),
            first=challenge.first,
            goals=[ChallengeGoal.of(goal) for goal in challenge.goals],
            starts_at=window.start if window else None,
            ends_at=window.end if window else None,
        )


@strawberry.type(description="How far a member is toward one goal of a challenge.")
class ChallengeGoalProgress:
    goal: ChallengeGoal = strawberry.field(description="The goal.")
    current: Decimal = strawberry.field(description="How much the member has, in this window.")
    target: Decimal = strawberry.field(description="How much the goal asks for.")
    progress: float = strawberry.field(description="0 to 1, of the way to the target.")
    met: bool = strawberry.field(description="Whether current has reached the target.")


@strawberry.type(
    description="A member in the window of a challenge running now: progress toward each goal, "
    "and whether it is completed."
)
class ChallengeProgress:
    challenge: Challenge = strawberry.field(description="The challenge.")
    starts_at: datetime = strawberry.field(description="When this window started.")
    ends_at: datetime = strawberry.field(description="When it ends (not included).")
    goals: list[ChallengeGoalProgress] = strawberry.field(
        description="Each goal, in the program file's order."
    )
    progress: float = strawberry.field(
        description="0 to 1: the goals' progress averaged; 1 only when every goal is met."
    )
    completed_at: datetime | None = strawberry.field(
        description="When the member completed it in this window and its points were posted; "
        "null until then (it follows a purchase or action within moments)."
    )
    slots_left: int | None = strawberry.field(
        description="For a challenge limited to its first finishers: how many may still "
        "complete it in this window; null for no limit."
    )
    member_id: strawberry.Private[int]
    standing: strawberry.Private[challenge_engine.Standing]

    @strawberry.field(
        description="How many of the program's members have made less progress in this "
        "window, in percent (0 to 100): 'ahead of 73% of members'. Null when Redis cannot be "
        "read just now."
    )
    async def percentile(self, info: Info[Context, None]) -> float | None:
        # The member's own progress is the fresh one from SQL; the others' come from Redis.
        metric, value = progress.challenge_entry(self.standing)
        ahead = await info.context.loaders.percentiles.load((self.member_id, ((metric, value),)))
        return ahead.get(metric)

    @classmethod
    def of(
        cls,
        standing: challenge_engine.Standing,
        language: str | None,
        member_id: int,
    ) -> ChallengeProgress:
        made = standing.progress
        return cls(
            challenge=Challenge.of(made.challenge, made.window, language),
            starts_at=made.window.start,
            ends_at=made.window.end,
            goals=[
                ChallengeGoalProgress(
                    goal=ChallengeGoal.of(g.goal),
                    current=Decimal(str(g.current)),
                    target=Decimal(str(g.goal.target)),
                    progress=g.fraction,
                    met=g.met,
                )
                for g in made.goals
            ],
            progress=made.fraction,
            completed_at=standing.completed_at,
            slots_left=standing.slots_left,
            member_id=member_id,
            standing=standing,
        )


def _window(
    prog: program.Program, challenge: program.Challenge, now: datetime
) -> challenges.Window | None:
    """The window running now, else the first one to come; None once it is over."""
    window = challenges.window_at(challenge.window, now, prog.zone)
    starts = challenge.window.starts
    if window is None and starts is not None and starts > now:
        window = challenges.window_at(challenge.window, starts, prog.zone)
    return window


def listed_one(
    prog: program.Program, challenge: program.Challenge, now: datetime, language: str | None
) -> Challenge:
    """The challenge, with its current or next window (none once it is over)."""
    return Challenge.of(challenge, _window(prog, challenge, now), language)


def listed(prog: program.Program, now: datetime, language: str | None) -> list[Challenge]:
    """Challenges running now or to come, in the program file's order."""
    return [
        Challenge.of(c, w, language)
        for c in prog.challenges
        if (w := _window(prog, c, now)) is not None
    ]
