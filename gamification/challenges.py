"""Challenges, the pure part: which window of a challenge holds a moment, and how far a member's
activities in that window take each of its goals.

A recurring window starts at midnight in the program's time zone (a weekday's for weekly ones,
the first of the month for monthly ones) and ends, not included, at the next one's start, so
windows tile time with neither gap nor overlap, whatever the daylight-saving changes make of
their length in hours. A recurring challenge with `starts` or `ends` has its first and last
windows clipped to them; a fixed one has the single window [starts, ends).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

from domain.program import Challenge, ChallengeGoal, ChallengeMetric, ChallengeWindow, Recurrence


@dataclass(frozen=True)
class Window:
    """One run of a challenge, in UTC: from `start` until `end` (not included)."""

    start: datetime
    end: datetime

    def holds(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


def _midnight(day: object, zone: ZoneInfo) -> datetime:
    # A midnight that a daylight-saving change skips is read with the offset before it: the
    # moment the clocks jump, so that the day still starts where the day before ends.
    return datetime.combine(day, time(), zone).astimezone(UTC)  # type: ignore[arg-type]


def window_at(window: ChallengeWindow, moment: datetime, zone: ZoneInfo) -> Window | None:
    """The window of the challenge that holds `moment`, or None when it runs then not at all."""
    moment = moment.astimezone(UTC)
    if window.starts is not None and moment < window.starts:
        return None
    if window.ends is not None and moment >= window.ends:
        return None
    if window.every is Recurrence.FIXED:
        if window.starts is None or window.ends is None:
            raise ValueError("a fixed challenge window needs starts and ends")
        return Window(window.starts, window.ends)
    local = moment.astimezone(zone).date()
    if window.every is Recurrence.WEEK:
        first = local - timedelta(days=(local.weekday() - window.week_starts) % 7)
        following = first + timedelta(days=7)
    else:
        first = local.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
    start, end = _midnight(first, zone), _midnight(following, zone)
    # A moment in the hour a midnight skipped belongs to the day before by its wall clock,
    # which is the window before by its instant: step back to it.
    if moment < start:
        return window_at(window, start - timedelta(microseconds=1), zone)
    if window.starts is not None:
        start = max(start, window.starts)
    if window.ends is not None:
        end = min(end, window.ends)
    return Window(start, end)


class ActivityKind(StrEnum):
    PURCHASE = "purchase"
    ACTION = "action"


@dataclass(frozen=True)
class Activity:
    """Something a member did that challenges count: a purchase (its partner, currency and
    eligible amount) or a rewarded action (its key)."""

    kind: ActivityKind
    occurred_at: datetime
    partner: str | None = None
    currency: str | None = None
    amount: Decimal = Decimal(0)
    action: str | None = None


def goal_current(goal: ChallengeGoal, activities: Iterable[Activity], window: Window) -> Decimal:
    """How much of `goal` the activities within `window` make (others are ignored)."""
    inside = [a for a in activities if window.holds(a.occurred_at)]
    purchases = [a for a in inside if a.kind is ActivityKind.PURCHASE]
    if goal.metric is ChallengeMetric.PURCHASES:
        return Decimal(len(purchases))
    if goal.metric is ChallengeMetric.PARTNERS:
        return Decimal(len({a.partner for a in purchases if a.partner is not None}))
    if goal.metric is ChallengeMetric.SPEND:
        return sum((a.amount for a in purchases if a.currency == goal.currency), Decimal(0))
    return Decimal(
        sum(1 for a in inside if a.kind is ActivityKind.ACTION and a.action == goal.action)
    )


@dataclass(frozen=True)
class GoalProgress:
    goal: ChallengeGoal
    current: Decimal

    @property
    def met(self) -> bool:
        return self.current >= self.goal.target

    @property
    def fraction(self) -> float:
        """0 to 1, of the way to the target."""
        return float(min(self.current / self.goal.target, Decimal(1)))


@dataclass(frozen=True)
class Progress:
    challenge: Challenge
    window: Window
    goals: tuple[GoalProgress, ...]

    @property
    def complete(self) -> bool:
        return all(goal.met for goal in self.goals)

    @property
    def fraction(self) -> float:
        """0 to 1: the goals' fractions, averaged; 1 exactly when every goal is met."""
        if self.complete:
            return 1.0
        return min(sum(g.fraction for g in self.goals) / len(self.goals), 0.999)


def progress(challenge: Challenge, window: Window, activities: Sequence[Activity]) -> Progress:
    return Progress(
        challenge=challenge,
        window=window,
        goals=tuple(GoalProgress(g, goal_current(g, activities, window)) for g in challenge.goals),
    )


def counts(challenge: Challenge, activity: Activity) -> bool:
    """Whether this kind of activity can move any goal of the challenge."""
    for goal in challenge.goals:
        if goal.metric is ChallengeMetric.ACTIONS:
            if activity.kind is ActivityKind.ACTION and activity.action == goal.action:
                return True
        elif activity.kind is ActivityKind.PURCHASE:
            return True
    return False
