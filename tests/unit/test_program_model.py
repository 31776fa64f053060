"""The program's model on its own: expiry dates, calendar periods, birthdays, conversion
rates in force, line selectors and tiers, all in the program's time zone."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.program import (
    NEVER,
    ConversionRate,
    Direction,
    Expiry,
    Partner,
    Period,
    Selector,
    Text,
    Tier,
    birthday_in,
    tier_index,
)
from domain.program_file import load_program
from tests.helpers import BASE_PROGRAM

BUCHAREST = ZoneInfo("Europe/Bucharest")
BASE = load_program(BASE_PROGRAM.read_text())  # bronze 0, silver 2500, gold 10000


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=BUCHAREST)


# -- Expiry ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("credited", "days", "expires"),
    [
        # The end of the local day `days` on: the next local midnight after it.
        ("2026-01-10T12:00:00", 1, "2026-01-11T22:00:00"),  # winter: midnight is 22:00 UTC
        ("2026-07-10T12:00:00", 1, "2026-07-11T21:00:00"),  # summer: 21:00 UTC
        ("2026-07-10T12:00:00", 365, "2027-07-10T21:00:00"),
        # Across the change to summer time (29 March 2026): credited in winter, expires in
        # summer, at local midnight all the same.
        ("2026-03-20T12:00:00", 30, "2026-04-19T21:00:00"),
        # Across the change back (25 October 2026).
        ("2026-10-01T12:00:00", 30, "2026-10-31T22:00:00"),
        # The expiry day itself is the 23-hour day of the change.
        ("2026-03-27T12:00:00", 1, "2026-03-28T22:00:00"),
        ("2026-03-28T12:00:00", 1, "2026-03-29T21:00:00"),
        # ... and the 25-hour day.
        ("2026-10-24T12:00:00", 1, "2026-10-25T22:00:00"),
    ],
)
def test_points_expire_at_the_end_of_the_local_day_so_many_days_on(
    credited: str, days: int, expires: str
):
    assert Expiry(days=days).expires_at(utc(credited), BUCHAREST) == utc(expires)


def test_points_credited_late_in_the_local_evening_count_from_that_local_day():
    # 23:30 on 10 January in Bucharest is 21:30 UTC, the same day; 00:30 on the 11th is
    # 22:30 UTC on the 10th, which is already the 11th locally.
    evening = local("2026-01-10T23:30:00")
    after_midnight = local("2026-01-11T00:30:00")
    assert evening.astimezone(UTC) == utc("2026-01-10T21:30:00")
    assert after_midnight.astimezone(UTC) == utc("2026-01-10T22:30:00")
    thirty = Expiry(days=30)
    assert thirty.expires_at(evening, BUCHAREST) == utc("2026-02-09T22:00:00")
    assert thirty.expires_at(after_midnight, BUCHAREST) == utc("2026-02-10T22:00:00")
    # Given in UTC, the same moments expire the same way.
    assert thirty.expires_at(evening.astimezone(UTC), BUCHAREST) == utc("2026-02-09T22:00:00")
    assert thirty.expires_at(after_midnight.astimezone(UTC), BUCHAREST) == utc(
        "2026-02-10T22:00:00"
    )


def test_the_time_zone_decides_which_day_a_moment_is_credited_on():
    moment = utc("2026-01-10T22:30:00")  # the 11th in Bucharest, the 10th in UTC and New York
    assert Expiry(days=1).expires_at(moment, BUCHAREST) == utc("2026-01-12T22:00:00")
    assert Expiry(days=1).expires_at(moment, ZoneInfo("UTC")) == utc("2026-01-12T00:00:00")
    assert Expiry(days=1).expires_at(moment, ZoneInfo("America/New_York")) == utc(
        "2026-01-12T05:00:00"
    )


def test_an_expiry_is_a_utc_moment():
    expires = Expiry(days=10).expires_at(utc("2026-07-10T12:00:00"), BUCHAREST)
    assert expires is not None
    assert expires.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("credited", "years", "expires"),
    [
        # The end of the local year of crediting: local midnight starting 1 January.
        ("2026-06-15T12:00:00", 0, "2026-12-31T22:00:00"),
        ("2026-06-15T12:00:00", 1, "2027-12-31T22:00:00"),
        ("2026-01-01T00:00:00", 0, "2026-12-31T22:00:00"),  # 02:00 on 1 January locally
        # 23:30 on 31 December locally is still 2026 ...
        ("2026-12-31T21:30:00", 0, "2026-12-31T22:00:00"),
        # ... 00:30 on 1 January locally is already 2027, though it is 2026 in UTC.
        ("2026-12-31T22:30:00", 0, "2027-12-31T22:00:00"),
        ("2026-12-31T22:30:00", 1, "2028-12-31T22:00:00"),
    ],
)
def test_points_may_expire_at_the_end_of_a_year(credited: str, years: int, expires: str):
    assert Expiry(end_of_year=years).expires_at(utc(credited), BUCHAREST) == utc(expires)


def test_points_may_never_expire():
    assert Expiry() == NEVER
    assert NEVER.expires_at(utc("2026-06-15T12:00:00"), BUCHAREST) is None
    assert NEVER.expires_at(utc("1999-12-31T23:59:59"), ZoneInfo("UTC")) is None


@settings(max_examples=200, deadline=None)
@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2090, 1, 1),
        timezones=st.just(UTC),
    ),
    st.integers(1, 3650),
    st.sampled_from(["Europe/Bucharest", "UTC", "America/New_York", "Australia/Lord_Howe"]),
)
def test_any_expiry_by_days_is_a_local_midnight_after_at_least_so_many_days(
    credited: datetime, days: int, zone_name: str
):
    zone = ZoneInfo(zone_name)
    expires = Expiry(days=days).expires_at(credited, zone)
    assert expires is not None
    there = expires.astimezone(zone)
    assert (there.hour, there.minute, there.second) == (0, 0, 0)
    assert there.date() == credited.astimezone(zone).date() + timedelta(days=days + 1)
    assert expires > credited + timedelta(days=days - 1)


# -- Period ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("period", "moment", "start"),
    [
        # Sunday 29 March 2026, 23:30 in Bucharest (summer time began that night).
        (Period.DAY, "2026-03-29T20:30:00", "2026-03-28T22:00:00"),
        (Period.WEEK, "2026-03-29T20:30:00", "2026-03-22T22:00:00"),  # Monday 23 March
        (Period.MONTH, "2026-03-29T20:30:00", "2026-02-28T22:00:00"),
        (Period.YEAR, "2026-03-29T20:30:00", "2025-12-31T22:00:00"),
        # An hour later it is Monday 30 March locally, though still Sunday in UTC.
        (Period.DAY, "2026-03-29T21:30:00", "2026-03-29T21:00:00"),
        (Period.WEEK, "2026-03-29T21:30:00", "2026-03-29T21:00:00"),
        # ISO weeks start on Monday: Thursday 1 January 2026 is in the week of 29 December.
        (Period.WEEK, "2026-01-01T10:00:00", "2025-12-28T22:00:00"),
        (Period.WEEK, "2026-07-05T20:59:59", "2026-06-28T21:00:00"),  # Sunday 23:59:59
        (Period.WEEK, "2026-07-05T21:00:00", "2026-07-05T21:00:00"),  # Monday 00:00
        # 00:30 on 1 January locally is a new month and year, still December in UTC.
        (Period.MONTH, "2026-12-31T22:30:00", "2026-12-31T22:00:00"),
        (Period.YEAR, "2026-12-31T22:30:00", "2026-12-31T22:00:00"),
        (Period.YEAR, "2026-12-31T21:59:59", "2025-12-31T22:00:00"),
        (Period.MONTH, "2026-08-15T12:00:00", "2026-07-31T21:00:00"),
    ],
)
def test_a_period_starts_at_local_midnight_in_the_programs_time_zone(
    period: Period, moment: str, start: str
):
    assert period.start(utc(moment), BUCHAREST) == utc(start)


def test_a_lifetime_has_no_start():
    assert Period.LIFETIME.start(utc("2026-03-29T20:30:00"), BUCHAREST) is None


def test_a_period_start_is_the_same_whatever_zone_the_moment_is_given_in():
    moment = utc("2026-03-29T21:30:00")
    elsewhere = moment.astimezone(timezone(timedelta(hours=-7)))
    for period in (Period.DAY, Period.WEEK, Period.MONTH, Period.YEAR):
        assert period.start(elsewhere, BUCHAREST) == period.start(moment, BUCHAREST)


@settings(max_examples=200, deadline=None)
@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
    ),
    st.sampled_from([Period.DAY, Period.WEEK, Period.MONTH, Period.YEAR]),
)
def test_any_moment_is_inside_the_period_that_starts_before_it(moment: datetime, period: Period):
    start = period.start(moment, BUCHAREST)
    assert start is not None
    assert start <= moment
    there = start.astimezone(BUCHAREST)
    assert (there.hour, there.minute, there.second) == (0, 0, 0)
    if period is Period.WEEK:
        assert there.isoweekday() == 1
        assert moment - start < timedelta(days=7, hours=1)
    if period in (Period.MONTH, Period.YEAR):
        assert there.day == 1
        assert there.month == (1 if period is Period.YEAR else moment.astimezone(BUCHAREST).month)


# -- birthdays -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("year", "birthday", "celebrated"),
    [
        (2024, date(2000, 2, 29), date(2024, 2, 29)),  # leap year
        (2025, date(2000, 2, 29), date(2025, 2, 28)),
        (2100, date(2000, 2, 29), date(2100, 2, 28)),  # not a leap year
        (2000, date(1996, 2, 29), date(2000, 2, 29)),  # a leap year
        (2025, date(1990, 2, 28), date(2025, 2, 28)),
        (2024, date(1990, 2, 28), date(2024, 2, 28)),
        (2025, date(1990, 3, 1), date(2025, 3, 1)),
        (2025, date(1990, 12, 31), date(2025, 12, 31)),
        (2025, date(1990, 1, 1), date(2025, 1, 1)),
    ],
)
def test_a_birthday_is_celebrated_on_its_day_or_on_28_february(
    year: int, birthday: date, celebrated: date
):
    assert birthday_in(year, birthday) == celebrated


# -- partners' conversion rates --------------------------------------------------------------


def rate(direction: Direction, effective: str, points: int) -> ConversionRate:
    return ConversionRate(
        direction=direction, points=points, partner_units=100, effective_from=utc(effective)
    )


SKYWAYS = Partner(
    key="skyways",
    name=Text({"en": "SkyWays"}),
    currency="MILE",
    # Listed out of order on purpose: the latest one in force wins, not the last one listed.
    rates=(
        rate(Direction.IN, "2026-06-01T00:00:00", 300),
        rate(Direction.IN, "2026-01-01T00:00:00", 250),
        rate(Direction.OUT, "2026-03-01T00:00:00", 90),
        rate(Direction.IN, "2027-01-01T00:00:00", 400),
    ),
)


@pytest.mark.parametrize(
    ("direction", "at", "points"),
    [
        (Direction.IN, "2025-12-31T23:59:59", None),
        (Direction.IN, "2026-01-01T00:00:00", 250),
        (Direction.IN, "2026-05-31T23:59:59", 250),
        (Direction.IN, "2026-06-01T00:00:00", 300),
        (Direction.IN, "2026-12-31T23:59:59", 300),
        (Direction.IN, "2027-01-01T00:00:00", 400),
        (Direction.IN, "2030-01-01T00:00:00", 400),
        (Direction.OUT, "2026-02-28T23:59:59", None),
        (Direction.OUT, "2026-03-01T00:00:00", 90),
        (Direction.OUT, "2030-01-01T00:00:00", 90),
    ],
)
def test_the_rate_in_force_is_the_latest_that_took_effect_in_that_direction(
    direction: Direction, at: str, points: int | None
):
    found = SKYWAYS.rate(direction, utc(at))
    assert (found.points if found else None) == points
    if found is not None:
        assert found.direction is direction


def test_a_partner_without_rates_has_none_in_force():
    assert replace(SKYWAYS, rates=()).rate(Direction.IN, utc("2030-01-01T00:00:00")) is None


def test_rates_read_from_a_file_take_effect_at_local_midnight():
    source = BASE_PROGRAM.read_text().replace(
        'currency = "MILE"\n',
        'currency = "MILE"\n\n[[partners.rates]]\ndirection = "IN"\npoints = 250\n'
        'partner_units = 1000\nfee_percent = "1.5"\neffective_from = 2026-07-01\n',
    )
    skyways = load_program(source).partners["skyways"]
    assert skyways.rate(Direction.IN, utc("2026-06-30T20:59:59")) is None
    found = skyways.rate(Direction.IN, utc("2026-06-30T21:00:00"))
    assert found is not None
    assert (found.points, found.partner_units, found.fee_percent, found.minimum_blocks) == (
        250,
        1000,
        Decimal("1.5"),
        1,
    )
    assert skyways.rate(Direction.OUT, utc("2030-01-01T00:00:00")) is None


# -- selectors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("selector", "sku", "category", "matches"),
    [
        (Selector(), None, None, True),
        (Selector(), "ANY", "thing", True),
        (Selector(skus=frozenset({"CUP"})), "CUP", None, True),
        (Selector(skus=frozenset({"CUP"})), "CUP", "other", True),
        (Selector(skus=frozenset({"CUP"})), "cup", None, False),  # case matters
        (Selector(skus=frozenset({"CUP"})), None, None, False),
        (Selector(skus=frozenset({"CUP"})), "MUG", "CUP", False),  # a sku is not a category
        (Selector(categories=frozenset({"coffee"})), None, "coffee", True),
        (Selector(categories=frozenset({"coffee"})), "coffee", None, False),
        (Selector(categories=frozenset({"coffee"})), "X", "Coffee", False),
        (Selector(frozenset({"CUP"}), frozenset({"coffee"})), "CUP", "food", True),
        (Selector(frozenset({"CUP"}), frozenset({"coffee"})), "BEAN", "coffee", True),
        (Selector(frozenset({"CUP"}), frozenset({"coffee"})), "BEAN", "food", False),
    ],
)
def test_a_selector_matches_lines_by_sku_or_category(
    selector: Selector, sku: str | None, category: str | None, matches: bool
):
    assert selector.matches(sku, category) is matches


def test_a_selector_without_skus_or_categories_is_about_everything():
    assert Selector().everything
    assert not Selector(skus=frozenset({"A"})).everything
    assert not Selector(categories=frozenset({"a"})).everything


# -- tiers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("points", "index", "key"),
    [
        (-5, 0, "bronze"),
        (0, 0, "bronze"),
        (2499, 0, "bronze"),
        (2500, 1, "silver"),
        (9999, 1, "silver"),
        (10_000, 2, "gold"),
        (10**9, 2, "gold"),
    ],
)
def test_the_tier_is_the_highest_whose_threshold_the_points_reach(
    points: int, index: int, key: str
):
    assert tier_index(points, BASE.tiers) == index
    assert BASE.tier_for(points).key == key


def test_a_single_tier_is_every_members_tier():
    only = (Tier("member", Text({"en": "Member"}), 0, ()),)
    assert tier_index(0, only) == 0
    assert tier_index(10**9, only) == 0


@pytest.mark.parametrize(("key", "rank"), [("bronze", 0), ("silver", 1), ("gold", 2)])
def test_the_rank_of_a_tier_is_its_place_in_the_program(key: str, rank: int):
    assert BASE.tier_rank(key) == rank
    assert BASE.tiers[BASE.tier_rank(key)].key == key


def test_tier_ranks_order_the_tiers_by_threshold():
    ranks = [BASE.tier_rank(t.key) for t in BASE.tiers]
    thresholds = [BASE.tiers[r].threshold for r in ranks]
    assert thresholds == sorted(thresholds)
    assert BASE.tier_rank(BASE.tier_for(5000).key) >= BASE.tier_rank(BASE.tier_for(100).key)


@settings(max_examples=200, deadline=None)
@given(st.integers(-(10**9), 2 * 10**9), st.integers(0, 10**9))
def test_more_points_never_mean_a_lower_tier(points: int, more: int):
    low = BASE.tier_rank(BASE.tier_for(points).key)
    high = BASE.tier_rank(BASE.tier_for(points + more).key)
    assert low <= high
    tier = BASE.tier_for(points)
    assert points >= tier.threshold or tier is BASE.tiers[0]


def test_the_base_program_zone_is_bucharest():
    assert BASE.zone == BUCHAREST
