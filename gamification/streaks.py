"""Streaks: runs of consecutive days or weeks with a qualifying activity, as pure functions of
the set of moments the member was active.

Definitions, exactly (what deploy/program-file.md tells operators):

- A moment belongs to the *period* holding its local date in the program's time zone: that
  day, or that ISO week (Monday to Sunday). Periods are numbered so that consecutive periods
  differ by one, whatever a DST change does to the length of a day.
- A period is *active* when at least one qualifying activity happened in it; *missed* when
  none did.
- A *streak* is a run of consecutive periods that begins and ends with an active period and
  has at most `grace` missed periods in it (the grace is per streak, not per gap). Its
  *length* is the number of its active periods: a missed period it forgives adds nothing.
- The *longest* streak is the greatest length of any streak.
- The *current* streak is the longest streak that ends at the latest active period and is
  still alive now: its missed periods, together with those that have fully elapsed since (the
  period holding `now` is still open, so it never counts as missed), are at most `grace`.
  It is 0 when the grace is used up.

Both are computed from the set of active periods alone, so the order events arrive in does
not matter: a late event (an `occurredAt` in the past) counts on its own day, and may join two
streaks or lengthen one. Adding an activity never shortens the longest or the current streak
(a property test checks it). Moments after `now` are not counted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from domain.program import StreakPeriod


@dataclass(frozen=True)
class StreakStatus:
    current: int
    longest: int
    # The latest active period's first day (a Monday for weeks); None when never active.
    last_active: date | None


def period_number(day: date, period: StreakPeriod) -> int:
    """Consecutive periods have consecutive numbers."""
    ordinal = day.toordinal()  # 0001-01-01, a Monday, is 1
    return ordinal if period is StreakPeriod.DAY else (ordinal - 1) // 7


def first_day(number: int, period: StreakPeriod) -> date:
    return date.fromordinal(number if period is StreakPeriod.DAY else number * 7 + 1)


def local_dates(moments: Iterable[datetime], zone: ZoneInfo) -> set[date]:
    return {moment.astimezone(zone).date() for moment in moments}


def streak_status(
    active_days: Iterable[date], period: StreakPeriod, grace: int, today: date
) -> StreakStatus:
    """The current and longest streak, from the local dates with a qualifying activity."""
    if grace < 0:
        raise ValueError("grace is a number of periods, 0 or more")
    now = period_number(today, period)
    periods = sorted({n for d in active_days if (n := period_number(d, period)) <= now})
    if not periods:
        return StreakStatus(current=0, longest=0, last_active=None)
    longest = 0
    start = 0
    # Two pointers: the window periods[start..end] is a streak when its missed periods
    # (its span less its active periods) are at most the grace.
    for end in range(len(periods)):
        while _missed(periods, start, end) > grace:
            start += 1
        longest = max(longest, end - start + 1)
    last = len(periods) - 1
    # Periods wholly gone by since the latest active one; the one holding today is still open.
    elapsed = max(now - periods[last] - 1, 0)
    current = 0
    if elapsed <= grace:
        start = last
        while start > 0 and _missed(periods, start - 1, last) + elapsed <= grace:
            start -= 1
        current = last - start + 1
    return StreakStatus(
        current=current, longest=longest, last_active=first_day(periods[last], period)
    )


def _missed(periods: list[int], start: int, end: int) -> int:
    return (periods[end] - periods[start] + 1) - (end - start + 1)
