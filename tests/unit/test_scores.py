"""Leaderboard scores and periods: the encoding's order and bounds, calendar windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.program import BoardPeriod
from gamification import scores
from gamification.boards import hash_tag

BUCHAREST = ZoneInfo("Europe/Bucharest")
score_values = st.integers(min_value=0, max_value=scores.MAX_SCORE)
ticks = st.integers(min_value=0, max_value=scores.MAX_TICK)
moments = st.datetimes(
    min_value=datetime(2020, 1, 2), max_value=datetime(2099, 1, 1), timezones=st.just(UTC)
)


def test_the_largest_value_is_the_last_exact_double():
    top = scores.encode(scores.MAX_SCORE, 0)
    assert top == 2**53 - 1 == scores.EXACT - 1
    assert float(top) == top
    assert scores.encode(0, scores.MAX_TICK) == 0


@given(score_values, ticks)
def test_encoding_round_trips_through_a_double(score: int, tick: int):
    value = scores.encode(score, tick)
    assert 0 <= value < scores.EXACT
    assert scores.decode(float(value)) == (score, tick)
    # Redis answers scores as text with 17 significant digits: still exact.
    assert scores.decode(float(f"{float(value):.17g}")) == (score, tick)


@given(score_values, ticks, score_values, ticks)
def test_higher_scores_first_then_the_earliest_to_reach_them(
    a: int, a_tick: int, b: int, b_tick: int
):
    first, second = scores.encode(a, a_tick), scores.encode(b, b_tick)
    if a != b:
        assert (first > second) == (a > b)
    else:
        assert (first > second) == (a_tick < b_tick)
        assert (first == second) == (a_tick == b_tick)


@given(st.integers(min_value=-(2**40), max_value=2**40), st.integers(-(2**30), 2**30))
def test_out_of_bounds_values_are_clamped(score: int, tick: int):
    decoded = scores.decode(scores.encode(score, tick))
    assert decoded == (min(max(score, 0), scores.MAX_SCORE), min(max(tick, 0), scores.MAX_TICK))


@given(moments, st.sampled_from(list(BoardPeriod)))
def test_every_moment_is_in_exactly_one_window_of_each_kind(moment: datetime, period: BoardPeriod):
    window = scores.window(period, moment, BUCHAREST)
    assert window.start <= moment
    if window.end is not None:
        assert moment < window.end
        assert scores.window(period, window.end, BUCHAREST).start == window.end
        assert scores.window(period, window.start, BUCHAREST) == window
        previous = window.previous(BUCHAREST)
        assert previous is not None
        assert previous.end == window.start
        # Seconds from the period's start never run out of ticks within it.
        assert window.tick(window.end - timedelta(seconds=1)) < scores.MAX_TICK
    assert 0 <= window.tick(moment) <= scores.MAX_TICK


@given(moments, moments)
def test_ticks_never_run_backwards(a: datetime, b: datetime):
    early, late = sorted((a, b))
    for period in BoardPeriod:
        window = scores.window(period, early, BUCHAREST)
        assert window.tick(early) <= window.tick(late)


def test_weeks_start_on_monday_at_local_midnight_and_months_on_the_first():
    # Sunday 2026-11-29 23:30 in Bucharest is still week 48; 22:30 UTC is local 00:30 Monday.
    sunday_night = datetime(2026, 11, 29, 21, 30, tzinfo=UTC)
    monday_morning = datetime(2026, 11, 29, 22, 30, tzinfo=UTC)
    assert scores.window(BoardPeriod.WEEK, sunday_night, BUCHAREST).code == "w:2026-W48"
    week = scores.window(BoardPeriod.WEEK, monday_morning, BUCHAREST)
    assert week.code == "w:2026-W49"
    assert week.start == datetime(2026, 11, 29, 22, 0, tzinfo=UTC)
    assert week.end == datetime(2026, 12, 6, 22, 0, tzinfo=UTC)
    month = scores.window(BoardPeriod.MONTH, monday_morning, BUCHAREST)
    assert month.code == "m:2026-11"
    december = scores.window(
        BoardPeriod.MONTH, datetime(2026, 11, 30, 22, 0, tzinfo=UTC), BUCHAREST
    )
    assert december.code == "m:2026-12"
    # March has a DST change: 31 days less one hour.
    march = scores.window(BoardPeriod.MONTH, datetime(2026, 3, 15, tzinfo=UTC), BUCHAREST)
    assert march.end is not None
    assert march.end - march.start == timedelta(days=31, hours=-1)
    assert scores.window(BoardPeriod.ALL_TIME, monday_morning, BUCHAREST).code == "all"


def test_a_period_is_found_by_its_start_only():
    start = datetime(2026, 11, 29, 22, 0, tzinfo=UTC)
    assert scores.window_at(BoardPeriod.WEEK, start, BUCHAREST) is not None
    assert scores.window_at(BoardPeriod.WEEK, start + timedelta(hours=1), BUCHAREST) is None
    assert scores.window_at(BoardPeriod.MONTH, start, BUCHAREST) is None


def test_period_keys_expire_after_the_grace():
    week = scores.window(BoardPeriod.WEEK, datetime(2026, 12, 1, tzinfo=UTC), BUCHAREST)
    assert week.expires_at == week.end + scores.GRACE  # type: ignore[operator]
    assert scores.window(BoardPeriod.ALL_TIME, week.start, BUCHAREST).expires_at is None


@pytest.mark.parametrize(
    ("rank", "size", "expected"), [(1, 1, 0.0), (1, 4, 75.0), (4, 4, 0.0), (2, 5, 60.0)]
)
def test_percentile_is_the_share_ranked_below(rank: int, size: int, expected: float):
    assert scores.percentile(rank, size) == expected


@given(st.integers(1, 10**6), st.data())
def test_percentile_is_between_0_and_100_and_falls_with_rank(size: int, data: st.DataObject):
    rank = data.draw(st.integers(1, size))
    value = scores.percentile(rank, size)
    assert 0 <= value < 100
    if rank < size:
        assert scores.percentile(rank + 1, size) < value


def test_percentile_refuses_a_rank_off_the_board():
    with pytest.raises(ValueError, match="not on a board"):
        scores.percentile(3, 2)


@pytest.mark.parametrize(
    ("prefix", "tag"), [("{c}", "{c}"), ("coalition", "{coalition}"), ("app:{x}", "app:{x}")]
)
def test_every_key_shares_one_hash_tag(prefix: str, tag: str):
    assert hash_tag(prefix) == tag


def test_a_rank_change_reads_as_the_live_subscription_relays_it():
    from gamification.boards import rank_changed
    from gamification.live import LiveRank, read_message

    told = read_message(rank_changed(7, "points", "WEEK", 2, None), 7)
    assert told == LiveRank(None, 7, "points", BoardPeriod.WEEK, 2, None)
    assert read_message(rank_changed(7, "points", "WEEK", 2, 5), 8) is None
