"""Counted nouns: the singular for exactly one, the plural for every other count."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.words import counted


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        (1, "1 point"),
        (0, "0 points"),
        (2, "2 points"),
        (-1, "-1 points"),
        (Decimal("1"), "1 point"),
        (Decimal("1.0"), "1.0 point"),
        (Decimal("0.15"), "0.15 points"),
        (Decimal("1.5"), "1.5 points"),
    ],
)
def test_exactly_one_is_singular(count: int | Decimal, expected: str):
    assert counted(count, "point") == expected


def test_an_irregular_plural_is_given():
    assert counted(1, "bonus", "bonuses") == "1 bonus"
    assert counted(3, "bonus", "bonuses") == "3 bonuses"
    assert counted(1, "birthday bonus", "birthday bonuses") == "1 birthday bonus"


def test_thousands_are_grouped_when_asked():
    assert counted(12500, "point", grouped=True) == "12,500 points"
    assert counted(12500, "point") == "12500 points"
    assert counted(1, "lot", grouped=True) == "1 lot"
