"""Badges without a database: each metric, levels, progress, hidden badges, and how the
program file declares badges and streaks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.program import Badge, Streak, StreakPeriod, Text
from domain.program_file import load_program
from gamification.badges import Metrics, level_reached, newly_reached, standing, visible
from tests.unit.test_program import MINIMAL, RICH, only_problem

AT = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def badge(
    levels: tuple[int, ...] = (1, 10, 50),
    metric: str = "purchases",
    *,
    hidden: bool = False,
    bonus: tuple[int, ...] = (),
) -> Badge:
    return Badge(
        key="b",
        name=Text({"en": "B"}),
        description=None,
        metric=metric,
        levels=levels,
        hidden=hidden,
        bonus=bonus,
    )


METRICS = Metrics(
    purchases=12,
    spend={"RON": 1234, "EUR": 56},
    partners=3,
    points_earned=4500,
    referrals=2,
    redemptions=1,
    actions={"REVIEW": 7},
    streaks={"daily": 9},
)


@pytest.mark.parametrize(
    ("metric", "value"),
    [
        ("purchases", 12),
        ("spend:RON", 1234),
        ("spend:EUR", 56),
        ("spend:USD", 0),
        ("partners", 3),
        ("points_earned", 4500),
        ("referrals", 2),
        ("redemptions", 1),
        ("actions:REVIEW", 7),
        ("actions:SURVEY", 0),
        ("streak:daily", 9),
        ("streak:weekly", 0),
    ],
)
def test_each_metric_reads_its_value(metric: str, value: int):
    assert METRICS.value(metric) == value


def test_an_unknown_metric_is_an_error():
    with pytest.raises(ValueError, match="no metric"):
        METRICS.value("visits")


@pytest.mark.parametrize(
    ("value", "level", "target", "progress"),
    [
        (0, 0, 1, 0.0),
        (1, 1, 10, 0.1),
        (9, 1, 10, 0.9),
        (10, 2, 50, 0.2),
        (49, 2, 50, 0.98),
        (50, 3, 50, 1.0),
        (500, 3, 50, 1.0),
    ],
)
def test_multi_level_standing(value: int, level: int, target: int, progress: float):
    found = standing(badge(), value, {})
    assert (found.current, found.level, found.target) == (value, level, target)
    assert found.progress == pytest.approx(progress)
    assert found.unlocked_at is None


def test_unlocked_levels_stay_when_the_value_falls_and_say_when():
    earlier = datetime(2026, 11, 1, tzinfo=UTC)
    found = standing(badge(), 4, {1: earlier, 2: AT})
    assert (found.current, found.level, found.target, found.unlocked_at) == (4, 2, 50, AT)
    assert found.progress == pytest.approx(4 / 50)


def test_new_levels_are_those_reached_and_not_unlocked():
    assert newly_reached(badge(), 0, {}) == []
    assert newly_reached(badge(), 12, {}) == [1, 2]
    assert newly_reached(badge(), 12, {1: AT}) == [2]
    assert newly_reached(badge(), 60, {1: AT, 2: AT}) == [3]
    assert newly_reached(badge(), 60, {1: AT, 2: AT, 3: AT}) == []


def test_a_hidden_badge_shows_once_unlocked():
    hidden = badge(hidden=True)
    assert not visible(hidden, {})
    assert visible(hidden, {1: AT})
    assert visible(badge(), {})


def test_the_bonus_is_per_level():
    assert badge(bonus=(10, 50, 200)).bonus_for(2) == 50
    assert badge().bonus_for(1) == 0


@given(
    st.lists(st.integers(min_value=1, max_value=10_000), min_size=1, max_size=6, unique=True),
    st.integers(min_value=-5, max_value=20_000),
)
def test_standing_properties(thresholds: list[int], value: int):
    levels = tuple(sorted(thresholds))
    found = standing(badge(levels), value, {})
    assert 0 <= found.progress <= 1
    assert 0 <= found.level <= len(levels)
    assert found.level == level_reached(levels, max(value, 0))
    assert found.target in levels
    if found.level < len(levels):
        assert found.current < found.target
        assert found.progress < 1
    else:
        assert found.progress == 1.0
    # What is newly reached from nothing is every level reached, in order.
    assert newly_reached(badge(levels), value, {}) == list(range(1, found.level + 1))


@given(st.integers(min_value=0, max_value=100), st.integers(min_value=0, max_value=100))
def test_more_of_a_metric_never_lowers_a_standing(value: int, more: int):
    lower, higher = standing(badge(), value, {}), standing(badge(), value + more, {})
    assert higher.level >= lower.level
    assert higher.level > lower.level or higher.progress >= lower.progress


# -- the program file ------------------------------------------------------------------------

REVIEW = '[[actions]]\nkey = "REVIEW"\nname = "Review"\npoints = 5\n'
DAILY = '[[streaks]]\nkey = "daily"\nname = "Daily"\nperiod = "day"\nactivity = "purchases"\n'


def badge_file(metric: str = '"purchases"', extra: str = "", levels: str = "[1, 10, 50]") -> str:
    return f'[[badges]]\nkey = "b"\nname = "B"\nmetric = {metric}\nlevels = {levels}\n{extra}'


@pytest.mark.parametrize("metric", ["spend:RON", "spend:EUR", "partners", "streak:daily"])
def test_the_new_badge_metrics_are_kept(metric: str):
    program = load_program(RICH + DAILY + badge_file(f'"{metric}"'))
    assert program.badges[0].metric == metric


def test_a_streak_is_kept_with_its_grace():
    source = (
        RICH
        + REVIEW
        + '[[streaks]]\nkey = "reviews"\nname = { en = "Reviewer" }\n'
        + 'description = "A review a week"\nperiod = "week"\nactivity = "actions:REVIEW"\n'
        + "grace = 1\n"
    )
    assert load_program(source).streaks == (
        Streak(
            key="reviews",
            name=Text({"en": "Reviewer"}),
            description=Text({"": "A review a week"}),
            period=StreakPeriod.WEEK,
            activity="actions:REVIEW",
            grace=1,
        ),
    )
    assert load_program(RICH + DAILY).streaks[0].grace == 0


@pytest.mark.parametrize(
    ("snippet", "path", "fragment"),
    [
        (badge_file('"spend:USD"'), "badges[0].metric", "USD is not a currency of purchases.rates"),
        (badge_file('"spend:ron"'), "badges[0].metric", "does not match the pattern"),
        (badge_file('"spend"'), "badges[0].metric", "does not match the pattern"),
        (badge_file('"streak:nope"'), "badges[0].metric", "no streak has the key 'nope'"),
        (badge_file('"partners:x"'), "badges[0].metric", "does not match the pattern"),
        (badge_file(extra='hidden = "yes"\n'), "badges[0].hidden", "must be true or false"),
        (badge_file(extra="bonus = -1\n"), "badges[0].bonus", "whole number from 0"),
        (badge_file(extra="bonus = [1, 2]\n"), "badges[0].bonus", "one number per level (3)"),
        (badge_file(extra='bonus = [1, "2", 3]\n'), "badges[0].bonus[1]", "whole number"),
        (badge_file(extra="colour = 1\n"), "badges[0].colour", "unknown key"),
        (DAILY.replace('"day"', '"month"'), "streaks[0].period", "is not one of day, week"),
        (DAILY.replace('"purchases"', '"visits"'), "streaks[0].activity", "does not match"),
        (
            DAILY.replace('"purchases"', '"actions:NOPE"'),
            "streaks[0].activity",
            "no action has the key 'NOPE'",
        ),
        (DAILY + "grace = 31\n", "streaks[0].grace", "whole number from 0 to 30"),
        (DAILY.replace('period = "day"\n', ""), "streaks[0].period", "is required"),
        (DAILY + "every = 2\n", "streaks[0].every", "unknown key"),
    ],
)
def test_badge_and_streak_mistakes_are_reported_where_they_are(
    snippet: str, path: str, fragment: str
):
    problem = only_problem(RICH + snippet)
    assert problem.path == path
    assert fragment in problem.message


def test_hidden_badges_and_bonuses_are_kept():
    one = load_program(MINIMAL + badge_file(extra="hidden = true\nbonus = 25\n")).badges[0]
    assert one.hidden is True
    assert one.bonus == (25, 25, 25)
    each = load_program(MINIMAL + badge_file(extra="bonus = [10, 0, 300]\n")).badges[0]
    assert each.hidden is False
    assert each.bonus == (10, 0, 300)
    assert each.bonus_for(3) == 300


def test_a_leaderboard_still_ranks_only_its_own_metrics():
    board = '[[leaderboards]]\nkey = "l"\nname = "L"\nmetric = "partners"\n'
    assert only_problem(MINIMAL + board).path == "leaderboards[0].metric"
