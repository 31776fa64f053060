"""The program file's tier rules: windows, retain thresholds, multipliers, downgrades."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.program import Downgrade, QualifyOn, TierRules, TierWindow
from domain.program_file import load_program
from tests.unit.test_program import RICH, only_problem, paths, problems_of

GOLD = 'key = "gold"\nname = "Gold"\nthreshold = 1000\n'


def with_gold(extra: str) -> str:
    return RICH.replace(GOLD, GOLD + extra)


def test_without_tier_rules_tiers_keep_today_s_behaviour():
    program = load_program(RICH)
    assert program.tier_rules == TierRules()
    assert program.tier_rules.from_account
    gold = program.tiers[1]
    assert (gold.keep, gold.multiplier) == (1000, Decimal(1))


def test_every_tier_rule_and_tier_key_is_read():
    program = load_program(
        with_gold('retain = 600\nmultiplier = "1.25"\n')
        + '\n[tier_rules]\nqualify_on = "spend"\nspend_currency = "EUR"\n'
        'window = "calendar_year"\ndowngrade = "to_base"\n'
    )
    assert program.tier_rules == TierRules(
        qualify_on=QualifyOn.SPEND,
        window=TierWindow.CALENDAR_YEAR,
        downgrade=Downgrade.TO_BASE,
        spend_currency="EUR",
    )
    assert not program.tier_rules.from_account
    assert (program.tiers[1].retain, program.tiers[1].multiplier) == (600, Decimal("1.25"))


@pytest.mark.parametrize(
    ("extra", "path"),
    [
        ("retain = 1001\n", "tiers[1].retain"),
        ("retain = -1\n", "tiers[1].retain"),
        ('multiplier = "0"\n', "tiers[1].multiplier"),
        ('multiplier = "1.2.3"\n', "tiers[1].multiplier"),
        ("multiplier = 101\n", "tiers[1].multiplier"),
        ("perks = 1\n", "tiers[1].perks"),
    ],
)
def test_bad_tier_keys_are_reported_where_they_are(extra: str, path: str):
    assert only_problem(with_gold(extra)).path == path


@pytest.mark.parametrize(
    ("table", "path"),
    [
        ('window = "fortnight"\n', "tier_rules.window"),
        ('qualify_on = "visits"\n', "tier_rules.qualify_on"),
        ('downgrade = "two_tiers"\n', "tier_rules.downgrade"),
        ('qualify_on = "spend"\n', "tier_rules.spend_currency"),
        ('qualify_on = "spend"\nspend_currency = "USD"\n', "tier_rules.spend_currency"),
        ('spend_currency = "EUR"\n', "tier_rules.spend_currency"),
        ('qualify_on = "spend"\nspend_currency = "eur"\n', "tier_rules.spend_currency"),
        ("windows = 1\n", "tier_rules.windows"),
    ],
)
def test_bad_tier_rules_are_reported_where_they_are(table: str, path: str):
    assert only_problem(RICH + "\n[tier_rules]\n" + table).path == path


def test_tier_rules_must_be_a_table():
    assert "tier_rules" in paths(problems_of('tier_rules = "rolling"\n' + RICH))
