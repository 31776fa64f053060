"""Where a member stands among the tiers: current, next, progress and points to go."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from domain.program import Text, Tier
from domain.program_file import load_program
from gamification.tiers import TierProgress, tier_progress
from tests.helpers import BASE_PROGRAM

TIERS = load_program(BASE_PROGRAM.read_text()).tiers  # bronze 0, silver 2500, gold 10000


def tier(key: str, threshold: int) -> Tier:
    return Tier(key=key, name=Text({"en": key.title()}), threshold=threshold, benefits=())


def keys(progress: TierProgress) -> tuple[str, str | None]:
    return progress.current.key, None if progress.next is None else progress.next.key


@pytest.mark.parametrize(
    ("points", "current", "following", "progress", "to_next"),
    [
        (0, "bronze", "silver", 0.0, 2500),
        (1, "bronze", "silver", 1 / 2500, 2499),
        (1250, "bronze", "silver", 0.5, 1250),
        (2499, "bronze", "silver", 2499 / 2500, 1),
        (2500, "silver", "gold", 0.0, 7500),
        (2501, "silver", "gold", 1 / 7500, 7499),
        (6250, "silver", "gold", 0.5, 3750),
        (9999, "silver", "gold", 7499 / 7500, 1),
    ],
)
def test_below_at_and_between_thresholds(
    points: int, current: str, following: str, progress: float, to_next: int
):
    found = tier_progress(points, TIERS)
    assert keys(found) == (current, following)
    assert found.progress == pytest.approx(progress)
    assert found.points_to_next == to_next


@pytest.mark.parametrize("points", [10000, 10001, 250_000, 10**12])
def test_at_or_beyond_the_top_tier_there_is_no_next(points: int):
    found = tier_progress(points, TIERS)
    assert keys(found) == ("gold", None)
    assert found.progress == 1.0
    assert found.points_to_next is None


@pytest.mark.parametrize("points", [-1, -2500, -(10**12)])
def test_negative_points_count_as_none(points: int):
    found = tier_progress(points, TIERS)
    assert keys(found) == ("bronze", "silver")
    assert found.progress == 0.0
    assert found.points_to_next == 2500


def test_a_single_tier_is_always_complete():
    only = (tier("member", 0),)
    for points in (-5, 0, 7, 10**9):
        found = tier_progress(points, only)
        assert found.current is only[0]
        assert found.next is None
        assert found.progress == 1.0
        assert found.points_to_next is None


def test_the_tiers_returned_are_the_program_tiers():
    found = tier_progress(3000, TIERS)
    assert found.current is TIERS[1]
    assert found.next is TIERS[2]


def test_no_tiers_is_an_error():
    with pytest.raises(ValueError, match="at least one tier"):
        tier_progress(10, ())


@st.composite
def ladders(draw: st.DrawFn) -> tuple[Tier, ...]:
    thresholds = sorted(draw(st.sets(st.integers(1, 10**9), max_size=6)))
    return tuple(tier(f"t{i}", t) for i, t in enumerate([0, *thresholds]))


@settings(max_examples=200, deadline=None)
@given(ladders(), st.integers(-(10**10), 2 * 10**9))
@example((tier("a", 0), tier("b", 1)), 0)
@example((tier("a", 0), tier("b", 1)), 1)
@example((tier("a", 0), tier("b", 10**9)), 10**9 - 1)
def test_progress_is_consistent_for_any_ladder_and_any_points(
    ladder: tuple[Tier, ...], points: int
):
    found = tier_progress(points, ladder)
    standing = max(points, 0)
    assert 0.0 <= found.progress <= 1.0
    assert found.current in ladder
    assert found.current.threshold <= standing
    index = ladder.index(found.current)
    if found.next is None:
        assert index == len(ladder) - 1
        assert found.points_to_next is None
        assert found.progress == 1.0
    else:
        assert found.next is ladder[index + 1]
        assert standing < found.next.threshold
        assert found.points_to_next is not None
        assert found.points_to_next > 0
        assert found.points_to_next == found.next.threshold - standing
        span = found.next.threshold - found.current.threshold
        assert found.progress == pytest.approx((standing - found.current.threshold) / span)
        assert found.progress < 1.0


@settings(max_examples=200, deadline=None)
@given(ladders(), st.integers(0, 2 * 10**9), st.integers(0, 10**9))
def test_more_points_never_mean_a_lower_tier(ladder: tuple[Tier, ...], points: int, more: int):
    before = ladder.index(tier_progress(points, ladder).current)
    after = ladder.index(tier_progress(points + more, ladder).current)
    assert after >= before
