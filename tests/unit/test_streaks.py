"""Streaks: current and longest runs of days or weeks, with grace, time zones and late events."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.program import StreakPeriod
from gamification.streaks import local_dates, period_number, streak_status

DAY, WEEK = StreakPeriod.DAY, StreakPeriod.WEEK
TODAY = date(2026, 12, 2)  # a Wednesday


def days_ago(*numbers: int) -> set[date]:
    return {TODAY - timedelta(days=n) for n in numbers}


def status(days: set[date], grace: int = 0, period: StreakPeriod = DAY, today: date = TODAY):
    found = streak_status(days, period, grace, today)
    return found.current, found.longest


def test_no_activity_is_no_streak():
    found = streak_status(set(), DAY, 0, TODAY)
    assert (found.current, found.longest, found.last_active) == (0, 0, None)


@pytest.mark.parametrize(
    ("days", "current", "longest"),
    [
        ((0,), 1, 1),
        ((0, 1, 2), 3, 3),
        # Today is still open: a streak that ran until yesterday is current.
        ((1, 2, 3), 3, 3),
        # The day before yesterday has gone by without activity: broken.
        ((2, 3, 4), 0, 3),
        ((0, 1, 5, 6, 7, 8), 2, 4),
    ],
)
def test_consecutive_days_without_grace(days: tuple[int, ...], current: int, longest: int):
    assert status(days_ago(*days)) == (current, longest)


def test_one_missed_day_per_streak_is_forgiven_with_a_grace_of_one():
    # Active 4, 3, (2 missed), 1, 0 days ago: one streak of four active days.
    assert status(days_ago(0, 1, 3, 4), grace=1) == (4, 4)
    # A second missed day breaks it: the grace is per streak, not per gap.
    assert status(days_ago(0, 2, 4, 5), grace=1) == (2, 3)
    # Without grace the same days are short runs.
    assert status(days_ago(0, 1, 3, 4), grace=0) == (2, 2)


def test_the_grace_covers_days_gone_by_since_the_last_activity():
    # Active until two days ago; yesterday is missed, today still open.
    assert status(days_ago(2, 3, 4), grace=1) == (3, 3)
    assert status(days_ago(3, 4), grace=1) == (0, 2)
    # A missed day inside uses the grace: the run 5, 4, (3), 2 cannot forgive yesterday too,
    # so what is still current is the shorter run of two days ago alone.
    assert status(days_ago(2, 4, 5), grace=1) == (1, 3)


def test_missed_days_add_nothing_to_the_length():
    assert status(days_ago(0, 2, 4), grace=2) == (3, 3)


def test_a_late_activity_joins_two_streaks():
    before = days_ago(0, 1, 3, 4)
    assert status(before) == (2, 2)
    assert status(before | days_ago(2)) == (5, 5)


def test_weeks_run_monday_to_sunday():
    monday = date(2026, 11, 30)
    # Sunday 29 November and Monday 30 November are consecutive weeks.
    assert status({monday - timedelta(days=1), monday}, period=WEEK) == (2, 2)
    # Two activities in one week count once.
    assert status({monday, monday + timedelta(days=2)}, period=WEEK) == (1, 1)
    # Last week counts as current this week; the week before last, missed, breaks it.
    assert status({monday - timedelta(days=7)}, period=WEEK) == (1, 1)
    assert status({monday - timedelta(days=14)}, period=WEEK) == (0, 1)
    assert status({monday - timedelta(days=14)}, grace=1, period=WEEK) == (1, 1)


def test_consecutive_periods_have_consecutive_numbers():
    assert period_number(date(2026, 11, 29), WEEK) + 1 == period_number(date(2026, 11, 30), WEEK)
    assert period_number(date(2026, 11, 30), WEEK) == period_number(date(2026, 12, 6), WEEK)
    assert period_number(date(2026, 12, 31), DAY) + 1 == period_number(date(2027, 1, 1), DAY)


def test_activity_after_today_is_not_counted():
    assert status({TODAY + timedelta(days=1), TODAY}) == (1, 1)


def test_the_local_day_is_the_program_time_zones():
    late_evening = datetime(2026, 12, 1, 22, 30, tzinfo=UTC)  # 00:30 on 2 December in Bucharest
    assert local_dates([late_evening], ZoneInfo("Europe/Bucharest")) == {date(2026, 12, 2)}
    assert local_dates([late_evening], ZoneInfo("UTC")) == {date(2026, 12, 1)}
    assert local_dates([late_evening], ZoneInfo("America/New_York")) == {date(2026, 12, 1)}
    # The same moments are a streak in one zone and not in another.
    moments = [datetime(2026, 12, 1, 21, 30, tzinfo=UTC), datetime(2026, 12, 2, 23, 30, tzinfo=UTC)]
    bucharest = local_dates(moments, ZoneInfo("Europe/Bucharest"))  # 1 Dec 23:30, 3 Dec 01:30
    utc = local_dates(moments, ZoneInfo("UTC"))  # 1 Dec, 2 Dec
    assert status(bucharest, today=date(2026, 12, 3)) == (1, 1)
    assert status(utc, today=date(2026, 12, 3)) == (2, 2)


def test_a_dst_change_does_not_break_or_double_a_day():
    zone = ZoneInfo("Europe/Bucharest")
    # Clocks go back at 04:00 on 25 October 2026: that day has 25 hours. One activity each
    # evening, 24 hours apart in UTC, lands on consecutive local days across the change...
    evenings = [datetime(2026, 10, d, 20, 30, tzinfo=UTC) for d in (23, 24, 25, 26)]
    days = local_dates(evenings, zone)
    assert days == {date(2026, 10, d) for d in (23, 24, 25, 26)}
    assert status(days, today=date(2026, 10, 26)) == (4, 4)
    # ...and 00:30 and 23:30 local on the long day are the same day.
    long_day = [
        datetime(2026, 10, 24, 21, 30, tzinfo=UTC),
        datetime(2026, 10, 25, 21, 30, tzinfo=UTC),
    ]
    assert local_dates(long_day, zone) == {date(2026, 10, 25)}
    # Clocks go forward on 29 March 2026: that day has 23 hours. 23:59 local on the 28th and
    # on the 29th are 23 hours apart, and two days; two minutes later it is the 30th.
    spring = [datetime(2026, 3, 28, 21, 59, tzinfo=UTC), datetime(2026, 3, 29, 20, 59, tzinfo=UTC)]
    assert local_dates(spring, zone) == {date(2026, 3, 28), date(2026, 3, 29)}
    assert local_dates([datetime(2026, 3, 29, 21, 1, tzinfo=UTC)], zone) == {date(2026, 3, 30)}
    assert status(local_dates(spring, zone), today=date(2026, 3, 30)) == (2, 2)


def test_a_negative_grace_is_refused():
    with pytest.raises(ValueError, match="grace"):
        streak_status(set(), DAY, -1, TODAY)


# -- properties ------------------------------------------------------------------------------

activity = st.sets(st.integers(min_value=0, max_value=60), max_size=40)
graces = st.integers(min_value=0, max_value=4)


def brute_force(days: set[int], grace: int) -> tuple[int, int]:
    """Every run from one active day to another, checked one by one (day numbers counted back
    from today)."""
    numbers = sorted(-d for d in days)
    longest = 0
    current = 0
    for i, start in enumerate(numbers):
        for end in numbers[i:]:
            active = sum(1 for n in numbers if start <= n <= end)
            missed = end - start + 1 - active
            if missed <= grace:
                longest = max(longest, active)
                if end == numbers[-1] and missed + max(-end - 1, 0) <= grace:
                    current = max(current, active)
    return current, longest


@given(activity, graces)
def test_the_streaks_are_what_checking_every_run_finds(days: set[int], grace: int):
    assert status(days_ago(*days), grace=grace) == brute_force(days, grace)


@given(activity, graces, st.integers(min_value=0, max_value=60))
def test_a_late_activity_never_shortens_a_streak(days: set[int], grace: int, late: int):
    current, longest = status(days_ago(*days), grace=grace)
    after_current, after_longest = status(days_ago(*days, late), grace=grace)
    assert after_current >= current
    assert after_longest >= longest


@given(activity, graces)
def test_the_current_streak_is_at_most_the_longest(days: set[int], grace: int):
    current, longest = status(days_ago(*days), grace=grace)
    assert 0 <= current <= longest <= len(days)


@given(activity, graces)
def test_more_grace_never_shortens_a_streak(days: set[int], grace: int):
    current, longest = status(days_ago(*days), grace=grace)
    more_current, more_longest = status(days_ago(*days), grace=grace + 1)
    assert more_current >= current
    assert more_longest >= longest
