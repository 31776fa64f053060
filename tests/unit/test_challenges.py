"""Challenge windows and goal progress: pure, in the program's time zone, across DST weeks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.program import (
    Challenge,
    ChallengeGoal,
    ChallengeMetric,
    ChallengeWindow,
    Recurrence,
    Text,
)
from gamification.challenges import (
    Activity,
    ActivityKind,
    Window,
    goal_current,
    progress,
    window_at,
)

BUCHAREST = ZoneInfo("Europe/Bucharest")
WEEKLY = ChallengeWindow(every=Recurrence.WEEK)
MONTHLY = ChallengeWindow(every=Recurrence.MONTH)
ZONES = [ZoneInfo(z) for z in ("Europe/Bucharest", "America/New_York", "UTC", "Asia/Tehran")]
# Zones whose clocks change at or around midnight: their days start in odd places.
ODD_MIDNIGHTS = [ZoneInfo(z) for z in ("America/Havana", "America/Santiago", "Asia/Beirut")]


def local(zone: ZoneInfo, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=zone).astimezone(UTC)  # type: ignore[misc]


def test_a_purchase_at_235959_on_sunday_is_last_weeks_and_midnight_monday_this_weeks():
    sunday = local(BUCHAREST, 2026, 11, 29, 23, 59, 59)
    monday = local(BUCHAREST, 2026, 11, 30, 0, 0, 0)
    before = window_at(WEEKLY, sunday, BUCHAREST)
    after = window_at(WEEKLY, monday, BUCHAREST)
    assert before == Window(local(BUCHAREST, 2026, 11, 23), monday)
    assert after == Window(monday, local(BUCHAREST, 2026, 12, 7))
    # In UTC both are on Sunday: it is the program's time zone that tells them apart.
    assert sunday.date() == monday.date()


def test_a_week_that_starts_on_sunday():
    window = ChallengeWindow(every=Recurrence.WEEK, week_starts=6)
    found = window_at(window, local(BUCHAREST, 2026, 12, 2, 12), BUCHAREST)
    assert found == Window(local(BUCHAREST, 2026, 11, 29), local(BUCHAREST, 2026, 12, 6))


def test_the_weeks_of_the_dst_changes_are_167_and_169_hours_long():
    spring = window_at(WEEKLY, local(BUCHAREST, 2026, 3, 29, 12), BUCHAREST)
    autumn = window_at(WEEKLY, local(BUCHAREST, 2026, 10, 25, 12), BUCHAREST)
    assert spring is not None
    assert autumn is not None
    assert spring.end - spring.start == timedelta(hours=167)
    assert autumn.end - autumn.start == timedelta(hours=169)
    # The moment after the clocks jump on the last Sunday is still that week's.
    assert spring.holds(local(BUCHAREST, 2026, 3, 29, 23, 59, 59))
    assert spring.start == local(BUCHAREST, 2026, 3, 23)


def test_a_week_that_starts_on_a_midnight_the_clocks_skip_starts_when_they_jump():
    # Santiago's clocks went from 00:00 to 01:00 on Sunday 6 September 2026.
    santiago = ZoneInfo("America/Santiago")
    sundays = ChallengeWindow(every=Recurrence.WEEK, week_starts=6)
    jump = datetime(2026, 9, 6, 4, 0, tzinfo=UTC)
    before = window_at(sundays, jump - timedelta(microseconds=1), santiago)
    after = window_at(sundays, jump, santiago)
    assert before is not None
    assert after is not None
    assert before.end == after.start == jump
    assert after.end - after.start == timedelta(hours=167)


def test_months_start_on_the_first_at_local_midnight():
    found = window_at(MONTHLY, local(BUCHAREST, 2026, 12, 31, 23, 59, 59), BUCHAREST)
    assert found == Window(local(BUCHAREST, 2026, 12, 1), local(BUCHAREST, 2027, 1, 1))
    january = window_at(MONTHLY, local(BUCHAREST, 2027, 1, 1), BUCHAREST)
    assert january is not None
    assert january.start == local(BUCHAREST, 2027, 1, 1)


def test_fixed_windows_and_recurring_ones_clipped_to_their_dates():
    starts, ends = local(BUCHAREST, 2026, 12, 2, 18), local(BUCHAREST, 2026, 12, 20)
    fixed = ChallengeWindow(every=Recurrence.FIXED, starts=starts, ends=ends)
    assert window_at(fixed, starts, BUCHAREST) == Window(starts, ends)
    assert window_at(fixed, starts - timedelta(microseconds=1), BUCHAREST) is None
    assert window_at(fixed, ends, BUCHAREST) is None
    clipped = ChallengeWindow(every=Recurrence.WEEK, starts=starts, ends=ends)
    assert window_at(clipped, starts, BUCHAREST) == Window(starts, local(BUCHAREST, 2026, 12, 7))
    assert window_at(clipped, ends - timedelta(seconds=1), BUCHAREST) == Window(
        local(BUCHAREST, 2026, 12, 14), ends
    )


moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
)
recurring = st.builds(
    ChallengeWindow,
    every=st.sampled_from([Recurrence.WEEK, Recurrence.MONTH]),
    week_starts=st.integers(0, 6),
)


@given(moments, recurring, st.sampled_from(ZONES + ODD_MIDNIGHTS))
def test_every_moment_is_in_exactly_one_window_and_windows_tile_time(moment, window, zone):
    found = window_at(window, moment, zone)
    assert found is not None
    assert found.holds(moment)
    following = window_at(window, found.end, zone)
    before = window_at(window, found.start - timedelta(microseconds=1), zone)
    assert following is not None
    assert following.start == found.end
    assert before is not None
    assert before.end == found.start
    assert timedelta(days=6) < found.end - found.start < timedelta(days=32)


@given(moments, st.integers(0, 6), st.sampled_from(ZONES))
def test_a_weekly_window_starts_at_local_midnight_of_its_weekday(moment, weekday, zone):
    found = window_at(ChallengeWindow(every=Recurrence.WEEK, week_starts=weekday), moment, zone)
    assert found is not None
    start = found.start.astimezone(zone)
    assert start.weekday() == weekday
    assert (start.hour, start.minute, start.second) == (0, 0, 0)


# -- goals -------------------------------------------------------------------------------------

WEEK = Window(local(BUCHAREST, 2026, 11, 30), local(BUCHAREST, 2026, 12, 7))
INSIDE = WEEK.start + timedelta(days=1)


def bought(partner: str | None, amount: str = "10", currency: str = "RON", at=INSIDE) -> Activity:
    return Activity(
        ActivityKind.PURCHASE, at, partner=partner, currency=currency, amount=Decimal(amount)
    )


def acted(action: str, at=INSIDE) -> Activity:
    return Activity(ActivityKind.ACTION, at, action=action)


def goal(metric: ChallengeMetric, target: int | str, **kw: str) -> ChallengeGoal:
    return ChallengeGoal(metric=metric, target=Decimal(target), **kw)


EXPLORER = Challenge(
    key="explorer",
    name=Text({"": "Explorer"}),
    description=None,
    window=WEEKLY,
    goals=(goal(ChallengeMetric.PURCHASES, 3), goal(ChallengeMetric.PARTNERS, 2)),
    points=200,
)


def test_three_purchases_at_two_partners_complete_the_explorer_week():
    done = [bought("beanery"), bought("beanery"), bought("skyways")]
    made = progress(EXPLORER, WEEK, done)
    assert made.complete
    assert made.fraction == 1.0
    assert [g.current for g in made.goals] == [3, 2]


def test_three_purchases_at_one_partner_do_not():
    made = progress(EXPLORER, WEEK, [bought("beanery")] * 3)
    assert not made.complete
    assert [g.met for g in made.goals] == [True, False]
    assert made.fraction == pytest.approx(0.75)


def test_only_the_windows_activities_count_edges_included_at_start_excluded_at_end():
    edges = [
        bought("a", at=WEEK.start - timedelta(microseconds=1)),
        bought("b", at=WEEK.start),
        bought("c", at=WEEK.end - timedelta(microseconds=1)),
        bought("d", at=WEEK.end),
    ]
    assert goal_current(goal(ChallengeMetric.PURCHASES, 1), edges, WEEK) == 2
    assert goal_current(goal(ChallengeMetric.PARTNERS, 1), edges, WEEK) == 2


def test_spend_counts_its_currency_only_and_actions_their_key():
    done = [bought("a", "12.50"), bought("b", "7.50"), bought("c", "99", "EUR")]
    done += [acted("REVIEW"), acted("REVIEW"), acted("SURVEY")]
    spend = goal(ChallengeMetric.SPEND, "20", currency="RON")
    assert goal_current(spend, done, WEEK) == Decimal("20.00")
    reviews = goal(ChallengeMetric.ACTIONS, 2, action="REVIEW")
    assert goal_current(reviews, done, WEEK) == 2
    # Purchases the operator recorded (no partner) count, but not as a partner.
    assert goal_current(goal(ChallengeMetric.PARTNERS, 1), [bought(None)], WEEK) == 0
    assert goal_current(goal(ChallengeMetric.PURCHASES, 1), [bought(None)], WEEK) == 1


activity = st.one_of(
    st.builds(
        bought,
        partner=st.sampled_from([None, "a", "b", "c"]),
        amount=st.decimals(0, 500, places=2).map(str),
        currency=st.sampled_from(["RON", "EUR"]),
        at=st.datetimes(
            min_value=datetime(2026, 11, 28),
            max_value=datetime(2026, 12, 9),
            timezones=st.just(UTC),
        ),
    ),
    st.builds(acted, action=st.sampled_from(["REVIEW", "SURVEY"])),
)


@given(st.lists(activity, max_size=30), st.lists(activity, max_size=5))
def test_progress_never_goes_down_as_activities_are_added(first, more):
    before = progress(EXPLORER, WEEK, first)
    after = progress(EXPLORER, WEEK, first + more)
    assert all(b.current <= a.current for b, a in zip(before.goals, after.goals, strict=True))
    assert before.fraction <= after.fraction
    assert 0 <= after.fraction <= 1
    assert (after.fraction == 1) == after.complete
    # The order they come in changes nothing.
    assert progress(EXPLORER, WEEK, list(reversed(first + more))) == after
