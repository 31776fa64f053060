"""Percentiles: the arithmetic from what a sorted set answers, and how a challenge's progress
is kept in its window's set."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from gamification.challenges import Window
from gamification.progress import (
    challenge_metric,
    challenge_ttl,
    challenge_value,
    percentile,
    stored_value,
)
from gamification.scores import EXACT, GRACE


def from_members(others: list[int], value: int, own: int | None) -> float:
    """What the sorted set would answer for these members (those at 0 not stored, the member
    stored with `own`), through percentile()."""
    stored = [o for o in others if o > 0] + ([own] if own is not None else [])
    below = sum(1 for s in stored if s < value)
    return percentile(value, below, len(stored), own, len(others) + 1)


def test_a_member_alone_is_ahead_of_nobody():
    assert from_members([], 0, None) == 0.0
    assert from_members([], 12, 12) == 0.0
    assert from_members([], 12, None) == 0.0  # not projected yet


def test_equal_values_are_not_below():
    assert from_members([5, 5, 5], 5, 5) == 0.0
    assert from_members([5, 5, 4], 5, 5) == 25.0
    # Nobody is ahead of the members who did nothing, all at 0.
    assert from_members([0, 0, 0], 0, None) == 0.0


def test_members_not_stored_count_as_zero():
    # Three did nothing (not stored), one has 9: 7 is ahead of the three, out of five.
    assert from_members([0, 0, 0, 9], 7, 7) == 60.0


def test_the_members_own_stale_entry_is_taken_out():
    # Stored at 2, now 7 fresh from SQL: its old self is not someone it is ahead of.
    assert from_members([3, 0], 7, 2) == 100 * 2 / 3
    # Stored at 9, now 1 (a refund): the old value above it changes nothing either.
    assert from_members([3, 0], 1, 9) == 100 * 1 / 3
    # Stored at 2, now 0: below nobody, ahead of nobody.
    assert from_members([3, 0], 0, 2) == 0.0


def test_answers_stay_between_0_and_100_when_the_population_lags():
    # A population not yet counting new members (its key is written after their enrolment).
    assert percentile(10, below=6, stored=6, own=None, population=3) == 100.0
    assert percentile(0, below=0, stored=0, own=5, population=1) == 0.0
    assert percentile(4, below=0, stored=0, own=None, population=0) == 0.0


@given(
    st.lists(st.integers(0, 30), max_size=25),
    st.integers(0, 30),
    st.one_of(st.none(), st.integers(1, 30)),
)
def test_it_is_the_share_of_the_others_with_a_lower_value(
    others: list[int], value: int, own: int | None
):
    population = len(others) + 1
    expected = 100 * sum(1 for o in others if o < value) / population
    found = from_members(others, value, own)
    assert found == expected
    assert 0.0 <= found < 100.0


def test_stored_values_are_exact_in_a_double():
    assert stored_value(-3) == 0
    assert stored_value(41) == 41
    assert stored_value(EXACT + 10) == EXACT - 1
    assert float(stored_value(EXACT + 10)) == EXACT - 1


# -- challenge progress as its window's set keeps it -------------------------------------------


def test_a_finished_challenge_is_kept_at_ten_thousand():
    assert challenge_value(1.0, complete=True) == 10_000


def test_an_unfinished_challenge_is_capped_below_the_finished():
    # Challenges.Progress caps an unfinished fraction at 0.999: 9,990 at most, whatever it says.
    assert challenge_value(0.999, complete=False) == 9_990
    assert challenge_value(0.99999, complete=False) == 9_990
    assert challenge_value(1.0, complete=False) == 9_990


def test_progress_is_kept_in_rounded_ten_thousandths_and_none_is_not_kept():
    assert challenge_value((2 / 3 + 1 / 2) / 2, complete=False) == 5_833
    assert challenge_value(0.5, complete=False) == 5_000
    assert challenge_value(0.00004, complete=False) == 0
    assert challenge_value(0.0, complete=False) == 0


@given(st.floats(0, 1), st.floats(0, 1))
def test_more_progress_is_never_kept_lower(a: float, b: float):
    low, high = sorted((a, b))
    assert 0 <= challenge_value(low, False) <= challenge_value(high, False) <= 9_990
    assert challenge_value(high, False) < challenge_value(low, True)


def test_a_challenge_windows_set_is_named_by_its_start_in_epoch_seconds():
    start = datetime(2026, 11, 29, 22, tzinfo=UTC)
    window = Window(start, start + timedelta(days=7))
    assert challenge_metric("busy-week", window) == f"challenge:busy-week:{1_795_989_600}"
    assert start.timestamp() == 1_795_989_600
    # Redis drops it a grace (the boards') after the window ends.
    assert challenge_ttl(window, start) == (timedelta(days=7) + GRACE).total_seconds()
    assert challenge_ttl(window, start + timedelta(days=20)) == 1
