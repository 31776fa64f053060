"""Tier windows, upgrades and reviews: pure arithmetic in the program's time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.program import Downgrade, Text, Tier, TierRules, TierWindow, tier_index
from domain.tier_rules import last_review, reviewed, reviewed_window, standing, upgraded, window_at

BUCHAREST = ZoneInfo("Europe/Bucharest")
ROLLING = TierRules(window=TierWindow.ROLLING_12_MONTHS)
CALENDAR = TierRules(window=TierWindow.CALENDAR_YEAR)
LIFETIME = TierRules()


def local(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=BUCHAREST).astimezone(UTC)  # type: ignore[misc]


def tier(key: str, threshold: int, retain: int | None = None) -> Tier:
    return Tier(key=key, name=Text({"en": key}), threshold=threshold, benefits=(), retain=retain)


TIERS = (tier("bronze", 0), tier("silver", 2500, 1500), tier("gold", 10000, 6000))


def test_a_rolling_window_is_the_twelve_months_up_to_the_next_monthly_review():
    window = window_at(ROLLING, BUCHAREST, local(2027, 3, 15, 12))
    assert window.start == local(2026, 4, 1)
    assert window.review_at == local(2027, 4, 1)
    # Bucharest is on summer time then: local midnight is 21:00 UTC the day before.
    assert window.start == datetime(2026, 3, 31, 21, tzinfo=UTC)


def test_a_review_edge_belongs_to_the_window_after_it():
    edge = local(2027, 4, 1)
    assert window_at(ROLLING, BUCHAREST, edge).review_at == local(2027, 5, 1)
    before = window_at(ROLLING, BUCHAREST, edge - timedelta(microseconds=1))
    assert before.review_at == edge
    assert reviewed_window(ROLLING, BUCHAREST, edge) == before
    assert last_review(ROLLING, BUCHAREST, edge) == edge
    assert last_review(ROLLING, BUCHAREST, edge - timedelta(microseconds=1)) == local(2027, 3, 1)


def test_the_calendar_year_turns_at_midnight_in_the_program_time_zone():
    # 22:30 UTC on 31 December is already 1 January in Bucharest (UTC+2 in winter).
    moment = datetime(2026, 12, 31, 22, 30, tzinfo=UTC)
    window = window_at(CALENDAR, BUCHAREST, moment)
    assert window.start == local(2027, 1, 1) == datetime(2026, 12, 31, 22, tzinfo=UTC)
    assert window.review_at == local(2028, 1, 1)
    earlier = window_at(CALENDAR, BUCHAREST, datetime(2026, 12, 31, 21, 59, tzinfo=UTC))
    assert (earlier.start, earlier.review_at) == (local(2026, 1, 1), local(2027, 1, 1))
    assert last_review(CALENDAR, BUCHAREST, moment) == local(2027, 1, 1)
    assert reviewed_window(CALENDAR, BUCHAREST, local(2027, 1, 1)) == earlier


def test_a_lifetime_window_has_no_start_and_is_reviewed_monthly():
    window = window_at(LIFETIME, BUCHAREST, local(2026, 12, 2, 9))
    assert window.start is None
    assert window.review_at == local(2027, 1, 1)
    assert last_review(LIFETIME, BUCHAREST, local(2026, 12, 2, 9)) == local(2026, 12, 1)


moments = st.datetimes(
    min_value=datetime(2001, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
)
zones = st.sampled_from(
    [ZoneInfo(z) for z in ("UTC", "Europe/Bucharest", "America/New_York", "Pacific/Auckland")]
)
windows = st.sampled_from([ROLLING, CALENDAR, LIFETIME])


@given(moments, zones, windows)
def test_every_moment_lies_between_the_last_review_and_the_next(
    moment: datetime, zone: ZoneInfo, rules: TierRules
):
    window = window_at(rules, zone, moment)
    edge = last_review(rules, zone, moment)
    assert edge <= moment < window.review_at
    assert window.start is None or window.start <= moment
    # The review at the last edge judged the window that ended exactly there.
    assert reviewed_window(rules, zone, edge).review_at == edge
    # And the next window begins where the review that judges it is due a period later.
    assert window_at(rules, zone, window.review_at).review_at > window.review_at


@given(moments, zones)
def test_a_rolling_window_spans_a_year_and_a_calendar_window_starts_on_1_january(
    moment: datetime, zone: ZoneInfo
):
    rolling = window_at(ROLLING, zone, moment)
    assert rolling.start is not None
    span = rolling.review_at - rolling.start
    assert timedelta(days=365) - timedelta(hours=2) <= span <= timedelta(days=366, hours=2)
    start = rolling.start.astimezone(zone)
    assert (start.day, start.hour, start.minute) == (1, 0, 0)
    calendar = window_at(CALENDAR, zone, moment)
    assert calendar.start is not None
    first = calendar.start.astimezone(zone)
    assert (first.month, first.day, first.hour) == (1, 1, 0)


@st.composite
def ladders(draw: st.DrawFn) -> tuple[Tier, ...]:
    steps = draw(st.lists(st.integers(1, 5000), min_size=0, max_size=5))
    thresholds = [0]
    for step in steps:
        thresholds.append(thresholds[-1] + step)
    return tuple(
        tier(f"t{i}", t, draw(st.none() | st.integers(0, t))) for i, t in enumerate(thresholds)
    )


amounts = st.integers(0, 30_000)


@pytest.mark.parametrize(
    ("current", "amount", "one_tier", "to_base"),
    [
        (2, 6000, 2, 2),  # gold kept on its retain threshold
        (2, 5999, 1, 1),  # missed gold; 5999 still reaches silver's threshold
        (2, 2499, 1, 0),  # missed: one tier down, or to what 2499 still reaches (bronze)
        (2, 0, 1, 0),
        (1, 1500, 1, 1),  # silver kept
        (1, 1499, 0, 0),
        (0, 0, 0, 0),  # the base tier is never lower
        (1, 10000, 2, 2),  # a review also raises one who qualifies
    ],
)
def test_a_review_keeps_on_retain_and_lowers_as_the_program_says(
    current: int, amount: int, one_tier: int, to_base: int
):
    assert reviewed(current, amount, TIERS, Downgrade.ONE_TIER) == one_tier
    assert reviewed(current, amount, TIERS, Downgrade.TO_BASE) == to_base


@given(ladders(), st.data(), amounts, st.sampled_from(list(Downgrade)))
def test_a_review_lowers_only_below_retain_and_never_more_than_the_mode_allows(
    tiers: tuple[Tier, ...], data: st.DataObject, amount: int, mode: Downgrade
):
    current = data.draw(st.integers(0, len(tiers) - 1))
    after = reviewed(current, amount, tiers, mode)
    if amount >= tiers[current].keep:
        assert after == max(current, tier_index(amount, tiers))
    elif current == 0:
        assert after == 0
    elif mode is Downgrade.ONE_TIER:
        assert after == current - 1
    else:
        assert after == tier_index(amount, tiers) < current


@given(ladders(), st.data(), amounts, amounts)
def test_upgrades_never_lower_and_grow_with_the_amount(
    tiers: tuple[Tier, ...], data: st.DataObject, low: int, extra: int
):
    current = data.draw(st.integers(0, len(tiers) - 1))
    assert upgraded(current, low, tiers) >= current
    assert upgraded(current, low + extra, tiers) >= upgraded(current, low, tiers)
    # An upgrade is never undone by a review of the same amount: retain <= threshold.
    reached = upgraded(current, low, tiers)
    if reached > current:
        for mode in Downgrade:
            assert reviewed(reached, low, tiers, mode) == reached


@given(ladders(), st.data(), amounts)
def test_standing_says_what_is_left_to_reach_and_to_keep(
    tiers: tuple[Tier, ...], data: st.DataObject, amount: int
):
    current = data.draw(st.integers(0, len(tiers) - 1))
    found = standing(current, amount, tiers)
    assert found.current is tiers[current]
    assert found.retain_by == max(tiers[current].keep - amount, 0)
    assert 0.0 <= found.progress <= 1.0
    if current == len(tiers) - 1:
        assert found.next is None
        assert found.to_next is None
    else:
        assert found.next is tiers[current + 1]
        assert found.to_next == max(tiers[current + 1].threshold - amount, 0)


def test_standing_on_the_stored_tier_not_on_the_amount():
    # Kept gold on a retain of 6000 with 7000 in the window: still gold, 0 to keep it.
    found = standing(2, 7000, TIERS)
    assert (found.current.key, found.next, found.retain_by, found.progress) == (
        "gold",
        None,
        0,
        1.0,
    )
    # Silver with 1000 so far: 500 more keeps it, 9000 more reaches gold.
    silver = standing(1, 1000, TIERS)
    assert (silver.retain_by, silver.to_next, silver.progress) == (500, 9000, 0.0)
