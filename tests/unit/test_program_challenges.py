"""The program file's [[challenges]] and [[surprises]]: read into the program, every mistake
reported with its location."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from app.settings import DEMO_PROGRAM
from domain.program import ChallengeMetric, Period, Recurrence
from domain.program_file import ProgramInvalid, load_program

HEAD = """\
[program]
name = "Test"
timezone = "Europe/Bucharest"

[purchases]
rates = { RON = 1 }

[[tiers]]
key = "base"
name = "Base"
threshold = 0

[[actions]]
key = "REVIEW"
name = "Review"
points = 10
"""


def problems(section: str) -> list[str]:
    with pytest.raises(ProgramInvalid) as raised:
        load_program(HEAD + section)
    return [str(p) for p in raised.value.problems]


def test_a_weekly_challenge_and_a_surprise_are_read():
    program = load_program(
        HEAD
        + """
[[challenges]]
key = "explorer"
name = { en = "Explorer week" }
every = "week"
week_starts = "sunday"
points = 200
first = 100
goals = [
  { metric = "purchases", target = 3 },
  { metric = "partners", target = 2 },
  { metric = "spend", currency = "RON", target = "150.50" },
  { metric = "actions:REVIEW", target = 1 },
]

[[challenges]]
key = "december"
name = "December"
every = "fixed"
starts = 2026-12-01
ends = 2027-01-01
points = 50
goals = [{ metric = "purchases", target = 1 }]

[[surprises]]
key = "lucky"
name = "Lucky purchase"
on = "purchases"
chance = "0.02"
points = 100
budget = { points = 5000, period = "month" }

[[surprises]]
key = "lucky-review"
name = "Lucky review"
on = "actions:REVIEW"
chance = 1
points = 5
budget = { wins = 3, period = "day" }
"""
    )
    explorer, december = program.challenges
    assert explorer.window.every is Recurrence.WEEK
    assert explorer.window.week_starts == 6
    assert explorer.first == 100
    assert [g.metric for g in explorer.goals] == [
        ChallengeMetric.PURCHASES,
        ChallengeMetric.PARTNERS,
        ChallengeMetric.SPEND,
        ChallengeMetric.ACTIONS,
    ]
    assert explorer.goals[2].target == Decimal("150.50")
    assert explorer.goals[2].currency == "RON"
    assert explorer.goals[3].action == "REVIEW"
    assert december.window.starts == datetime(2026, 11, 30, 22, tzinfo=UTC)
    lucky, review = program.surprises
    assert lucky.chance == Decimal("0.02")
    assert lucky.budget is not None
    assert lucky.budget.points == 5000
    assert lucky.budget.period is Period.MONTH
    assert review.chance == 1
    assert review.budget is not None
    assert review.budget.wins == 3


def test_every_mistake_in_a_challenge_is_reported_where_it_is():
    found = problems(
        """
[[challenges]]
key = "bad"
name = "Bad"
every = "fortnight"
week_starts = "caturday"
points = 0
goals = [
  { metric = "likes", target = 3 },
  { metric = "spend", currency = "EUR", target = "10" },
  { metric = "actions:SHARE", target = 1 },
  { metric = "purchases", target = 0, currency = "RON" },
]
"""
    )
    assert "challenges[0].every: 'fortnight' is not one of week, month, fixed" in found
    assert "challenges[0].points: must be a whole number from 1 to 1000000000" in found
    assert any(p.startswith("challenges[0].goals[0].metric: 'likes' is not one of") for p in found)
    assert "challenges[0].goals[1].currency: is not a currency of purchases.rates" in found
    assert "challenges[0].goals[3].currency: has meaning only for the spend metric" in found
    assert any(p.startswith("challenges[0].goals[3].target: must be a whole number") for p in found)
    # An action nobody defined is reported once the section is otherwise readable.
    found = problems(
        """
[[challenges]]
key = "share"
name = "Share"
every = "month"
points = 10
goals = [{ metric = "actions:SHARE", target = 1 }]
"""
    )
    assert found == ["challenges[0].goals[0].metric: no action has the key 'SHARE'"]


def test_a_fixed_challenge_needs_both_ends_in_order_and_a_goal():
    found = problems(
        """
[[challenges]]
key = "once"
name = "Once"
every = "fixed"
starts = 2026-12-10
ends = 2026-12-01
points = 10
goals = []
"""
    )
    assert "challenges[0].ends: must be after starts" in found
    assert "challenges[0].goals: give at least one goal" in found
    found = problems(
        """
[[challenges]]
key = "once"
name = "Once"
every = "fixed"
points = 10
week_starts = "monday"
"""
    )
    assert any(p.startswith("challenges[0].starts: is required") for p in found)
    assert any(p.startswith("challenges[0].ends: is required") for p in found)
    assert any(p.startswith("challenges[0].goals: is required") for p in found)
    assert 'challenges[0].week_starts: has no meaning unless every = "week"' in found


def test_every_mistake_in_a_surprise_is_reported_where_it_is():
    found = problems(
        """
[[surprises]]
key = "bad"
name = "Bad"
on = "refunds"
chance = "1.5"
points = 10
budget = { points = 100, wins = 3, period = "week" }

[[surprises]]
key = "worse"
name = "Worse"
on = "actions:SHARE"
points = 10
budget = { period = "fortnight", points = 5 }
"""
    )
    assert any(p.startswith("surprises[0].on: 'refunds' does not match") for p in found)
    assert "surprises[0].chance: must be greater than 0 and at most 1" in found
    assert "surprises[0].budget: give either points or wins (the most per period)" in found
    assert any(p.startswith("surprises[1].chance: is required") for p in found)
    assert any(p.startswith("surprises[1].budget.period: 'fortnight' is not one of") for p in found)
    found = problems(
        """
[[surprises]]
key = "share"
name = "Share"
on = "actions:SHARE"
chance = "0.1"
points = 10
"""
    )
    assert found == ["surprises[0].on: no action has the key 'SHARE'"]


def test_the_demo_has_a_weekly_challenge_and_a_surprise_with_a_budget():
    program = load_program(DEMO_PROGRAM.read_text())
    assert any(c.window.every is Recurrence.WEEK for c in program.challenges)
    assert any(s.budget is not None for s in program.surprises)
