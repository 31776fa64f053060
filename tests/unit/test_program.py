"""The program file: the demo and base programs load, and every mistake is reported with its
location (`purchase_rules[3].multiplier: must be greater than 0 and at most 100`)."""

from __future__ import annotations

import hashlib
import math
import re
import tomllib
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.settings import DEMO_PROGRAM
from domain.program import (
    MAX_POINTS,
    NEVER,
    Action,
    CampaignKind,
    Cap,
    ConversionRate,
    Direction,
    Expiry,
    Period,
    Referral,
    RuleKind,
    Selector,
    Text,
)
from domain.program_file import Problem, ProgramInvalid, load_program
from tests.helpers import BASE_PROGRAM

BUCHAREST = ZoneInfo("Europe/Bucharest")

MINIMAL = """\
[program]
name = "Test"

[purchases]
rates = { RON = 1 }

[[tiers]]
key = "base"
name = "Base"
threshold = 0
"""

# The program the tests of the newer sections add to: a time zone with summer time, two
# currencies, two tiers and a partner to refer to. Sections are appended after it.
RICH = """\
[program]
name = "Test"
timezone = "Europe/Bucharest"

[purchases]
rates = { RON = 1, EUR = 5 }

[[tiers]]
key = "base"
name = "Base"
threshold = 0

[[tiers]]
key = "gold"
name = "Gold"
threshold = 1000

[[partners]]
key = "shop"
name = "Shop"
currency = "COIN"
"""


def problems_of(source: str) -> list[Problem]:
    with pytest.raises(ProgramInvalid) as caught:
        load_program(source)
    problems = caught.value.problems
    assert problems, "ProgramInvalid must say what is wrong"
    for problem in problems:
        assert isinstance(problem.path, str)
        assert isinstance(problem.message, str)
        assert problem.message.strip()
        assert "Traceback" not in problem.message
    return problems


def only_problem(source: str) -> Problem:
    problems = problems_of(source)
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


def paths(problems: list[Problem]) -> list[str]:
    return [p.path for p in problems]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# -- the demo and base programs --------------------------------------------------------------


def test_the_demo_program_loads_and_uses_every_feature():
    # The demo changes with what it shows off; what it must keep is that it uses everything.
    source = DEMO_PROGRAM.read_text()
    program = load_program(source)
    assert program.name.get("en") == "Orbit Rewards"
    assert program.timezone == "Europe/Bucharest"
    assert program.languages == ("en", "ro")
    assert program.expiry != NEVER
    assert program.reminder_days is not None
    assert {rule.kind for rule in program.purchase_rules} == set(RuleKind)
    assert {campaign.kind for campaign in program.campaigns} == set(CampaignKind)
    assert any(c.budget is not None for c in program.campaigns)
    assert any(c.tiers for c in program.campaigns)
    assert any(c.partners for c in program.campaigns)
    actions = program.actions.values()
    assert any(a.caps for a in actions)
    assert any(a.cooldown is not None for a in actions)
    assert any(a.pending_days > 0 for a in actions)
    assert any(a.expiry is not None for a in actions)
    assert program.referral is not None
    assert program.referral.minimum
    assert program.referral.max_per_referrer is not None
    assert program.signup_points is not None
    assert program.birthday_points is not None
    rewards = program.rewards.values()
    assert any(r.limit is not None for r in rewards)
    assert any(r.min_tier is not None for r in rewards)
    assert any(r.stock is not None for r in rewards)
    assert any(r.partner is not None for r in rewards)
    partners = program.partners.values()
    assert {rate.direction for p in partners for rate in p.rates} == set(Direction)
    assert any(p.pending_days is not None for p in partners)
    assert any(rate.fee_percent > 0 for p in partners for rate in p.rates)
    assert any(rate.minimum_blocks > 1 for p in partners for rate in p.rates)
    metrics = {badge.metric for badge in program.badges}
    assert {"purchases", "referrals", "points_earned"} <= metrics
    assert any(m.startswith("actions:") for m in metrics)
    assert program.version is None
    assert program.source == source


def test_the_demo_program_reads_its_local_dates_in_its_time_zone():
    program = load_program(DEMO_PROGRAM.read_text())
    black_friday = next(c for c in program.campaigns if c.key == "black-friday")
    # 2026-11-27T00:00:00 in Bucharest is 22:00 UTC the day before (winter time, UTC+2).
    assert black_friday.starts == utc("2026-11-26T22:00:00")
    assert black_friday.ends == utc("2026-11-29T22:00:00")
    assert black_friday.multiplier == Decimal(2)
    assert black_friday.budget == 500_000
    gold_flyer = next(c for c in program.campaigns if c.key == "gold-flyer")
    assert gold_flyer.starts == utc("2025-12-31T22:00:00")
    assert gold_flyer.tiers == frozenset({"gold"})
    assert gold_flyer.partners == frozenset({"skyways"})


def test_the_base_program_loads_with_the_facts_the_tests_rely_on():
    source = BASE_PROGRAM.read_text()
    program = load_program(source)
    assert program.timezone == "Europe/Bucharest"
    assert program.languages == ("en", "ro")
    assert program.expiry == Expiry(days=365)
    assert program.reminder_days is None
    assert dict(program.purchase_rates) == {
        "RON": Decimal(1),
        "EUR": Decimal(5),
        "USD": Decimal("4.5"),
        "PLN": Decimal("1.2"),
        "TRY": Decimal("0.15"),
    }
    assert program.purchase_pending_days == 0
    assert {key: action.points for key, action in program.actions.items()} == {
        "REVIEW": 50,
        "REFERRAL": 500,
        "SOCIAL_SHARE": 20,
        "EVENT_ATTENDANCE": 200,
        "NEWSLETTER_SIGNUP": 100,
        "BIRTHDAY": 250,
        "APP_INSTALL": 100,
        "SURVEY": 75,
    }
    for action in program.actions.values():
        assert (action.caps, action.cooldown, action.pending_days, action.expiry) == (
            (),
            None,
            0,
            None,
        )
    assert [(t.key, t.threshold, len(t.benefits)) for t in program.tiers] == [
        ("bronze", 0, 2),
        ("silver", 2500, 2),
        ("gold", 10000, 3),
    ]
    assert program.tiers[2].name.get("ro") == "Aur"
    assert [(r.key, r.points_cost, r.stock, r.partner) for r in program.rewards.values()] == [
        ("coffee", 500, None, "beanery"),
        ("discount-10", 1000, None, None),
        ("plant-a-tree", 300, None, None),
        ("book-voucher", 2500, 200, "paper-lantern"),
        ("lounge-pass", 8000, 50, "skyways"),
        ("limited-tote", 1500, 25, None),
    ]
    assert all(r.limit is None and r.min_tier is None for r in program.rewards.values())
    assert program.rewards["plant-a-tree"].description is not None
    assert program.rewards["coffee"].description is None
    assert [(p.key, p.currency, p.rates, p.pending_days) for p in program.partners.values()] == [
        ("skyways", "MILE", (), None),
        ("beanery", "BEAN", (), None),
        ("paper-lantern", "LEAF", (), None),
    ]
    assert program.partners["beanery"].name.get() == "The Beanery"
    assert program.purchase_rules == ()
    assert program.campaigns == ()
    assert program.referral is None
    assert program.signup_points is None
    assert program.birthday_points is None
    assert program.badges == ()
    assert program.version is None
    assert program.source == source


def test_the_minimal_program_has_defaults_for_what_it_leaves_out():
    program = load_program(MINIMAL)
    assert program.timezone == "UTC"
    assert program.languages == ("en",)
    assert program.expiry == NEVER
    assert program.expiry.expires_at(utc("2026-01-01T00:00:00"), program.zone) is None
    assert program.reminder_days is None
    assert program.purchase_pending_days == 0
    assert dict(program.actions) == {}
    assert dict(program.rewards) == {}
    assert dict(program.partners) == {}
    assert program.purchase_rules == ()
    assert program.campaigns == ()
    assert program.referral is None
    assert program.signup_points is None
    assert program.birthday_points is None
    assert program.badges == ()
    assert program.name.get() == "Test"


# -- Text and digest -------------------------------------------------------------------------


def test_text_answers_in_the_language_asked_for_or_falls_back_to_the_first():
    text = Text({"ro": "Aur", "en": "Gold"})
    assert text.get("en") == "Gold"
    assert text.get("ro") == "Aur"
    assert text.get("fr") == "Aur"
    assert text.get(None) == "Aur"
    assert text.get("") == "Aur"
    assert Text({"": "Plain"}).get("en") == "Plain"


def test_a_plain_name_answers_every_language():
    program = load_program(MINIMAL)
    assert program.tiers[0].name.get("ro") == "Base"
    assert program.tiers[0].name.get(None) == "Base"


def test_the_digest_is_the_sha256_of_the_text_and_changes_with_it():
    first = load_program(MINIMAL)
    assert first.digest == hashlib.sha256(MINIMAL.encode()).hexdigest()
    assert load_program(MINIMAL).digest == first.digest
    assert load_program(MINIMAL + "# a comment\n").digest != first.digest
    assert load_program(MINIMAL.replace("rates = { RON = 1 }", "rates = { RON = 2 }")).digest != (
        first.digest
    )


# -- invalid TOML and the [program] table ----------------------------------------------------


def test_text_that_is_not_toml_is_reported_with_its_line():
    source = '[program]\nname = "Test"\nthis is not toml\n'
    problem = only_problem(source)
    assert problem.path == ""
    assert problem.message.startswith("not valid TOML:")
    assert "line 3" in problem.message
    assert str(problem) == problem.message


def test_a_duplicated_table_is_invalid_toml():
    problem = only_problem(MINIMAL + "[program]\nname = 'Again'\n")
    assert problem.message.startswith("not valid TOML:")
    assert "line" in problem.message


def test_an_empty_file_lists_every_required_part():
    problems = problems_of("")
    assert set(paths(problems)) >= {"program", "program.name", "purchases", "tiers"}


def test_a_missing_program_table_is_reported():
    source = MINIMAL.replace('[program]\nname = "Test"\n', "")
    problems = problems_of(source)
    assert ("program", "is required") in [(p.path, p.message) for p in problems]
    assert "program.name" in paths(problems)


def test_a_program_that_is_not_a_table_is_reported():
    source = 'program = "Test"\n' + MINIMAL.replace('[program]\nname = "Test"\n', "")
    assert ("program", "must be a table") in [(p.path, p.message) for p in problems_of(source)]


def test_a_missing_program_name_is_reported():
    problem = only_problem(MINIMAL.replace('name = "Test"\n', 'timezone = "UTC"\n', 1))
    assert (problem.path, problem.message) == ("program.name", "is required")


@pytest.mark.parametrize("zone", ["Mars/Olympus", "europe/bucharest", "/etc/localtime", "UTC/"])
def test_an_unknown_time_zone_is_reported(zone: str):
    source = MINIMAL.replace('name = "Test"\n', f'name = "Test"\ntimezone = "{zone}"\n', 1)
    problem = only_problem(source)
    assert problem.path == "program.timezone"
    assert problem.message == f"unknown time zone {zone!r}"


@pytest.mark.parametrize("zone", ["Europe", "America"])
def test_a_time_zone_region_that_is_a_directory_is_reported_not_raised(zone: str):
    # zoneinfo raises IsADirectoryError for region names: a problem to report, not a crash.
    source = MINIMAL.replace('name = "Test"\n', f'name = "Test"\ntimezone = "{zone}"\n', 1)
    problem = only_problem(source)
    assert problem.path == "program.timezone"
    assert "unknown time zone" in problem.message


def test_a_known_time_zone_is_kept():
    source = MINIMAL.replace('name = "Test"\n', 'name = "Test"\ntimezone = "Asia/Tokyo"\n', 1)
    assert load_program(source).timezone == "Asia/Tokyo"


@pytest.mark.parametrize(
    ("languages", "path", "fragment"),
    [
        ('["english"]', "program.languages[0]", "must match the pattern"),
        ('["en", "EN"]', "program.languages[1]", "must match the pattern"),
        ('["en", "pt-br"]', "program.languages[1]", "must match the pattern"),
        ('["en", 5]', "program.languages[1]", "must match the pattern"),
        ("[]", "program.languages", "must be a non-empty list"),
        ('"en"', "program.languages", "must be a non-empty list"),
    ],
)
def test_bad_language_codes_are_reported(languages: str, path: str, fragment: str):
    source = MINIMAL.replace('name = "Test"\n', f'name = "Test"\nlanguages = {languages}\n', 1)
    problem = only_problem(source)
    assert problem.path == path
    assert fragment in problem.message


def test_good_language_codes_are_kept_in_order():
    source = MINIMAL.replace(
        'name = "Test"\n', 'name = "Test"\nlanguages = ["ro", "en", "pt-BR", "fil"]\n', 1
    )
    assert load_program(source).languages == ("ro", "en", "pt-BR", "fil")


# -- unknown keys (typos) at every level -----------------------------------------------------

FULL = """\
[program]
name = "Test"

[points]
expiry = { days = 30 }

[purchases]
rates = { RON = 1 }

[[purchase_rules]]
key = "double"
name = "Double"
kind = "multiplier"
multiplier = 2

[[campaigns]]
key = "weekend"
name = "Weekend"
kind = "bonus"
points = 5
starts = 2026-01-01
ends = 2026-02-01

[[actions]]
key = "REVIEW"
name = "Review"
points = 10

[referral]
referrer_points = 10
referee_points = 5

[signup]
points = 10

[birthday]
points = 20

[[tiers]]
key = "base"
name = "Base"
threshold = 0

[[partners]]
key = "shop"
name = "Shop"
currency = "COIN"

[[partners.rates]]
direction = "IN"
points = 1
partner_units = 10
effective_from = 2026-01-01

[[rewards]]
key = "mug"
name = "Mug"
points_cost = 100
partner = "shop"
limit = { count = 1, period = "day" }

[[badges]]
key = "regular"
name = "Regular"
metric = "purchases"
levels = [1, 10]
"""


def test_the_full_fixture_is_valid():
    program = load_program(FULL)
    assert program.expiry == Expiry(days=30)
    assert program.rewards["mug"].partner == "shop"
    assert program.rewards["mug"].limit == Cap(1, Period.DAY)
    assert [r.key for r in program.purchase_rules] == ["double"]
    assert [c.key for c in program.campaigns] == ["weekend"]
    assert program.referral == Referral(10, 5, {}, None)
    assert (program.signup_points, program.birthday_points) == (10, 20)
    assert len(program.partners["shop"].rates) == 1
    assert [b.key for b in program.badges] == ["regular"]


@pytest.mark.parametrize(
    ("after", "typo", "path", "expected"),
    [
        ('name = "Test"\n', "nmae = 1\n", "program.nmae", "languages, name, timezone"),
        (
            "expiry = { days = 30 }\n",
            "expiry_days = 30\n",
            "points.expiry_days",
            "expiry, reminder_days",
        ),
        ("rates = { RON = 1 }\n", "rate = 2\n", "purchases.rate", "pending_days, rates"),
        (
            "multiplier = 2\n",
            "multiplyer = 2\n",
            "purchase_rules[0].multiplyer",
            "amounts, categories, key, kind, max_units, multiplier, name, points, skus",
        ),
        (
            "ends = 2026-02-01\n",
            "start = 2026-01-01\n",
            "campaigns[0].start",
            "budget, categories, ends, key, kind, multiplier, name, partners, points, skus, "
            "starts, tiers",
        ),
        (
            'name = "Review"\n',
            "point = 10\n",
            "actions[0].point",
            "caps, cooldown_minutes, description, expiry, key, name, pending_days, points",
        ),
        (
            "referee_points = 5\n",
            "max_referrals = 5\n",
            "referral.max_referrals",
            "max_per_referrer, minimum, referee_points, referrer_points",
        ),
        ("[signup]\npoints = 10\n", "bonus = 1\n", "signup.bonus", "points"),
        ("[birthday]\npoints = 20\n", "day = 1\n", "birthday.day", "points"),
        (
            "threshold = 0\n",
            "treshold = 0\n",
            "tiers[0].treshold",
            "benefits, key, multiplier, name, retain, threshold",
        ),
        (
            'currency = "COIN"\n',
            'curency = "X"\n',
            "partners[0].curency",
            "currency, key, name, pending_days, rates",
        ),
        (
            "partner_units = 10\n",
            "fee = 1\n",
            "partners[0].rates[0].fee",
            "direction, effective_from, fee_percent, minimum_blocks, partner_units, points",
        ),
        (
            'partner = "shop"\n',
            "cost = 100\n",
            "rewards[0].cost",
            "description, key, limit, min_tier, name, partner, points_cost, stock",
        ),
        (
            "levels = [1, 10]\n",
            "level = 1\n",
            "badges[0].level",
            "bonus, description, hidden, key, levels, metric, name",
        ),
    ],
)
def test_an_unknown_key_is_reported_with_the_keys_expected_there(
    after: str, typo: str, path: str, expected: str
):
    assert FULL.count(after) == 1
    problem = only_problem(FULL.replace(after, after + typo))
    assert problem.path == path
    assert problem.message == f"unknown key (expected one of: {expected})"


def test_an_unknown_key_in_a_reward_limit_is_reported():
    source = FULL.replace('period = "day" }', 'period = "day", every = 2 }')
    problem = only_problem(source)
    assert problem.path == "rewards[0].limit.every"
    assert problem.message == "unknown key (expected one of: count, period)"


def test_an_unknown_top_level_table_is_reported():
    problem = only_problem(FULL + "\n[reward]\nkey = 'x'\n")
    assert problem.path == "reward"
    assert problem.message.startswith("unknown key (expected one of: ")
    assert "rewards" in problem.message
    assert "purchase_rules" in problem.message


# -- purchase rates --------------------------------------------------------------------------


def with_rates(rates: str) -> str:
    return MINIMAL.replace("rates = { RON = 1 }", f"rates = {rates}")


@pytest.mark.parametrize("code", ["eur", "EURO", "EU", "E1R", "€UR"])
def test_a_rate_for_something_that_is_not_an_iso_code_is_reported(code: str):
    problem = only_problem(with_rates(f'{{ RON = 1, "{code}" = 2 }}'))
    assert problem.path == f"purchases.rates.{code}"
    assert "ISO 4217" in problem.message


def test_a_currency_code_with_a_trailing_newline_is_not_an_iso_code():
    # `$` also matches before a final newline: patterns must match the whole value.
    problem = only_problem(with_rates('{ RON = 1, "EUR\\n" = 2 }'))
    assert problem.path == "purchases.rates.EUR\n"
    assert "ISO 4217" in problem.message


@pytest.mark.parametrize(
    ("snippet", "path"),
    [
        ('[[actions]]\nkey = "REVIEW\\n"\nname = "R"\npoints = 1\n', "actions[0].key"),
        ('[[partners]]\nkey = "shop\\n"\nname = "S"\ncurrency = "C1"\n', "partners[0].key"),
        ('[[partners]]\nkey = "shop"\nname = "S"\ncurrency = "COIN\\n"\n', "partners[0].currency"),
        (
            '[[purchase_rules]]\nkey = "r\\n"\nname = "R"\nkind = "multiplier"\nmultiplier = 2\n',
            "purchase_rules[0].key",
        ),
        (
            '[[badges]]\nkey = "b"\nname = "B"\nmetric = "purchases\\n"\nlevels = [1]\n',
            "badges[0].metric",
        ),
        (
            '[[badges]]\nkey = "b"\nname = "B"\nmetric = "actions:REVIEW\\n"\nlevels = [1]\n',
            "badges[0].metric",
        ),
    ],
    ids=[
        "action-key",
        "partner-key",
        "partner-currency",
        "rule-key",
        "badge-metric",
        "badge-action-metric",
    ],
)
def test_keys_with_a_trailing_newline_are_rejected(snippet: str, path: str):
    # The same whole-value matching for keys, partner currencies and badge metrics.
    problem = only_problem(MINIMAL + snippet)
    assert problem.path == path
    assert "does not match the pattern" in problem.message


def test_a_language_code_with_a_trailing_newline_is_rejected():
    # And for language codes.
    source = MINIMAL.replace('name = "Test"\n', 'name = { "en\\n" = "Test" }\n', 1)
    problem = only_problem(source)
    assert problem.path == "program.name.en\n"
    assert "not a language code" in problem.message


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ('"abc"', "is not a number"),
        ('"1,5"', "is not a number"),
        ('""', "is not a number"),
        ("true", "is not a number"),
        ("[1]", "is not a number"),
        ("{ a = 1 }", "is not a number"),
        ("1979-05-27", "is not a number"),
        # No exponents, infinities, underscores, spaces or more than six decimals.
        ("inf", "is not a number"),
        ("-inf", "is not a number"),
        ("nan", "is not a number"),
        ('"NaN"', "is not a number"),
        ('"Infinity"', "is not a number"),
        ('"1e99999"', "is not a number"),
        ('"1_000"', "is not a number"),
        ('" 2 "', "is not a number"),
        ('"0.1234567"', "is not a number"),
        ('"2\\n"', "is not a number"),
    ],
)
def test_a_rate_that_is_not_a_number_is_reported(value: str, fragment: str):
    problem = only_problem(with_rates(f"{{ RON = {value} }}"))
    assert problem.path == "purchases.rates.RON"
    assert fragment in problem.message


@pytest.mark.parametrize(
    "value",
    ["0", "0.0", '"0"', '"0.000"', "-1", '"-0.5"', "-0.0", "10001", '"10000.0001"', "1e9"],
)
def test_a_rate_that_is_zero_negative_or_too_big_is_reported(value: str):
    problem = only_problem(with_rates(f"{{ RON = {value} }}"))
    assert problem.path == "purchases.rates.RON"
    assert problem.message == "must be greater than 0 and at most 10000"


@pytest.mark.parametrize(
    ("value", "rate"),
    [
        ("10000", Decimal(10000)),
        ('"0.0001"', Decimal("0.0001")),
        ("1.5", Decimal("1.5")),
        ("0.1", Decimal("0.1")),
        ('"4.5"', Decimal("4.5")),
        ("7", Decimal(7)),
    ],
)
def test_a_good_rate_is_kept_exactly(value: str, rate: Decimal):
    kept = load_program(with_rates(f"{{ RON = {value} }}")).purchase_rates["RON"]
    assert kept == rate
    assert isinstance(kept, Decimal)


def test_empty_rates_are_reported():
    problem = only_problem(with_rates("{}"))
    assert problem.path == "purchases.rates"
    assert "at least one currency" in problem.message


def test_missing_rates_are_reported():
    source = MINIMAL.replace("rates = { RON = 1 }\n", "")
    assert "purchases.rates" in paths(problems_of(source))


def test_rates_that_are_not_a_table_are_reported():
    problem = only_problem(with_rates("5"))
    assert (problem.path, problem.message) == ("purchases.rates", "must be a table")


# -- [points]: expiry and reminders ----------------------------------------------------------


def with_points(body: str) -> str:
    return MINIMAL + f"\n[points]\n{body}\n"


@pytest.mark.parametrize(
    ("expiry", "expected"),
    [
        ("{ days = 1 }", Expiry(days=1)),
        ("{ days = 365 }", Expiry(days=365)),
        ("{ days = 36500 }", Expiry(days=36500)),
        ("{ end_of_year = 0 }", Expiry(end_of_year=0)),
        ("{ end_of_year = 1 }", Expiry(end_of_year=1)),
        ("{ end_of_year = 100 }", Expiry(end_of_year=100)),
        ('"never"', NEVER),
    ],
)
def test_a_good_expiry_is_kept(expiry: str, expected: Expiry):
    assert load_program(with_points(f"expiry = {expiry}")).expiry == expected


@pytest.mark.parametrize(
    ("expiry", "path", "message"),
    [
        ("{ days = 0 }", "points.expiry.days", "must be a whole number from 1 to 36500"),
        ("{ days = 36501 }", "points.expiry.days", "must be a whole number from 1 to 36500"),
        ("{ days = -5 }", "points.expiry.days", "must be a whole number from 1 to 36500"),
        ('{ days = "30" }', "points.expiry.days", "must be a whole number from 1 to 36500"),
        ("{ days = 1.5 }", "points.expiry.days", "must be a whole number from 1 to 36500"),
        ("{ days = true }", "points.expiry.days", "must be a whole number from 1 to 36500"),
        (
            "{ end_of_year = -1 }",
            "points.expiry.end_of_year",
            "must be a whole number from 0 to 100",
        ),
        (
            "{ end_of_year = 101 }",
            "points.expiry.end_of_year",
            "must be a whole number from 0 to 100",
        ),
        (
            "{ end_of_year = false }",
            "points.expiry.end_of_year",
            "must be a whole number from 0 to 100",
        ),
    ],
)
def test_an_expiry_out_of_range_is_reported_at_its_setting(expiry: str, path: str, message: str):
    problem = only_problem(with_points(f"expiry = {expiry}"))
    assert (problem.path, problem.message) == (path, message)


@pytest.mark.parametrize(
    "expiry",
    [
        "30",
        '"30"',
        '"Never"',
        '"never\\n"',
        '""',
        "{}",
        "{ weeks = 3 }",
        "{ days = 30, end_of_year = 1 }",
        "[30]",
        "true",
        "2027-01-01",
    ],
)
def test_an_expiry_of_the_wrong_shape_is_reported(expiry: str):
    problem = only_problem(with_points(f"expiry = {expiry}"))
    assert problem.path == "points.expiry"
    assert '"never"' in problem.message
    assert "{ days = N }" in problem.message
    assert "{ end_of_year = N }" in problem.message


def test_the_old_expiry_days_setting_is_an_unknown_key():
    problem = only_problem(with_points("expiry_days = 365"))
    assert problem.path == "points.expiry_days"
    assert problem.message.startswith("unknown key")


@pytest.mark.parametrize(("days", "kept"), [("1", 1), ("30", 30), ("365", 365)])
def test_reminder_days_are_kept(days: str, kept: int):
    assert load_program(with_points(f"reminder_days = {days}")).reminder_days == kept


@pytest.mark.parametrize("days", ["0", "366", "-1", "1.5", '"30"', "true"])
def test_bad_reminder_days_are_reported(days: str):
    problem = only_problem(with_points(f"reminder_days = {days}"))
    assert problem.path == "points.reminder_days"
    assert problem.message == "must be a whole number from 1 to 365"


def test_points_that_are_not_a_table_are_reported():
    problem = only_problem('points = "forever"\n' + MINIMAL)
    assert (problem.path, problem.message) == ("points", "must be a table")


# -- [purchases].pending_days ----------------------------------------------------------------


@pytest.mark.parametrize(("days", "kept"), [("0", 0), ("14", 14), ("365", 365)])
def test_purchase_pending_days_are_kept(days: str, kept: int):
    source = MINIMAL.replace(
        "rates = { RON = 1 }\n", f"rates = {{ RON = 1 }}\npending_days = {days}\n"
    )
    assert load_program(source).purchase_pending_days == kept


@pytest.mark.parametrize("days", ["-1", "366", "1.5", '"14"', "true", "[14]"])
def test_bad_purchase_pending_days_are_reported(days: str):
    source = MINIMAL.replace(
        "rates = { RON = 1 }\n", f"rates = {{ RON = 1 }}\npending_days = {days}\n"
    )
    problem = only_problem(source)
    assert problem.path == "purchases.pending_days"
    assert problem.message == "must be a whole number from 0 to 365"


# -- actions ---------------------------------------------------------------------------------


def action(
    key: str = '"REVIEW"', points: str = "50", name: str = '"Review"', extra: str = ""
) -> str:
    return f"[[actions]]\nkey = {key}\nname = {name}\npoints = {points}\n{extra}"


@pytest.mark.parametrize(
    "key",
    ['"review"', '"R"', '"1REVIEW"', '"RE-VIEW"', '"RE VIEW"', '""', "5", '"' + "A" * 65 + '"'],
)
def test_an_action_with_a_bad_key_is_reported(key: str):
    problem = only_problem(MINIMAL + action(key=key))
    assert problem.path == "actions[0].key"


def test_an_action_without_a_key_is_reported():
    problem = only_problem(MINIMAL + '[[actions]]\nname = "Review"\npoints = 50\n')
    assert (problem.path, problem.message) == ("actions[0].key", "is required")


def test_an_action_key_used_twice_is_reported_at_the_second():
    source = MINIMAL + action() + action(points="60")
    problem = only_problem(source)
    assert problem.path == "actions[1].key"
    assert problem.message == "'REVIEW' is used twice"


@pytest.mark.parametrize("points", ["0", "-5", "1.5", "50.0", '"50"', "true", "false", "[50]"])
def test_an_action_whose_points_are_not_a_positive_whole_number_is_reported(points: str):
    problem = only_problem(MINIMAL + action(points=points))
    assert problem.path == "actions[0].points"
    assert problem.message == f"must be a whole number from 1 to {MAX_POINTS}"


def test_an_action_worth_too_many_points_is_reported():
    assert load_program(MINIMAL + action(points=str(MAX_POINTS))).actions["REVIEW"].points == (
        MAX_POINTS
    )
    problem = only_problem(MINIMAL + action(points=str(MAX_POINTS + 1)))
    assert problem.path == "actions[0].points"


def test_actions_not_written_as_an_array_of_tables_are_reported():
    problem = only_problem('actions = "REVIEW"\n' + MINIMAL)
    assert problem.path == "actions"
    assert "[[actions]]" in problem.message


def test_an_action_that_is_not_a_table_is_reported():
    problem = only_problem("actions = [1]\n" + MINIMAL)
    assert (problem.path, problem.message) == ("actions[0]", "must be a table")


def test_an_action_without_settings_has_no_caps_no_cooldown_no_hold_and_the_programs_expiry():
    loaded = load_program(MINIMAL + action()).actions["REVIEW"]
    assert loaded == Action(key="REVIEW", name=Text({"": "Review"}), points=50)
    assert (loaded.caps, loaded.cooldown, loaded.pending_days, loaded.expiry) == ((), None, 0, None)


def test_an_action_keeps_its_caps_cooldown_hold_and_expiry():
    extra = (
        "caps = { day = 3, month = 20, lifetime = 100 }\n"
        "cooldown_minutes = 10\npending_days = 7\nexpiry = { end_of_year = 1 }\n"
    )
    loaded = load_program(MINIMAL + action(extra=extra)).actions["REVIEW"]
    assert loaded.caps == (Cap(3, Period.DAY), Cap(20, Period.MONTH), Cap(100, Period.LIFETIME))
    assert loaded.cooldown == timedelta(minutes=10)
    assert loaded.pending_days == 7
    assert loaded.expiry == Expiry(end_of_year=1)


def test_an_action_may_say_what_to_do_in_several_languages():
    extra = 'description = { en = "Review what you bought", ro = "Scrie o recenzie" }\n'
    loaded = load_program(MINIMAL + action(extra=extra)).actions["REVIEW"]
    assert loaded.description == Text({"en": "Review what you bought", "ro": "Scrie o recenzie"})
    problem = only_problem(MINIMAL + action(extra="description = 7\n"))
    assert problem.path == "actions[0].description"


@pytest.mark.parametrize(
    ("expiry", "expected"),
    [
        ('"never"', NEVER),
        ("{ days = 30 }", Expiry(days=30)),
        ("{ end_of_year = 0 }", Expiry(end_of_year=0)),
    ],
)
def test_an_action_may_have_its_own_expiry(expiry: str, expected: Expiry):
    source = with_points("expiry = { days = 365 }") + action(extra=f"expiry = {expiry}\n")
    program = load_program(source)
    assert program.actions["REVIEW"].expiry == expected
    assert program.expiry == Expiry(days=365)


@pytest.mark.parametrize(
    ("extra", "path", "fragment"),
    [
        (
            "caps = { fortnight = 2 }\n",
            "actions[0].caps.fortnight",
            "is not a period (day, week, month, year, lifetime)",
        ),
        ("caps = { Day = 2 }\n", "actions[0].caps.Day", "is not a period"),
        ("caps = { day = 0 }\n", "actions[0].caps.day", f"from 1 to {MAX_POINTS}"),
        ('caps = { week = "2" }\n', "actions[0].caps.week", f"from 1 to {MAX_POINTS}"),
        ("caps = { year = 1.5 }\n", "actions[0].caps.year", f"from 1 to {MAX_POINTS}"),
        ("caps = 3\n", "actions[0].caps", "must be a table"),
        ("cooldown_minutes = 0\n", "actions[0].cooldown_minutes", "from 1 to 525600"),
        ("cooldown_minutes = 525601\n", "actions[0].cooldown_minutes", "from 1 to 525600"),
        ('cooldown_minutes = "10"\n', "actions[0].cooldown_minutes", "from 1 to 525600"),
        ("pending_days = -1\n", "actions[0].pending_days", "from 0 to 365"),
        ("pending_days = 366\n", "actions[0].pending_days", "from 0 to 365"),
        ("expiry = { days = 0 }\n", "actions[0].expiry.days", "from 1 to 36500"),
        ('expiry = "later"\n', "actions[0].expiry", '"never"'),
        ("expiry = 30\n", "actions[0].expiry", "{ days = N }"),
    ],
)
def test_bad_action_settings_are_reported_at_their_place(extra: str, path: str, fragment: str):
    problem = only_problem(MINIMAL + action(extra=extra))
    assert problem.path == path
    assert fragment in problem.message


def test_the_longest_cooldown_and_hold_are_accepted():
    extra = "cooldown_minutes = 525600\npending_days = 365\n"
    loaded = load_program(MINIMAL + action(extra=extra)).actions["REVIEW"]
    assert loaded.cooldown == timedelta(days=365)
    assert loaded.pending_days == 365


# -- tiers -----------------------------------------------------------------------------------


def tiers(*thresholds: int) -> str:
    program = MINIMAL.split("[[tiers]]")[0]
    for index, threshold in enumerate(thresholds):
        program += f'[[tiers]]\nkey = "t{index}"\nname = "T{index}"\nthreshold = {threshold}\n'
    return program


def test_tiers_that_do_not_start_at_zero_are_reported():
    problem = only_problem(tiers(100, 200))
    assert problem.path == "tiers[0].threshold"
    assert "threshold 0" in problem.message


@pytest.mark.parametrize(("thresholds", "bad"), [((0, 100, 100), 2), ((0, 200, 100), 2)])
def test_tiers_that_do_not_strictly_increase_are_reported(thresholds: tuple[int, ...], bad: int):
    problem = only_problem(tiers(*thresholds))
    assert problem.path == f"tiers[{bad}].threshold"
    assert "strictly increasing" in problem.message


def test_every_out_of_order_tier_is_reported():
    problems = problems_of(tiers(0, 50, 40, 30))
    assert paths(problems) == ["tiers[2].threshold", "tiers[3].threshold"]


def test_a_program_without_tiers_is_reported():
    problem = only_problem(tiers())
    assert problem.path == "tiers"
    assert "at least one tier" in problem.message


def test_an_empty_list_of_tiers_is_reported():
    # A program with no tiers would leave every member without a tier status.
    problem = only_problem("tiers = []\n" + tiers())
    assert problem.path == "tiers"
    assert "at least one tier" in problem.message


@pytest.mark.parametrize("threshold", ["-1", "1.5", '"0"', "true", str(MAX_POINTS + 1)])
def test_a_tier_threshold_that_is_not_a_whole_number_in_range_is_reported(threshold: str):
    source = MINIMAL.replace("threshold = 0", f"threshold = {threshold}")
    problems = problems_of(source)
    assert problems[0].path == "tiers[0].threshold"
    assert problems[0].message == f"must be a whole number from 0 to {MAX_POINTS}"


def test_a_tier_key_used_twice_is_reported():
    source = MINIMAL + '[[tiers]]\nkey = "base"\nname = "Again"\nthreshold = 10\n'
    problem = only_problem(source)
    assert (problem.path, problem.message) == ("tiers[1].key", "'base' is used twice")


def test_problems_in_later_tiers_keep_their_own_index():
    # Tiers with a mistake are left out of the order check, which must still name positions in
    # the file, not in the list of valid tiers.
    source = (
        tiers()
        + '[[tiers]]\nkey = "a"\nname = ""\nthreshold = 0\n'
        + '[[tiers]]\nkey = "b"\nname = "B"\nthreshold = 100\n'
        + '[[tiers]]\nkey = "c"\nname = "C"\nthreshold = 50\n'
    )
    found = paths(problems_of(source))
    assert "tiers[0].name" in found
    assert "tiers[0].threshold" not in found
    assert "tiers[1].threshold" not in found


# -- rewards ---------------------------------------------------------------------------------


def reward(extra: str = "", cost: str = "100", key: str = '"mug"') -> str:
    return f'[[rewards]]\nkey = {key}\nname = "Mug"\npoints_cost = {cost}\n{extra}'


@pytest.mark.parametrize(
    "cost", ["0", "-1", "1.5", "100.0", '"100"', "true", str(MAX_POINTS + 1), "9223372036854775807"]
)
def test_a_reward_cost_that_is_not_a_whole_number_in_range_is_reported(cost: str):
    problem = only_problem(MINIMAL + reward(cost=cost))
    assert problem.path == "rewards[0].points_cost"
    assert problem.message == f"must be a whole number from 1 to {MAX_POINTS}"


def test_a_reward_without_a_cost_is_reported():
    problem = only_problem(MINIMAL + '[[rewards]]\nkey = "mug"\nname = "Mug"\n')
    assert (problem.path, problem.message) == ("rewards[0].points_cost", "is required")


@pytest.mark.parametrize("stock", ["-1", "1.5", '"5"', "true", str(MAX_POINTS + 1)])
def test_a_bad_stock_is_reported(stock: str):
    problem = only_problem(MINIMAL + reward(f"stock = {stock}\n"))
    assert problem.path == "rewards[0].stock"
    assert problem.message == f"must be a whole number from 0 to {MAX_POINTS}"


def test_stock_zero_and_no_stock_are_both_allowed():
    program = load_program(MINIMAL + reward("stock = 0\n") + reward(key='"cup"'))
    assert program.rewards["mug"].stock == 0
    assert program.rewards["cup"].stock is None


def test_a_reward_of_a_partner_that_does_not_exist_is_reported():
    problem = only_problem(MINIMAL + reward('partner = "nowhere"\n'))
    assert problem.path == "rewards[0].partner"
    assert problem.message == "no partner has the key 'nowhere'"


def test_a_reward_partner_that_is_not_a_key_is_reported():
    problem = only_problem(MINIMAL + reward('partner = "No Where"\n'))
    assert problem.path == "rewards[0].partner"
    assert "does not match the pattern" in problem.message


def test_a_missing_partner_is_reported_at_the_reward_that_names_it():
    # The partner check must name the reward's position in the file even when an earlier
    # reward had a mistake of its own.
    source = MINIMAL + reward(cost="0") + reward('partner = "nowhere"\n', key='"cup"')
    found = paths(problems_of(source))
    assert "rewards[0].points_cost" in found
    assert "rewards[1].partner" in found
    assert "rewards[0].partner" not in found


def test_a_reward_may_name_a_partner_listed_after_it():
    source = MINIMAL + reward('partner = "shop"\n') + '[[partners]]\nkey = "shop"\nname = "S"\n'
    source += 'currency = "COIN"\n'
    assert load_program(source).rewards["mug"].partner == "shop"


@pytest.mark.parametrize(
    ("limit", "cap"),
    [
        ('{ count = 3, period = "day" }', Cap(3, Period.DAY)),
        ('{ count = 1, period = "week" }', Cap(1, Period.WEEK)),
        ('{ period = "month", count = 2 }', Cap(2, Period.MONTH)),
        ('{ count = 2, period = "year" }', Cap(2, Period.YEAR)),
        ('{ count = 1, period = "lifetime" }', Cap(1, Period.LIFETIME)),
    ],
)
def test_a_reward_limit_is_kept(limit: str, cap: Cap):
    assert load_program(MINIMAL + reward(f"limit = {limit}\n")).rewards["mug"].limit == cap


def test_a_reward_without_a_limit_or_minimum_tier_has_none():
    loaded = load_program(RICH + reward()).rewards["mug"]
    assert (loaded.limit, loaded.min_tier) == (None, None)


@pytest.mark.parametrize(
    ("limit", "found"),
    [
        ('{ count = 0, period = "day" }', [("rewards[0].limit.count", f"from 1 to {MAX_POINTS}")]),
        (
            '{ count = "3", period = "day" }',
            [("rewards[0].limit.count", f"from 1 to {MAX_POINTS}")],
        ),
        (
            '{ count = 3, period = "fortnight" }',
            [
                (
                    "rewards[0].limit.period",
                    "'fortnight' is not one of day, week, month, year, lifetime",
                )
            ],
        ),
        ('{ count = 3, period = "Day" }', [("rewards[0].limit.period", "'Day' is not one of")]),
        (
            "{ count = 3 }",
            [("rewards[0].limit.period", "is required: one of day, week, month, year, lifetime")],
        ),
        ('{ period = "day" }', [("rewards[0].limit.count", "is required")]),
        (
            "{}",
            [("rewards[0].limit.count", "is required"), ("rewards[0].limit.period", "is required")],
        ),
        (
            "3",
            [
                ("rewards[0].limit", "must be a table"),
                ("rewards[0].limit.count", "is required"),
                ("rewards[0].limit.period", "is required"),
            ],
        ),
    ],
)
def test_a_bad_reward_limit_is_reported_at_its_setting(limit: str, found: list[tuple[str, str]]):
    problems = problems_of(MINIMAL + reward(f"limit = {limit}\n"))
    assert paths(problems) == [path for path, _ in found]
    for problem, (_, fragment) in zip(problems, found, strict=True):
        assert fragment in problem.message


def test_a_reward_minimum_tier_must_be_a_tier():
    assert load_program(RICH + reward('min_tier = "gold"\n')).rewards["mug"].min_tier == "gold"
    problem = only_problem(RICH + reward('min_tier = "platinum"\n'))
    assert (problem.path, problem.message) == (
        "rewards[0].min_tier",
        "no tier has the key 'platinum'",
    )


@pytest.mark.parametrize("value", ["5", '""', '["gold"]', '"gold\\n"', '"Gold"'])
def test_a_reward_minimum_tier_that_is_not_a_tier_key_is_reported(value: str):
    problem = only_problem(RICH + reward(f"min_tier = {value}\n"))
    assert problem.path == "rewards[0].min_tier"


def test_a_reward_minimum_tier_may_name_the_first_tier():
    assert load_program(RICH + reward('min_tier = "base"\n')).rewards["mug"].min_tier == "base"


# -- partners and their conversion rates -----------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "fragment"),
    [
        ('"coin"', "does not match the pattern"),
        ('"C"', "does not match the pattern"),
        ('"C-1"', "does not match the pattern"),
        ('"ABCDEFGHIJK"', "does not match the pattern"),
        ('""', "must be a non-empty string"),
        ("5", "must be a non-empty string"),
    ],
)
def test_a_partner_with_a_bad_currency_is_reported(currency: str, fragment: str):
    source = MINIMAL + f'[[partners]]\nkey = "shop"\nname = "Shop"\ncurrency = {currency}\n'
    problem = only_problem(source)
    assert problem.path == "partners[0].currency"
    assert fragment in problem.message


def test_a_partner_without_a_currency_is_reported():
    problem = only_problem(MINIMAL + '[[partners]]\nkey = "shop"\nname = "Shop"\n')
    assert (problem.path, problem.message) == ("partners[0].currency", "is required")


@pytest.mark.parametrize("key", ['"Shop"', '"-shop"', '"shop!"', '"' + "s" * 65 + '"'])
def test_a_partner_with_a_bad_key_is_reported(key: str):
    source = MINIMAL + f'[[partners]]\nkey = {key}\nname = "Shop"\ncurrency = "COIN"\n'
    assert only_problem(source).path == "partners[0].key"


def partner(extra: str = "") -> str:
    return f'[[partners]]\nkey = "books"\nname = "Books"\ncurrency = "LEAF"\n{extra}'


@pytest.mark.parametrize(("days", "kept"), [("0", 0), ("14", 14), ("365", 365)])
def test_a_partner_return_window_is_kept(days: str, kept: int):
    program = load_program(RICH + partner(f"pending_days = {days}\n"))
    assert program.partners["books"].pending_days == kept
    assert program.partners["shop"].pending_days is None


@pytest.mark.parametrize("days", ["-1", "366", '"14"', "1.5", "true"])
def test_a_bad_partner_return_window_is_reported(days: str):
    problem = only_problem(RICH + partner(f"pending_days = {days}\n"))
    assert problem.path == "partners[1].pending_days"
    assert problem.message == "must be a whole number from 0 to 365"


def rate(direction: str = '"IN"', extra: str = "", effective: str = "2026-01-01") -> str:
    body = f"direction = {direction}\npoints = 250\npartner_units = 1000\n"
    if effective:
        body += f"effective_from = {effective}\n"
    return f"[[partners.rates]]\n{body}{extra}"


def test_conversion_rates_are_kept_in_order_with_their_defaults():
    source = (
        RICH
        + partner()
        + rate()
        + rate('"OUT"', 'fee_percent = "2.5"\nminimum_blocks = 2\n', "2026-06-01T12:00:00")
    )
    rates = load_program(source).partners["books"].rates
    assert rates == (
        ConversionRate(
            direction=Direction.IN,
            points=250,
            partner_units=1000,
            # A date is local midnight in the program's time zone (UTC+2 in winter).
            effective_from=utc("2025-12-31T22:00:00"),
            fee_percent=Decimal(0),
            minimum_blocks=1,
        ),
        ConversionRate(
            direction=Direction.OUT,
            points=250,
            partner_units=1000,
            effective_from=utc("2026-06-01T09:00:00"),  # summer time, UTC+3
            fee_percent=Decimal("2.5"),
            minimum_blocks=2,
        ),
    )
    assert load_program(source).partners["shop"].rates == ()


def test_a_rate_effective_from_a_moment_with_an_offset_keeps_the_offset():
    source = RICH + partner() + rate(effective="2026-06-01T12:00:00+05:00")
    assert load_program(source).partners["books"].rates[0].effective_from == (
        utc("2026-06-01T07:00:00")
    )


@pytest.mark.parametrize(
    ("fee", "kept"),
    [
        ("0", Decimal(0)),
        ("99", Decimal(99)),
        ('"0.5"', Decimal("0.5")),
        ("12.25", Decimal("12.25")),
    ],
)
def test_a_fee_from_0_to_99_percent_is_kept(fee: str, kept: Decimal):
    source = RICH + partner() + rate(extra=f"fee_percent = {fee}\n")
    assert load_program(source).partners["books"].rates[0].fee_percent == kept


@pytest.mark.parametrize("fee", ['"-0.5"', '"-0.000001"', "-1", "99.000001", "100"])
def test_a_fee_outside_0_to_99_percent_is_reported_as_such(fee: str):
    # Whatever the wrong value, the message must state the range the reader accepts.
    problem = only_problem(RICH + partner() + rate(extra=f"fee_percent = {fee}\n"))
    assert problem.path == "partners[1].rates[0].fee_percent"
    assert problem.message == "must be from 0 to 99"


@pytest.mark.parametrize("fee", ['"2%"', "true", '"abc"', "[2]"])
def test_a_fee_that_is_not_a_number_is_reported(fee: str):
    problem = only_problem(RICH + partner() + rate(extra=f"fee_percent = {fee}\n"))
    assert problem.path == "partners[1].rates[0].fee_percent"
    assert "is not a number" in problem.message


@pytest.mark.parametrize(
    ("snippet", "path", "fragment"),
    [
        (rate('"in"'), "partners[1].rates[0].direction", "'in' is not one of IN, OUT"),
        (rate('"BOTH"'), "partners[1].rates[0].direction", "is not one of IN, OUT"),
        (rate("1"), "partners[1].rates[0].direction", "is not one of IN, OUT"),
        (
            rate().replace('direction = "IN"\n', ""),
            "partners[1].rates[0].direction",
            "is required: one of IN, OUT",
        ),
        (
            rate().replace("points = 250", "points = 0"),
            "partners[1].rates[0].points",
            f"from 1 to {MAX_POINTS}",
        ),
        (rate().replace("points = 250\n", ""), "partners[1].rates[0].points", "is required"),
        (
            rate().replace("partner_units = 1000", "partner_units = 0"),
            "partners[1].rates[0].partner_units",
            f"from 1 to {MAX_POINTS}",
        ),
        (
            rate().replace("partner_units = 1000", 'partner_units = "10"'),
            "partners[1].rates[0].partner_units",
            f"from 1 to {MAX_POINTS}",
        ),
        (rate(effective=""), "partners[1].rates[0].effective_from", "is required: a date"),
        (
            rate(effective='"2026-01-01"'),
            "partners[1].rates[0].effective_from",
            "must be a TOML date or date-time",
        ),
        (
            rate(effective="12:00:00"),
            "partners[1].rates[0].effective_from",
            "must be a TOML date or date-time",
        ),
        (
            rate(extra="minimum_blocks = 0\n"),
            "partners[1].rates[0].minimum_blocks",
            f"from 1 to {MAX_POINTS}",
        ),
        (
            rate(extra="minimum_blocks = 1.5\n"),
            "partners[1].rates[0].minimum_blocks",
            f"from 1 to {MAX_POINTS}",
        ),
    ],
)
def test_a_bad_conversion_rate_is_reported_at_its_setting(snippet: str, path: str, fragment: str):
    problem = only_problem(RICH + partner() + snippet)
    assert problem.path == path
    assert fragment in problem.message


def test_conversion_rates_not_written_as_an_array_of_tables_are_reported():
    problem = only_problem(RICH + partner('rates = "1:1"\n'))
    assert (problem.path, problem.message) == ("partners[1].rates", "must be an array of tables")
    problem = only_problem(RICH + partner("rates = [1]\n"))
    assert (problem.path, problem.message) == ("partners[1].rates[0]", "must be a table")


def test_a_mistake_in_a_later_rate_names_that_rate():
    source = RICH + partner() + rate() + rate('"OUT"') + rate('"SIDEWAYS"')
    assert paths(problems_of(source)) == ["partners[1].rates[2].direction"]


# -- purchase rules --------------------------------------------------------------------------


def rule(kind: str, extra: str = "", key: str = '"r"') -> str:
    return f'[[purchase_rules]]\nkey = {key}\nname = "Rule"\nkind = "{kind}"\n{extra}'


def test_a_rule_of_each_kind_is_kept():
    source = RICH + (
        rule("exclude", 'categories = ["gift-cards"]\n', '"gifts"')
        + rule("multiplier", 'categories = ["coffee"]\nmultiplier = "1.5"\n', '"coffee"')
        + rule("multiplier", "multiplier = 2\n", '"everything"')
        + rule("per_product", 'skus = ["OWN-CUP", "café/1"]\npoints = 10\n', '"cup"')
        + rule("minimum_order", 'amounts = { RON = "5", EUR = 1 }\n', '"minimum"')
        + rule("spend_threshold", 'amounts = { EUR = "99.99" }\npoints = 200\n', '"basket"')
    )
    rules = load_program(source).purchase_rules
    assert [(r.key, r.kind) for r in rules] == [
        ("gifts", RuleKind.EXCLUDE),
        ("coffee", RuleKind.MULTIPLIER),
        ("everything", RuleKind.MULTIPLIER),
        ("cup", RuleKind.PER_PRODUCT),
        ("minimum", RuleKind.MINIMUM_ORDER),
        ("basket", RuleKind.SPEND_THRESHOLD),
    ]
    gifts, coffee, everything, cup, minimum, basket = rules
    assert gifts.selector == Selector(categories=frozenset({"gift-cards"}))
    assert (gifts.multiplier, gifts.points, dict(gifts.amounts)) == (None, None, {})
    assert coffee.selector == Selector(categories=frozenset({"coffee"}))
    assert coffee.multiplier == Decimal("1.5")
    assert everything.selector.everything
    assert everything.multiplier == Decimal(2)
    assert cup.selector == Selector(skus=frozenset({"OWN-CUP", "café/1"}))
    assert (cup.points, cup.multiplier) == (10, None)
    assert dict(minimum.amounts) == {"RON": Decimal(5), "EUR": Decimal(1)}
    assert (minimum.points, minimum.multiplier) == (None, None)
    assert dict(basket.amounts) == {"EUR": Decimal("99.99")}
    assert basket.points == 200
    assert gifts.name.get() == "Rule"


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("2", Decimal(2)),
        ("100", Decimal(100)),
        ('"0.5"', Decimal("0.5")),
        ('"0.000001"', Decimal("0.000001")),
        ("1.25", Decimal("1.25")),
    ],
)
def test_a_multiplier_in_range_is_kept(value: str, kept: Decimal):
    rules = load_program(RICH + rule("multiplier", f"multiplier = {value}\n")).purchase_rules
    assert rules[0].multiplier == kept


@pytest.mark.parametrize("value", ["0", '"0"', "-1", '"-0.5"', "100.000001", "101", "1000"])
def test_a_multiplier_out_of_range_is_reported(value: str):
    problem = only_problem(RICH + rule("multiplier", f"multiplier = {value}\n"))
    assert problem.path == "purchase_rules[0].multiplier"
    assert problem.message == "must be greater than 0 and at most 100"


@pytest.mark.parametrize("value", ['"2x"', "true", "[2]", '"1e2"', "inf", "nan"])
def test_a_multiplier_that_is_not_a_number_is_reported(value: str):
    problem = only_problem(RICH + rule("multiplier", f"multiplier = {value}\n"))
    assert problem.path == "purchase_rules[0].multiplier"
    assert "is not a number" in problem.message


def test_a_multiplier_rule_without_a_multiplier_is_reported():
    problem = only_problem(RICH + rule("multiplier", 'categories = ["coffee"]\n'))
    assert (problem.path, problem.message) == ("purchase_rules[0].multiplier", "is required")


@pytest.mark.parametrize(("kind", "extra"), [("exclude", ""), ("per_product", "points = 10\n")])
def test_exclude_and_per_product_rules_must_say_which_lines(kind: str, extra: str):
    problem = only_problem(RICH + rule(kind, extra))
    assert problem.path == "purchase_rules[0]"
    assert (
        problem.message == f"a {kind} rule needs skus or categories to say which lines it is about"
    )


@pytest.mark.parametrize(("kind", "extra"), [("exclude", ""), ("per_product", "points = 10\n")])
@pytest.mark.parametrize("selector", ['skus = ["GIFT"]\n', 'categories = ["gifts"]\n'])
def test_exclude_and_per_product_rules_take_skus_or_categories(
    kind: str, extra: str, selector: str
):
    assert (
        not load_program(RICH + rule(kind, extra + selector)).purchase_rules[0].selector.everything
    )


@pytest.mark.parametrize(
    ("selector", "path", "fragment"),
    [
        ("skus = []\n", "purchase_rules[0].skus", "must be a non-empty list of strings"),
        ('skus = "GIFT"\n', "purchase_rules[0].skus", "must be a non-empty list of strings"),
        ('skus = ["GIFT", "A B"]\n', "purchase_rules[0].skus[1]", "must match the pattern"),
        ('skus = ["GIFT\\n"]\n', "purchase_rules[0].skus[0]", "must match the pattern"),
        ('skus = [""]\n', "purchase_rules[0].skus[0]", "must match the pattern"),
        ("skus = [5]\n", "purchase_rules[0].skus[0]", "must match the pattern"),
        (f'skus = ["{"X" * 101}"]\n', "purchase_rules[0].skus[0]", "must match the pattern"),
        (
            'categories = ["gift\\tcards"]\n',
            "purchase_rules[0].categories[0]",
            "must match the pattern",
        ),
    ],
)
def test_bad_skus_and_categories_are_reported(selector: str, path: str, fragment: str):
    problems = problems_of(RICH + rule("multiplier", "multiplier = 2\n" + selector))
    assert paths(problems) == [path]
    assert fragment in problems[0].message


def test_the_longest_sku_is_accepted():
    source = RICH + rule("exclude", f'skus = ["{"X" * 100}"]\n')
    assert load_program(source).purchase_rules[0].selector.skus == frozenset({"X" * 100})


@pytest.mark.parametrize(
    ("kind", "extra", "path", "fragment"),
    [
        ("per_product", 'skus = ["A"]\n', "purchase_rules[0].points", "is required"),
        (
            "per_product",
            'skus = ["A"]\npoints = 0\n',
            "purchase_rules[0].points",
            f"from 1 to {MAX_POINTS}",
        ),
        (
            "per_product",
            'skus = ["A"]\npoints = "10"\n',
            "purchase_rules[0].points",
            f"from 1 to {MAX_POINTS}",
        ),
        ("spend_threshold", "amounts = { RON = 100 }\n", "purchase_rules[0].points", "is required"),
        (
            "spend_threshold",
            "amounts = { RON = 100 }\npoints = -5\n",
            "purchase_rules[0].points",
            "from 1 to",
        ),
        ("spend_threshold", "points = 5\n", "purchase_rules[0].amounts", "is required"),
        ("minimum_order", "", "purchase_rules[0].amounts", "is required"),
        (
            "minimum_order",
            "amounts = {}\n",
            "purchase_rules[0].amounts",
            "give an amount for at least one currency",
        ),
        ("minimum_order", "amounts = 5\n", "purchase_rules[0].amounts", "must be a table"),
        (
            "minimum_order",
            "amounts = { USD = 5 }\n",
            "purchase_rules[0].amounts.USD",
            "is not a currency of purchases.rates",
        ),
        (
            "minimum_order",
            "amounts = { ron = 5 }\n",
            "purchase_rules[0].amounts.ron",
            "is not a currency of purchases.rates",
        ),
        (
            "minimum_order",
            "amounts = { RON = 0 }\n",
            "purchase_rules[0].amounts.RON",
            "must be greater than 0",
        ),
        (
            "minimum_order",
            'amounts = { RON = "-5" }\n',
            "purchase_rules[0].amounts.RON",
            "must be greater than 0",
        ),
        (
            "minimum_order",
            'amounts = { RON = "five" }\n',
            "purchase_rules[0].amounts.RON",
            "is not a number",
        ),
        (
            "spend_threshold",
            'points = 5\namounts = { EUR = "1.1234567" }\n',
            "purchase_rules[0].amounts.EUR",
            "is not a number",
        ),
    ],
)
def test_missing_and_bad_rule_settings_are_reported(
    kind: str, extra: str, path: str, fragment: str
):
    problem = only_problem(RICH + rule(kind, extra))
    assert problem.path == path
    assert fragment in problem.message


def test_amounts_in_a_currency_the_program_does_not_earn_in_are_each_reported():
    source = RICH + rule("minimum_order", "amounts = { RON = 5, USD = 5, GBP = 4 }\n")
    assert paths(problems_of(source)) == [
        "purchase_rules[0].amounts.USD",
        "purchase_rules[0].amounts.GBP",
    ]


@pytest.mark.parametrize(
    ("kind", "extra", "meaningless"),
    [
        ("multiplier", "multiplier = 2\npoints = 5\n", "points"),
        ("multiplier", "multiplier = 2\namounts = { RON = 5 }\n", "amounts"),
        ("exclude", 'skus = ["A"]\nmultiplier = 2\n', "multiplier"),
        ("exclude", 'skus = ["A"]\npoints = 2\n', "points"),
        ("exclude", 'skus = ["A"]\namounts = { RON = 5 }\n', "amounts"),
        ("per_product", 'skus = ["A"]\npoints = 2\nmultiplier = 2\n', "multiplier"),
        ("per_product", 'skus = ["A"]\npoints = 2\namounts = { RON = 5 }\n', "amounts"),
        ("minimum_order", 'amounts = { RON = 5 }\nskus = ["A"]\n', "skus"),
        ("minimum_order", 'amounts = { RON = 5 }\ncategories = ["c"]\n', "categories"),
        ("minimum_order", "amounts = { RON = 5 }\npoints = 5\n", "points"),
        ("minimum_order", "amounts = { RON = 5 }\nmultiplier = 2\n", "multiplier"),
        ("spend_threshold", 'amounts = { RON = 5 }\npoints = 5\nskus = ["A"]\n', "skus"),
        (
            "spend_threshold",
            'amounts = { RON = 5 }\npoints = 5\ncategories = ["c"]\n',
            "categories",
        ),
        ("spend_threshold", "amounts = { RON = 5 }\npoints = 5\nmultiplier = 2\n", "multiplier"),
        ("multiplier", "multiplier = 2\nmax_units = 3\n", "max_units"),
        ("spend_threshold", "amounts = { RON = 5 }\npoints = 5\nmax_units = 3\n", "max_units"),
    ],
)
def test_a_setting_with_no_meaning_for_the_kind_of_rule_is_reported(
    kind: str, extra: str, meaningless: str
):
    problem = only_problem(RICH + rule(kind, extra))
    assert problem.path == f"purchase_rules[0].{meaningless}"
    assert problem.message == f"has no meaning for a {kind} rule"


def test_every_meaningless_setting_of_a_rule_is_reported():
    extra = 'amounts = { RON = 5 }\nmultiplier = 2\npoints = 1\nskus = ["A"]\ncategories = ["c"]\n'
    problems = problems_of(RICH + rule("minimum_order", extra))
    assert sorted(paths(problems)) == [
        "purchase_rules[0].categories",
        "purchase_rules[0].multiplier",
        "purchase_rules[0].points",
        "purchase_rules[0].skus",
    ]


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ('"double"', "'double' is not one of multiplier, exclude, per_product, minimum_order"),
        ('"Multiplier"', "'Multiplier' is not one of"),
        ("2", "2 is not one of"),
    ],
)
def test_an_unknown_kind_of_rule_is_reported(kind: str, message: str):
    source = RICH + f'[[purchase_rules]]\nkey = "r"\nname = "R"\nkind = {kind}\n'
    problem = only_problem(source)
    assert problem.path == "purchase_rules[0].kind"
    assert problem.message.startswith(message)


def test_a_rule_without_a_kind_or_name_is_reported():
    problems = problems_of(RICH + '[[purchase_rules]]\nkey = "r"\n')
    assert [(p.path, p.message) for p in problems] == [
        ("purchase_rules[0].name", "is required"),
        (
            "purchase_rules[0].kind",
            "is required: one of multiplier, exclude, per_product, minimum_order, spend_threshold",
        ),
    ]


@pytest.mark.parametrize("key", ['"Double"', '"-x"', '"a b"', "5", '""'])
def test_a_rule_with_a_bad_key_is_reported(key: str):
    problem = only_problem(RICH + rule("multiplier", "multiplier = 2\n", key=key))
    assert problem.path == "purchase_rules[0].key"


def test_a_rule_key_used_twice_is_reported_at_the_second():
    source = RICH + rule("multiplier", "multiplier = 2\n") + rule("exclude", 'skus = ["A"]\n')
    problem = only_problem(source)
    assert (problem.path, problem.message) == ("purchase_rules[1].key", "'r' is used twice")


def test_rules_not_written_as_an_array_of_tables_are_reported():
    problem = only_problem('purchase_rules = { key = "r" }\n' + RICH)
    assert problem.path == "purchase_rules"
    assert "[[purchase_rules]]" in problem.message


def test_problems_in_later_rules_keep_their_position_in_the_file():
    source = RICH + (
        rule("multiplier", "multiplier = 0\n", '"a"')
        + rule("exclude", 'skus = ["A"]\n', '"b"')
        + rule("per_product", 'skus = ["A"]\n', '"c"')
    )
    assert paths(problems_of(source)) == [
        "purchase_rules[0].multiplier",
        "purchase_rules[2].points",
    ]


# -- campaigns -------------------------------------------------------------------------------


def campaign(
    kind: str = "bonus",
    extra: str = "points = 10\n",
    starts: str = "2026-11-27",
    ends: str = "2026-11-30",
    key: str = '"c"',
) -> str:
    body = f'[[campaigns]]\nkey = {key}\nname = "Campaign"\nkind = "{kind}"\n'
    if starts:
        body += f"starts = {starts}\n"
    if ends:
        body += f"ends = {ends}\n"
    return body + extra


def only_campaign(source: str):
    campaigns = load_program(source).campaigns
    assert len(campaigns) == 1
    return campaigns[0]


def test_a_campaign_of_each_kind_is_kept():
    source = RICH + (
        campaign(
            "multiplier",
            'multiplier = "2.5"\ncategories = ["coffee"]\nbudget = 500\n',
            key='"double"',
        )
        + campaign(
            "bonus",
            'points = 100\nskus = ["A"]\ntiers = ["gold"]\npartners = ["shop"]\n',
            key='"bonus"',
        )
        + campaign("first_purchase_of_month", "points = 50\n", key='"first"')
    )
    double, bonus, first = load_program(source).campaigns
    assert (double.key, double.kind, double.multiplier, double.points) == (
        "double",
        CampaignKind.MULTIPLIER,
        Decimal("2.5"),
        None,
    )
    assert double.selector == Selector(categories=frozenset({"coffee"}))
    assert double.budget == 500
    assert (double.tiers, double.partners) == (frozenset(), frozenset())
    assert (bonus.kind, bonus.points, bonus.multiplier, bonus.budget) == (
        CampaignKind.BONUS,
        100,
        None,
        None,
    )
    assert bonus.selector == Selector(skus=frozenset({"A"}))
    assert bonus.tiers == frozenset({"gold"})
    assert bonus.partners == frozenset({"shop"})
    assert (first.kind, first.points) == (CampaignKind.FIRST_PURCHASE_OF_MONTH, 50)
    assert first.selector.everything


@pytest.mark.parametrize(
    ("starts", "moment"),
    [
        # A date is the local midnight that starts it, in the program's time zone.
        ("2026-01-10", "2026-01-09T22:00:00"),  # winter, UTC+2
        ("2026-07-10", "2026-07-09T21:00:00"),  # summer, UTC+3
        # A date-time without an offset is a local time.
        ("2026-11-27T18:00:00", "2026-11-27T16:00:00"),
        ("2026-07-10T00:00:00", "2026-07-09T21:00:00"),
        ("2026-07-10 08:30:15", "2026-07-10T05:30:15"),
        ("2026-03-29T04:00:00", "2026-03-29T01:00:00"),  # the first hour of summer time
        ("2026-03-29T02:59:59", "2026-03-29T00:59:59"),  # the last second of winter time
        # A date-time with an offset keeps it.
        ("2026-11-27T18:00:00+05:00", "2026-11-27T13:00:00"),
        ("2026-11-27T18:00:00Z", "2026-11-27T18:00:00"),
        ("2026-07-10T00:00:00-04:00", "2026-07-10T04:00:00"),
    ],
)
def test_campaign_moments_are_read_in_the_programs_time_zone(starts: str, moment: str):
    found = only_campaign(RICH + campaign(starts=starts, ends="2027-01-01"))
    assert found.starts == utc(moment)
    assert found.starts.utcoffset() == timedelta(0)
    assert found.ends == utc("2026-12-31T22:00:00")


def test_campaign_moments_in_a_program_without_a_time_zone_are_utc():
    source = MINIMAL + campaign(starts="2026-07-10", ends="2026-07-11T06:00:00")
    found = only_campaign(source)
    assert (found.starts, found.ends) == (utc("2026-07-10T00:00:00"), utc("2026-07-11T06:00:00"))


@pytest.mark.parametrize(
    ("starts", "ends"),
    [
        ("2026-11-27", "2026-11-27"),
        ("2026-11-27", "2026-11-26"),
        ("2026-11-27T10:00:00", "2026-11-27T09:59:59"),
        # The same moment written three ways: a date, a local date-time, a UTC one.
        ("2026-11-27", "2026-11-27T00:00:00"),
        ("2026-11-27", "2026-11-26T22:00:00Z"),
        ("2026-11-27T12:00:00+02:00", "2026-11-27T12:00:00"),
    ],
)
def test_a_campaign_must_end_after_it_starts(starts: str, ends: str):
    problem = only_problem(RICH + campaign(starts=starts, ends=ends))
    assert (problem.path, problem.message) == ("campaigns[0].ends", "must be after starts")


def test_a_campaign_may_end_one_second_after_it_starts():
    # 2026-11-26T22:00:01Z is one second after local midnight in Bucharest.
    found = only_campaign(RICH + campaign(starts="2026-11-27", ends="2026-11-26T22:00:01Z"))
    assert found.ends - found.starts == timedelta(seconds=1)


@pytest.mark.parametrize(
    ("snippet", "path", "message"),
    [
        (
            campaign(starts=""),
            "campaigns[0].starts",
            "is required: a date like 2026-11-27 or 2026-11-27T18:00:00",
        ),
        (
            campaign(ends=""),
            "campaigns[0].ends",
            "is required: a date like 2026-11-27 or 2026-11-27T18:00:00",
        ),
        (
            campaign(starts='"2026-11-27"'),
            "campaigns[0].starts",
            "must be a TOML date or date-time, like 2026-11-27T18:00:00, unquoted",
        ),
        (
            campaign(ends="18:00:00"),
            "campaigns[0].ends",
            "must be a TOML date or date-time, like 2026-11-27T18:00:00, unquoted",
        ),
        (
            campaign(starts="20261127"),
            "campaigns[0].starts",
            "must be a TOML date or date-time, like 2026-11-27T18:00:00, unquoted",
        ),
    ],
)
def test_missing_and_bad_campaign_moments_are_reported(snippet: str, path: str, message: str):
    problem = only_problem(RICH + snippet)
    assert (problem.path, problem.message) == (path, message)


@pytest.mark.parametrize(
    ("extra", "found"),
    [
        ('tiers = ["platinum"]\n', [("campaigns[0].tiers[0]", "no tier has the key 'platinum'")]),
        (
            'tiers = ["gold", "silver", "base"]\n',
            [("campaigns[0].tiers[1]", "no tier has the key 'silver'")],
        ),
        (
            'partners = ["nowhere"]\n',
            [("campaigns[0].partners[0]", "no partner has the key 'nowhere'")],
        ),
        ('tiers = "gold"\n', [("campaigns[0].tiers", "must be a non-empty list of strings")]),
        ("tiers = []\n", [("campaigns[0].tiers", "must be a non-empty list of strings")]),
        ('tiers = ["Gold"]\n', [("campaigns[0].tiers[0]", "must match the pattern")]),
        ('tiers = ["gold\\n"]\n', [("campaigns[0].tiers[0]", "must match the pattern")]),
        ("partners = [1]\n", [("campaigns[0].partners[0]", "must match the pattern")]),
        (
            "budget = 0\n",
            [("campaigns[0].budget", f"must be a whole number from 1 to {MAX_POINTS}")],
        ),
        ('budget = "100"\n', [("campaigns[0].budget", "must be a whole number from 1 to")]),
        (
            f"budget = {MAX_POINTS + 1}\n",
            [("campaigns[0].budget", "must be a whole number from 1 to")],
        ),
    ],
)
def test_bad_campaign_audiences_and_budgets_are_reported(extra: str, found: list[tuple[str, str]]):
    problems = problems_of(RICH + campaign(extra="points = 10\n" + extra))
    assert paths(problems) == [path for path, _ in found]
    for problem, (_, fragment) in zip(problems, found, strict=True):
        assert fragment in problem.message


def test_a_campaign_may_name_a_partner_and_tier_only_if_they_are_valid():
    # A partner with a mistake is not a partner: naming it is a second problem.
    source = RICH.replace('currency = "COIN"', 'currency = "coin"') + campaign(
        extra='points = 10\npartners = ["shop"]\n'
    )
    assert paths(problems_of(source)) == ["partners[0].currency", "campaigns[0].partners[0]"]


@pytest.mark.parametrize(
    ("kind", "extra", "path", "message"),
    [
        ("multiplier", "", "campaigns[0].multiplier", "is required"),
        (
            "multiplier",
            "multiplier = 0\n",
            "campaigns[0].multiplier",
            "must be greater than 0 and at most 100",
        ),
        (
            "multiplier",
            "multiplier = 101\n",
            "campaigns[0].multiplier",
            "must be greater than 0 and at most 100",
        ),
        (
            "multiplier",
            "multiplier = 2\npoints = 5\n",
            "campaigns[0].points",
            "has no meaning for a multiplier campaign",
        ),
        ("bonus", "", "campaigns[0].points", "is required"),
        (
            "bonus",
            "points = 0\n",
            "campaigns[0].points",
            f"must be a whole number from 1 to {MAX_POINTS}",
        ),
        (
            "bonus",
            "points = 5\nmultiplier = 2\n",
            "campaigns[0].multiplier",
            "has no meaning for a bonus campaign",
        ),
        ("first_purchase_of_month", "", "campaigns[0].points", "is required"),
        (
            "first_purchase_of_month",
            "points = 5\nmultiplier = 2\n",
            "campaigns[0].multiplier",
            "has no meaning for a first_purchase_of_month campaign",
        ),
        (
            "first_purchase_of_month",
            'points = 5\nskus = ["A"]\n',
            "campaigns[0].skus",
            "has no meaning for a first_purchase_of_month campaign",
        ),
        (
            "first_purchase_of_month",
            'points = 5\ncategories = ["c"]\n',
            "campaigns[0].categories",
            "has no meaning for a first_purchase_of_month campaign",
        ),
    ],
)
def test_multiplier_or_points_by_kind_of_campaign(kind: str, extra: str, path: str, message: str):
    problem = only_problem(RICH + campaign(kind, extra))
    assert problem.path == path
    assert problem.message.startswith(message)


def test_amounts_are_not_a_campaign_setting():
    problems = problems_of(RICH + campaign(extra="points = 5\namounts = { RON = 5 }\n"))
    assert set(paths(problems)) == {"campaigns[0].amounts"}
    assert problems[0].message.startswith("unknown key (expected one of: budget, categories,")


@pytest.mark.parametrize("kind", ['"double"', '"Bonus"', "true"])
def test_an_unknown_kind_of_campaign_is_reported(kind: str):
    source = RICH + campaign().replace('kind = "bonus"', f"kind = {kind}")
    problem = only_problem(source)
    assert problem.path == "campaigns[0].kind"
    assert problem.message.endswith("is not one of multiplier, bonus, first_purchase_of_month")


def test_a_campaign_with_every_mistake_reports_each():
    source = RICH + campaign(
        "multiplier",
        'multiplier = -1\npoints = 3\ntiers = ["x"]\nbudget = -1\n',
        starts="2026-12-01",
        ends="2026-11-01",
    )
    assert sorted(paths(problems_of(source))) == [
        "campaigns[0].budget",
        "campaigns[0].ends",
        "campaigns[0].multiplier",
        "campaigns[0].points",
        "campaigns[0].tiers[0]",
    ]


def test_a_campaign_key_used_twice_is_reported_at_the_second():
    problem = only_problem(RICH + campaign() + campaign())
    assert (problem.path, problem.message) == ("campaigns[1].key", "'c' is used twice")


def test_a_rule_and_a_campaign_may_share_a_key():
    # Their breakdown lines are told apart: rule:<key> and campaign:<key>.
    source = RICH + rule("multiplier", "multiplier = 2\n", '"c"') + campaign()
    program = load_program(source)
    assert (program.purchase_rules[0].key, program.campaigns[0].key) == ("c", "c")


# -- referral, signup and birthday -----------------------------------------------------------


def test_a_referral_is_kept():
    source = RICH + (
        "[referral]\nreferrer_points = 500\nreferee_points = 250\n"
        'minimum = { RON = "50", EUR = 10 }\nmax_per_referrer = 25\n'
    )
    assert load_program(source).referral == Referral(
        referrer_points=500,
        referee_points=250,
        minimum={"RON": Decimal(50), "EUR": Decimal(10)},
        max_per_referrer=25,
    )


@pytest.mark.parametrize(("referrer", "referee"), [(0, 100), (100, 0), (1, 1)])
def test_a_referral_may_reward_only_one_side(referrer: int, referee: int):
    source = RICH + f"[referral]\nreferrer_points = {referrer}\nreferee_points = {referee}\n"
    referral = load_program(source).referral
    assert referral == Referral(referrer, referee, {}, None)


def test_a_referral_that_rewards_nobody_is_reported():
    problem = only_problem(RICH + "[referral]\nreferrer_points = 0\nreferee_points = 0\n")
    assert (problem.path, problem.message) == (
        "referral",
        "give points to the referrer, the new member, or both",
    )


@pytest.mark.parametrize(
    ("body", "found"),
    [
        ("referee_points = 5\n", [("referral.referrer_points", "is required")]),
        ("referrer_points = 5\n", [("referral.referee_points", "is required")]),
        (
            "referrer_points = -1\nreferee_points = 5\n",
            [("referral.referrer_points", f"must be a whole number from 0 to {MAX_POINTS}")],
        ),
        (
            'referrer_points = 5\nreferee_points = "5"\n',
            [("referral.referee_points", f"must be a whole number from 0 to {MAX_POINTS}")],
        ),
        (
            "referrer_points = 5\nreferee_points = 5\nminimum = { USD = 10 }\n",
            [("referral.minimum.USD", "is not a currency of purchases.rates")],
        ),
        (
            "referrer_points = 5\nreferee_points = 5\nminimum = { RON = 0 }\n",
            [("referral.minimum.RON", "must be greater than 0")],
        ),
        (
            "referrer_points = 5\nreferee_points = 5\nminimum = 50\n",
            [("referral.minimum", "must be a table")],
        ),
        (
            "referrer_points = 5\nreferee_points = 5\nmax_per_referrer = 0\n",
            [("referral.max_per_referrer", f"must be a whole number from 1 to {MAX_POINTS}")],
        ),
        (
            "referrer_points = 5\nreferee_points = 5\nmax_per_referrer = 2.5\n",
            [("referral.max_per_referrer", "must be a whole number")],
        ),
        (
            "",
            [
                ("referral.referrer_points", "is required"),
                ("referral.referee_points", "is required"),
            ],
        ),
    ],
)
def test_bad_referral_settings_are_reported(body: str, found: list[tuple[str, str]]):
    problems = problems_of(RICH + f"[referral]\n{body}")
    assert paths(problems) == [path for path, _ in found]
    for problem, (_, fragment) in zip(problems, found, strict=True):
        assert fragment in problem.message


def test_a_referral_minimum_may_leave_out_currencies_or_be_empty():
    base = RICH + "[referral]\nreferrer_points = 5\nreferee_points = 5\n"
    program = load_program(base + "minimum = {}\n")
    assert program.referral is not None
    assert dict(program.referral.minimum) == {}
    referral = load_program(base + "minimum = { EUR = 12 }\n").referral
    assert referral is not None
    assert dict(referral.minimum) == {"EUR": Decimal(12)}


def test_a_referral_that_is_not_a_table_is_reported():
    problems = problems_of("referral = 500\n" + RICH)
    assert paths(problems) == ["referral", "referral.referrer_points", "referral.referee_points"]
    assert problems[0].message == "must be a table"


@pytest.mark.parametrize("section", ["signup", "birthday"])
def test_signup_and_birthday_points_are_kept(section: str):
    program = load_program(RICH + f"[{section}]\npoints = 150\n")
    assert getattr(program, f"{section}_points") == 150
    other = "birthday" if section == "signup" else "signup"
    assert getattr(program, f"{other}_points") is None


@pytest.mark.parametrize("section", ["signup", "birthday"])
@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        ("points = 0\n", "points", f"must be a whole number from 1 to {MAX_POINTS}"),
        ("points = -10\n", "points", f"must be a whole number from 1 to {MAX_POINTS}"),
        ('points = "100"\n', "points", f"must be a whole number from 1 to {MAX_POINTS}"),
        (
            f"points = {MAX_POINTS + 1}\n",
            "points",
            f"must be a whole number from 1 to {MAX_POINTS}",
        ),
        ("", "points", "is required"),
    ],
)
def test_bad_signup_and_birthday_points_are_reported(
    section: str, body: str, path: str, message: str
):
    problem = only_problem(RICH + f"[{section}]\n{body}")
    assert (problem.path, problem.message) == (f"{section}.{path}", message)


@pytest.mark.parametrize("section", ["signup", "birthday"])
def test_signup_and_birthday_that_are_not_tables_are_reported(section: str):
    problems = problems_of(f"{section} = 100\n" + RICH)
    assert [(p.path, p.message) for p in problems] == [
        (section, "must be a table"),
        (f"{section}.points", "is required"),
    ]


# -- badges ----------------------------------------------------------------------------------


def badge(metric: str = '"purchases"', levels: str = "[1, 10, 50]", key: str = '"b"') -> str:
    return f'[[badges]]\nkey = {key}\nname = "Badge"\nmetric = {metric}\nlevels = {levels}\n'


@pytest.mark.parametrize(
    "metric",
    ["purchases", "points_earned", "referrals", "redemptions", "actions:REVIEW", "actions:A1_B"],
)
def test_a_badge_of_each_metric_is_kept(metric: str):
    actions = "".join(
        f'[[actions]]\nkey = "{key}"\nname = "{key}"\npoints = 1\n' for key in ("REVIEW", "A1_B")
    )
    badges = load_program(RICH + actions + badge(f'"{metric}"')).badges
    assert [(b.key, b.metric, b.levels, b.description) for b in badges] == [
        ("b", metric, (1, 10, 50), None)
    ]


def test_a_badge_counting_an_action_the_program_lacks_is_reported():
    problem = only_problem(RICH + badge('"actions:NO_SUCH"'))
    assert problem.path == "badges[0].metric"
    assert problem.message == "no action has the key 'NO_SUCH'"


def test_a_badge_keeps_its_description_and_levels():
    source = RICH + badge(levels="[1000, 10000, 100000]") + 'description = { en = "Shop" }\n'
    loaded = load_program(source).badges[0]
    assert loaded.levels == (1000, 10000, 100000)
    assert loaded.description == Text({"en": "Shop"})


@pytest.mark.parametrize(
    "metric",
    [
        '"visits"',
        '"Purchases"',
        '"actions:"',
        '"actions:review"',
        '"actions:R"',
        '"actions"',
        '"actions: REVIEW"',
        '"purchases "',
        '"actions:REVIEW:2"',
    ],
)
def test_a_badge_with_an_unknown_metric_is_reported(metric: str):
    problem = only_problem(RICH + badge(metric))
    assert problem.path == "badges[0].metric"
    assert "does not match the pattern" in problem.message


def test_a_badge_without_a_metric_is_reported():
    source = RICH + '[[badges]]\nkey = "b"\nname = "Badge"\nlevels = [1]\n'
    problem = only_problem(source)
    assert (problem.path, problem.message) == ("badges[0].metric", "is required")


@pytest.mark.parametrize(
    ("levels", "kept"), [("[1]", (1,)), ("[1, 2, 3]", (1, 2, 3)), ("[5, 50]", (5, 50))]
)
def test_strictly_increasing_levels_from_1_or_more_are_kept(levels: str, kept: tuple[int, ...]):
    assert load_program(RICH + badge(levels=levels)).badges[0].levels == kept


@pytest.mark.parametrize(
    ("levels", "message"),
    [
        ("[0, 5]", "levels must start at 1 or more and increase strictly"),
        ("[-1, 5]", "levels must start at 1 or more and increase strictly"),
        ("[1, 1]", "levels must start at 1 or more and increase strictly"),
        ("[1, 10, 5]", "levels must start at 1 or more and increase strictly"),
        ("[1, 10, 10, 20]", "levels must start at 1 or more and increase strictly"),
        ("[]", "must be a list of whole numbers, like [1, 10, 50]"),
        ("5", "must be a list of whole numbers, like [1, 10, 50]"),
        ('["1"]', "must be a list of whole numbers, like [1, 10, 50]"),
        ("[1, 2.5]", "must be a list of whole numbers, like [1, 10, 50]"),
        ("[true, 2]", "must be a list of whole numbers, like [1, 10, 50]"),
    ],
)
def test_bad_badge_levels_are_reported(levels: str, message: str):
    problem = only_problem(RICH + badge(levels=levels))
    assert (problem.path, problem.message) == ("badges[0].levels", message)


def test_a_badge_without_levels_is_reported():
    source = RICH + '[[badges]]\nkey = "b"\nname = "Badge"\nmetric = "purchases"\n'
    assert only_problem(source).path == "badges[0].levels"


def test_a_badge_key_used_twice_is_reported_at_the_second():
    problem = only_problem(RICH + badge() + badge('"referrals"'))
    assert (problem.path, problem.message) == ("badges[1].key", "'b' is used twice")


# -- translated names ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "path", "fragment"),
    [
        ('{ english = "Base" }', "tiers[0].name.english", "not a language code"),
        ('{ EN = "Base" }', "tiers[0].name.EN", "not a language code"),
        ('{ "" = "Base" }', "tiers[0].name.", "not a language code"),
        ('{ en = "" }', "tiers[0].name.en", "must be a non-empty string"),
        ('{ en = "   " }', "tiers[0].name.en", "must be a non-empty string"),
        ("{ en = 5 }", "tiers[0].name.en", "must be a non-empty string"),
        ("{}", "tiers[0].name", "must be a string, or a table of languages"),
        ('""', "tiers[0].name", "must be a string, or a table of languages"),
        ("5", "tiers[0].name", "must be a string, or a table of languages"),
    ],
)
def test_bad_translated_names_are_reported(name: str, path: str, fragment: str):
    problem = only_problem(MINIMAL.replace('name = "Base"', f"name = {name}"))
    assert problem.path == path
    assert fragment in problem.message


def test_every_bad_translation_in_one_name_is_reported():
    source = MINIMAL.replace('name = "Base"', 'name = { en = "", xx1 = "B", ro = "Bază" }')
    assert paths(problems_of(source)) == ["tiers[0].name.en", "tiers[0].name.xx1"]


def test_bad_benefits_are_reported_each_at_its_place():
    source = MINIMAL + 'benefits = ["Fine", { en = "" }, 5, { Fr = "x" }]\n'
    assert paths(problems_of(source)) == [
        "tiers[0].benefits[1].en",
        "tiers[0].benefits[2]",
        "tiers[0].benefits[3].Fr",
    ]
    assert paths(problems_of(MINIMAL + 'benefits = "Fine"\n')) == ["tiers[0].benefits"]


def test_translated_names_keep_every_language_in_order():
    source = MINIMAL.replace('name = "Base"', 'name = { ro = "Bază", en = "Base" }')
    name = load_program(source).tiers[0].name
    assert dict(name.translations) == {"ro": "Bază", "en": "Base"}
    assert name.get("de") == "Bază"


@pytest.mark.parametrize(
    ("snippet", "path"),
    [
        (
            rule("exclude", 'skus = ["A"]\n').replace('name = "Rule"', 'name = { en = "" }'),
            "purchase_rules[0].name.en",
        ),
        (campaign().replace('name = "Campaign"', "name = 5"), "campaigns[0].name"),
        (badge().replace('name = "Badge"', 'name = { EN = "B" }'), "badges[0].name.EN"),
        (badge() + 'description = ""\n', "badges[0].description"),
    ],
)
def test_names_of_the_newer_sections_are_checked_like_the_others(snippet: str, path: str):
    assert only_problem(RICH + snippet).path == path


# -- several mistakes at once ----------------------------------------------------------------

EVERY_MISTAKE = """\
colour = "blue"

[program]
name = "Test"
timezone = "Mars/Olympus"

[points]
expiry = { days = 0 }
reminder_days = 0

[purchases]
rates = { RON = 0, eur = 1, EUR = 5 }
pending_days = -1

[[purchase_rules]]
key = "double"
name = "Double"
kind = "multiplier"
multiplier = 0

[[purchase_rules]]
key = "gifts"
name = "Gifts"
kind = "exclude"

[[purchase_rules]]
key = "minimum"
name = "Minimum"
kind = "minimum_order"
amounts = { USD = 5 }
points = 3

[[campaigns]]
key = "weekend"
name = "Weekend"
kind = "bonus"
starts = 2026-02-01
ends = 2026-01-01
tiers = ["platinum"]
partners = ["nowhere"]
budget = 0

[[actions]]
key = "REVIEW"
name = "Review"
points = 10
caps = { fortnight = 1 }
cooldown_minutes = 0
pending_days = 400
expiry = { days = 0 }

[[actions]]
key = "REVIEW"
name = "Again"
points = 10

[referral]
referrer_points = 0
referee_points = 0
minimum = { GBP = 1 }
max_per_referrer = 0

[signup]
points = 0

[birthday]
points = -1

[[tiers]]
key = "base"
name = "Base"
threshold = 5

[[partners]]
key = "shop"
name = "Shop"
currency = "coin"
pending_days = 400

[[partners.rates]]
direction = "SIDEWAYS"
points = 0
partner_units = 0
fee_percent = "abc"
minimum_blocks = 0

[[rewards]]
key = "mug"
name = { en = "" }
points_cost = 0
stock = -1
limit = { count = 0, period = "fortnight" }
min_tier = "platinum"

[[badges]]
key = "regular"
name = "Regular"
metric = "visits"
levels = [0, 1]
"""


def test_every_mistake_in_a_file_is_reported_not_just_the_first():
    with pytest.raises(ProgramInvalid) as caught:
        load_program(EVERY_MISTAKE)
    problems = caught.value.problems
    assert sorted(paths(problems)) == sorted(
        [
            "colour",
            "program.timezone",
            "points.expiry.days",
            "points.reminder_days",
            "purchases.rates.RON",
            "purchases.rates.eur",
            "purchases.pending_days",
            "purchase_rules[0].multiplier",
            "purchase_rules[1]",
            "purchase_rules[2].amounts.USD",
            "purchase_rules[2].points",
            "campaigns[0].ends",
            "campaigns[0].tiers[0]",
            "campaigns[0].partners[0]",
            "campaigns[0].budget",
            "campaigns[0].points",
            "actions[0].caps.fortnight",
            "actions[0].cooldown_minutes",
            "actions[0].pending_days",
            "actions[0].expiry.days",
            "actions[1].key",
            "referral",
            "referral.minimum.GBP",
            "referral.max_per_referrer",
            "signup.points",
            "birthday.points",
            "tiers[0].threshold",
            "partners[0].currency",
            "partners[0].pending_days",
            "partners[0].rates[0].direction",
            "partners[0].rates[0].points",
            "partners[0].rates[0].partner_units",
            "partners[0].rates[0].effective_from",
            "partners[0].rates[0].fee_percent",
            "partners[0].rates[0].minimum_blocks",
            "rewards[0].name.en",
            "rewards[0].points_cost",
            "rewards[0].stock",
            "rewards[0].limit.count",
            "rewards[0].limit.period",
            "rewards[0].min_tier",
            "badges[0].metric",
            "badges[0].levels",
        ]
    )
    assert len(set(paths(problems))) == len(problems), "each mistake is reported once"
    lines = str(caught.value).splitlines()
    assert lines == [f"{p.path}: {p.message}" for p in problems]
    assert "points.expiry.days: must be a whole number from 1 to 36500" in lines
    assert "purchase_rules[0].multiplier: must be greater than 0 and at most 100" in lines
    assert "campaigns[0].ends: must be after starts" in lines


def test_a_problem_before_a_section_does_not_hide_the_sections_own_problems():
    # A bad currency does not stop the rules that use the good ones from being checked.
    source = RICH.replace("rates = { RON = 1, EUR = 5 }", 'rates = { RON = 1, EUR = "x" }')
    source += rule("minimum_order", "amounts = { RON = 0 }\n")
    assert paths(problems_of(source)) == [
        "purchases.rates.EUR",
        "purchase_rules[0].amounts.RON",
    ]


# -- properties ------------------------------------------------------------------------------


def toml_string(text: str) -> str:
    out = ['"']
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()  # unquoted: a TOML date or date-time
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{" + ", ".join(f"{toml_string(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
        )
    raise TypeError(value)


def toml_document(document: dict[str, Any]) -> str:
    return "".join(f"{toml_string(k)} = {toml_value(v)}\n" for k, v in document.items())


def test_the_toml_writer_used_by_the_properties_round_trips():
    doc = {
        "a": ['x"\\\n\x7f', 1.5, float("inf"), True, {"k y": [1, {"z": "é😀"}]}],
        "b": [
            date(2026, 1, 2),
            datetime(2026, 1, 2, 3, 4, 5),
            datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-4, minutes=-30))),
        ],
    }
    loaded = tomllib.loads(toml_document(doc))
    assert loaded["a"][0] == 'x"\\\n\x7f'
    assert loaded["a"][1:] == [1.5, float("inf"), True, {"k y": [1, {"z": "é😀"}]}]
    assert loaded["b"] == doc["b"]
    assert re.fullmatch(r'"a" = \[.*\]\n"b" = \[.*\]\n', toml_document(doc))


words = st.text(min_size=1, max_size=12).filter(lambda s: s.strip())
languages = st.sampled_from(["en", "ro", "de", "fr", "hu", "pt-BR", "fil"])
texts = st.one_of(words, st.dictionaries(languages, words, min_size=1, max_size=3))
line_keys = st.from_regex(r"[^\s\x00-\x1f\x7f]{1,12}", fullmatch=True)
zones = ["UTC", "Europe/Bucharest", "America/New_York", "Australia/Lord_Howe"]


def decimals(low: str, high: str, places: int) -> st.SearchStrategy[Decimal]:
    return st.decimals(min_value=Decimal(low), max_value=Decimal(high), places=places)


@st.composite
def written(draw: st.DrawFn, numbers: st.SearchStrategy[Decimal]) -> tuple[Any, Decimal]:
    """A number as the operator may write it (a whole number or a string), and its value."""
    number = draw(numbers)
    if number == number.to_integral_value() and draw(st.booleans()):
        return int(number), number
    return format(number, "f"), number


@st.composite
def moments(draw: st.DrawFn, zone: ZoneInfo, after: datetime | None = None) -> tuple[Any, datetime]:
    """A moment as TOML writes it (a date, a local date-time, or one with an offset) and the
    UTC instant it means in the program's time zone; at least two days after `after`."""
    low = datetime(2000, 1, 1) if after is None else after + timedelta(days=3)
    local = draw(st.datetimes(min_value=low, max_value=low + timedelta(days=3650)))
    local = local.replace(microsecond=0)
    style = draw(st.sampled_from(["date", "local", "offset"]))
    if style == "date":
        return local.date(), datetime.combine(local.date(), datetime.min.time(), zone).astimezone(
            UTC
        )
    if style == "local":
        return local, local.replace(tzinfo=zone).astimezone(UTC)
    offset = timezone(timedelta(minutes=draw(st.integers(-14 * 60, 14 * 60))))
    aware = local.replace(tzinfo=offset)
    return aware, aware.astimezone(UTC)


def selector_of(item: dict[str, Any]) -> Selector:
    return Selector(frozenset(item.get("skus", ())), frozenset(item.get("categories", ())))


@st.composite
def selectors(draw: st.DrawFn, required: bool) -> dict[str, list[str]]:
    chosen: dict[str, list[str]] = {}
    for name in ("skus", "categories"):
        if draw(st.booleans()):
            chosen[name] = draw(st.lists(line_keys, min_size=1, max_size=3))
    if required and not chosen:
        chosen["skus"] = [draw(line_keys)]
    return chosen


@st.composite
def amounts_in(draw: st.DrawFn, currencies: list[str]) -> dict[str, Any]:
    picked = draw(st.lists(st.sampled_from(currencies), min_size=1, unique=True))
    return {c: draw(written(decimals("0.0001", "999999999999", 4)))[0] for c in picked}


@st.composite
def expiries(draw: st.DrawFn) -> tuple[Any, Expiry]:
    kind = draw(st.sampled_from(["days", "end_of_year", "never"]))
    if kind == "never":
        return "never", NEVER
    value = draw(st.integers(1, 36_500) if kind == "days" else st.integers(0, 100))
    return {kind: value}, Expiry(**{kind: value})


def entity_keys(pattern: str, size: int) -> st.SearchStrategy[list[str]]:
    return st.lists(st.from_regex(pattern, fullmatch=True), min_size=0, max_size=size, unique=True)


ENTITY = "[a-z][a-z0-9_-]{0,20}"


@st.composite
def valid_programs(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """A valid program document, and what the loaded program must hold besides the values
    written in the document as they are."""
    expected: dict[str, Any] = {}
    timezone_name = draw(st.sampled_from(zones))
    zone = ZoneInfo(timezone_name)
    doc: dict[str, Any] = {
        "program": {
            "name": draw(texts),
            "timezone": timezone_name,
            "languages": draw(st.lists(languages, min_size=1, max_size=3, unique=True)),
        }
    }
    points: dict[str, Any] = {}
    expected["expiry"] = NEVER
    if draw(st.booleans()):
        points["expiry"], expected["expiry"] = draw(expiries())
    if draw(st.booleans()):
        points["reminder_days"] = draw(st.integers(1, 365))
    if points or draw(st.booleans()):
        doc["points"] = points

    currencies = draw(
        st.lists(st.from_regex("[A-Z]{3}", fullmatch=True), min_size=1, max_size=4, unique=True)
    )
    doc["purchases"] = {"rates": {}}
    expected["rates"] = {}
    for currency in currencies:
        text, value = draw(written(decimals("0.0001", "10000", 4)))
        doc["purchases"]["rates"][currency] = text
        expected["rates"][currency] = value
    if draw(st.booleans()):
        doc["purchases"]["pending_days"] = draw(st.integers(0, 365))

    doc["actions"] = []
    expected["action_expiry"] = []
    for key in draw(entity_keys("[A-Z][A-Z0-9_]{1,20}", 4)):
        item: dict[str, Any] = {"key": key, "name": draw(texts)}
        item["points"] = draw(st.integers(1, MAX_POINTS))
        periods = draw(st.lists(st.sampled_from(list(Period)), unique=True, max_size=3))
        if periods:
            item["caps"] = {p.value: draw(st.integers(1, MAX_POINTS)) for p in periods}
        if draw(st.booleans()):
            item["cooldown_minutes"] = draw(st.integers(1, 525_600))
        if draw(st.booleans()):
            item["pending_days"] = draw(st.integers(0, 365))
        expiry = None
        if draw(st.booleans()):
            item["expiry"], expiry = draw(expiries())
        expected["action_expiry"].append(expiry)
        doc["actions"].append(item)

    thresholds = sorted(draw(st.sets(st.integers(1, MAX_POINTS), max_size=4)))
    tier_keys = draw(
        st.lists(
            st.from_regex(ENTITY, fullmatch=True),
            min_size=len(thresholds) + 1,
            max_size=len(thresholds) + 1,
            unique=True,
        )
    )
    doc["tiers"] = [
        {
            "key": key,
            "name": draw(texts),
            "threshold": threshold,
            "benefits": draw(st.lists(texts, max_size=2)),
        }
        for key, threshold in zip(tier_keys, [0, *thresholds], strict=True)
    ]

    partner_keys = draw(entity_keys(ENTITY, 3))
    doc["partners"] = []
    expected["partner_rates"] = []
    for key in partner_keys:
        item = {
            "key": key,
            "name": draw(texts),
            "currency": draw(st.from_regex("[A-Z][A-Z0-9]{1,9}", fullmatch=True)),
        }
        if draw(st.booleans()):
            item["pending_days"] = draw(st.integers(0, 365))
        rates = []
        for _ in range(draw(st.integers(0, 3))):
            written_at, effective = draw(moments(zone))
            rate = {
                "direction": draw(st.sampled_from(["IN", "OUT"])),
                "points": draw(st.integers(1, MAX_POINTS)),
                "partner_units": draw(st.integers(1, MAX_POINTS)),
                "effective_from": written_at,
            }
            fee = Decimal(0)
            if draw(st.booleans()):
                rate["fee_percent"], fee = draw(written(decimals("0", "99", 6)))
            blocks = draw(st.none() | st.integers(1, MAX_POINTS))
            if blocks is not None:
                rate["minimum_blocks"] = blocks
            rates.append(rate)
            expected["partner_rates"].append(
                ConversionRate(
                    Direction(rate["direction"]),
                    rate["points"],
                    rate["partner_units"],
                    effective,
                    fee,
                    blocks or 1,
                )
            )
        if rates or draw(st.booleans()):
            item["rates"] = rates
        doc["partners"].append(item)

    doc["rewards"] = []
    for key in draw(entity_keys(ENTITY, 4)):
        item = {"key": key, "name": draw(texts), "points_cost": draw(st.integers(1, MAX_POINTS))}
        if draw(st.booleans()):
            item["description"] = draw(texts)
        stock = draw(st.none() | st.integers(0, MAX_POINTS))
        if stock is not None:
            item["stock"] = stock
        if partner_keys and draw(st.booleans()):
            item["partner"] = draw(st.sampled_from(partner_keys))
        if draw(st.booleans()):
            item["limit"] = {
                "count": draw(st.integers(1, MAX_POINTS)),
                "period": draw(st.sampled_from([p.value for p in Period])),
            }
        if draw(st.booleans()):
            item["min_tier"] = draw(st.sampled_from(tier_keys))
        doc["rewards"].append(item)

    doc["purchase_rules"] = []
    expected["rule_values"] = []
    for key in draw(entity_keys(ENTITY, 5)):
        kind = draw(st.sampled_from(list(RuleKind)))
        item = {"key": key, "name": draw(texts), "kind": kind.value}
        multiplier = points = None
        if kind in (RuleKind.MULTIPLIER, RuleKind.EXCLUDE, RuleKind.PER_PRODUCT):
            item.update(draw(selectors(required=kind is not RuleKind.MULTIPLIER)))
        if kind is RuleKind.MULTIPLIER:
            item["multiplier"], multiplier = draw(written(decimals("0.000001", "100", 6)))
        if kind in (RuleKind.PER_PRODUCT, RuleKind.SPEND_THRESHOLD):
            item["points"] = points = draw(st.integers(1, MAX_POINTS))
        if kind in (RuleKind.MINIMUM_ORDER, RuleKind.SPEND_THRESHOLD):
            item["amounts"] = draw(amounts_in(currencies))
        expected["rule_values"].append(
            (
                key,
                kind,
                selector_of(item),
                multiplier,
                points,
                {c: Decimal(str(v)) for c, v in item.get("amounts", {}).items()},
            )
        )
        doc["purchase_rules"].append(item)

    doc["campaigns"] = []
    expected["campaign_values"] = []
    for key in draw(entity_keys(ENTITY, 4)):
        kind = draw(st.sampled_from(list(CampaignKind)))
        starts_written, starts = draw(moments(zone))
        ends_written, ends = draw(moments(zone, after=starts.replace(tzinfo=None)))
        item = {
            "key": key,
            "name": draw(texts),
            "kind": kind.value,
            "starts": starts_written,
            "ends": ends_written,
        }
        multiplier = points = None
        if kind is CampaignKind.MULTIPLIER:
            item["multiplier"], multiplier = draw(written(decimals("0.000001", "100", 6)))
        else:
            item["points"] = points = draw(st.integers(1, MAX_POINTS))
        if kind is not CampaignKind.FIRST_PURCHASE_OF_MONTH:
            item.update(draw(selectors(required=False)))
        if draw(st.booleans()):
            item["tiers"] = draw(st.lists(st.sampled_from(tier_keys), min_size=1, max_size=3))
        if partner_keys and draw(st.booleans()):
            item["partners"] = draw(st.lists(st.sampled_from(partner_keys), min_size=1, max_size=3))
        budget = draw(st.none() | st.integers(1, MAX_POINTS))
        if budget is not None:
            item["budget"] = budget
        expected["campaign_values"].append(
            (
                key,
                kind,
                starts,
                ends,
                multiplier,
                points,
                selector_of(item),
                frozenset(item.get("tiers", ())),
                frozenset(item.get("partners", ())),
                budget,
            )
        )
        doc["campaigns"].append(item)

    if draw(st.booleans()):
        referrer, referee = draw(
            st.tuples(st.integers(0, MAX_POINTS), st.integers(0, MAX_POINTS)).filter(any)
        )
        referral: dict[str, Any] = {"referrer_points": referrer, "referee_points": referee}
        if draw(st.booleans()):
            referral["minimum"] = draw(amounts_in(currencies))
        if draw(st.booleans()):
            referral["max_per_referrer"] = draw(st.integers(1, MAX_POINTS))
        doc["referral"] = referral
    for section in ("signup", "birthday"):
        if draw(st.booleans()):
            doc[section] = {"points": draw(st.integers(1, MAX_POINTS))}

    doc["badges"] = []
    for key in draw(entity_keys(ENTITY, 3)):
        item = {
            "key": key,
            "name": draw(texts),
            "metric": draw(
                st.sampled_from(
                    ["purchases", "points_earned", "referrals", "redemptions"]
                    + [f"actions:{a['key']}" for a in doc.get("actions", [])]
                )
            ),
            "levels": sorted(draw(st.sets(st.integers(1, 10**12), min_size=1, max_size=4))),
        }
        if draw(st.booleans()):
            item["description"] = draw(texts)
        doc["badges"].append(item)
    return doc, expected


def as_translations(value: str | dict[str, str]) -> dict[str, str]:
    return {"": value} if isinstance(value, str) else value


def translations(text: Text | None) -> dict[str, str] | None:
    return None if text is None else dict(text.translations)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_programs())
def test_any_valid_program_loads_and_keeps_its_values(case: tuple[dict[str, Any], dict[str, Any]]):
    doc, expected = case
    source = toml_document(doc)
    program = load_program(source)
    head = doc["program"]
    assert dict(program.name.translations) == as_translations(head["name"])
    assert program.timezone == head["timezone"]
    assert program.languages == tuple(head["languages"])
    assert program.expiry == expected["expiry"]
    assert program.reminder_days == doc.get("points", {}).get("reminder_days")
    assert dict(program.purchase_rates) == expected["rates"]
    assert program.purchase_pending_days == doc["purchases"].get("pending_days", 0)
    assert [
        (
            a.key,
            a.points,
            dict(a.name.translations),
            {cap.period.value: cap.count for cap in a.caps},
            a.cooldown,
            a.pending_days,
            a.expiry,
        )
        for a in program.actions.values()
    ] == [
        (
            a["key"],
            a["points"],
            as_translations(a["name"]),
            a.get("caps", {}),
            timedelta(minutes=a["cooldown_minutes"]) if "cooldown_minutes" in a else None,
            a.get("pending_days", 0),
            expiry,
        )
        for a, expiry in zip(doc["actions"], expected["action_expiry"], strict=True)
    ]
    assert [(t.key, t.threshold) for t in program.tiers] == [
        (t["key"], t["threshold"]) for t in doc["tiers"]
    ]
    assert [[dict(b.translations) for b in t.benefits] for t in program.tiers] == [
        [as_translations(b) for b in t["benefits"]] for t in doc["tiers"]
    ]
    assert [(p.key, p.currency, p.pending_days) for p in program.partners.values()] == [
        (p["key"], p["currency"], p.get("pending_days")) for p in doc["partners"]
    ]
    assert [r for p in program.partners.values() for r in p.rates] == expected["partner_rates"]
    assert [
        (
            r.key,
            dict(r.name.translations),
            r.points_cost,
            r.stock,
            r.partner,
            translations(r.description),
            r.limit,
            r.min_tier,
        )
        for r in program.rewards.values()
    ] == [
        (
            r["key"],
            as_translations(r["name"]),
            r["points_cost"],
            r.get("stock"),
            r.get("partner"),
            as_translations(r["description"]) if "description" in r else None,
            Cap(r["limit"]["count"], Period(r["limit"]["period"])) if "limit" in r else None,
            r.get("min_tier"),
        )
        for r in doc["rewards"]
    ]
    assert [
        (r.key, r.kind, r.selector, r.multiplier, r.points, dict(r.amounts))
        for r in program.purchase_rules
    ] == expected["rule_values"]
    assert [
        (
            c.key,
            c.kind,
            c.starts,
            c.ends,
            c.multiplier,
            c.points,
            c.selector,
            c.tiers,
            c.partners,
            c.budget,
        )
        for c in program.campaigns
    ] == expected["campaign_values"]
    assert all(c.starts < c.ends for c in program.campaigns)
    if "referral" in doc:
        written_referral = doc["referral"]
        assert program.referral == Referral(
            written_referral["referrer_points"],
            written_referral["referee_points"],
            {c: Decimal(str(v)) for c, v in written_referral.get("minimum", {}).items()},
            written_referral.get("max_per_referrer"),
        )
    else:
        assert program.referral is None
    assert program.signup_points == doc.get("signup", {}).get("points")
    assert program.birthday_points == doc.get("birthday", {}).get("points")
    assert [
        (b.key, dict(b.name.translations), translations(b.description), b.metric, b.levels)
        for b in program.badges
    ] == [
        (
            b["key"],
            as_translations(b["name"]),
            as_translations(b["description"]) if "description" in b else None,
            b["metric"],
            tuple(b["levels"]),
        )
        for b in doc["badges"]
    ]
    assert program.digest == hashlib.sha256(source.encode()).hexdigest()


_KNOWN_KEYS = """
    program name timezone languages points expiry reminder_days days end_of_year purchases
    rates pending_days purchase_rules campaigns kind multiplier amounts skus categories starts
    ends tiers partners budget actions key caps day week month year lifetime cooldown_minutes
    referral referrer_points referee_points minimum max_per_referrer signup birthday threshold
    benefits rewards description points_cost stock partner limit count period min_tier currency
    direction partner_units effective_from fee_percent minimum_blocks badges metric levels
    en ro RON EUR
"""
KNOWN_KEYS = _KNOWN_KEYS.split()
_WORDS = """
    UTC Nope/Zone en EUR RON REVIEW coffee MILE never IN OUT day lifetime multiplier exclude
    per_product minimum_order spend_threshold bonus first_purchase_of_month purchases
    actions:REVIEW gold shop
"""
leaves = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(),
    st.text(max_size=8),
    st.sampled_from(["", " ", "../x", "1.5", "-1", "0"]),
    st.sampled_from(_WORDS.split()),
    st.integers(-2, 3),
    st.dates(),
    st.datetimes().map(lambda d: d.replace(microsecond=0)),
    st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))])).map(
        lambda d: d.replace(microsecond=0)
    ),
)
junk = st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(KNOWN_KEYS) | st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=12,
)


def tables(keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from([*keys, "extra"]), junk, max_size=len(keys) + 1)


def lists_of(keys: list[str]) -> st.SearchStrategy[Any]:
    return st.lists(tables(keys), max_size=3) | junk


documents = st.fixed_dictionaries(
    {},
    optional={
        "program": tables(["name", "timezone", "languages"]) | junk,
        "points": tables(["expiry", "reminder_days"]) | junk,
        "purchases": st.fixed_dictionaries(
            {"rates": st.dictionaries(st.text(max_size=4), junk)},
            optional={"pending_days": junk},
        )
        | junk,
        "purchase_rules": lists_of(
            ["key", "name", "kind", "skus", "categories", "multiplier", "points", "amounts"]
        ),
        "campaigns": lists_of(
            [
                "key",
                "name",
                "kind",
                "starts",
                "ends",
                "multiplier",
                "points",
                "skus",
                "categories",
                "tiers",
                "partners",
                "budget",
            ]
        ),
        "actions": lists_of(
            ["key", "name", "points", "caps", "cooldown_minutes", "pending_days", "expiry"]
        ),
        "referral": tables(["referrer_points", "referee_points", "minimum", "max_per_referrer"])
        | junk,
        "signup": tables(["points"]) | junk,
        "birthday": tables(["points"]) | junk,
        "tiers": lists_of(["key", "name", "threshold", "benefits"]),
        "rewards": lists_of(
            ["key", "name", "description", "points_cost", "stock", "partner", "limit", "min_tier"]
        ),
        "partners": st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "key": junk,
                    "name": junk,
                    "currency": junk,
                    "pending_days": junk,
                    "rates": lists_of(
                        [
                            "direction",
                            "points",
                            "partner_units",
                            "effective_from",
                            "fee_percent",
                            "minimum_blocks",
                        ]
                    ),
                },
            ),
            max_size=3,
        )
        | junk,
        "badges": lists_of(["key", "name", "description", "metric", "levels"]),
        "misc": junk,
    },
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_any_document_loads_or_is_reported_but_never_raises_anything_else(doc: dict[str, Any]):
    source = toml_document(doc)
    invalid: ProgramInvalid | None = None
    try:
        load_program(source)
    except ProgramInvalid as error:
        invalid = error
    if invalid is None:
        return
    assert invalid.problems
    for problem in invalid.problems:
        assert isinstance(problem.message, str)
        assert problem.message
    assert str(invalid) == "\n".join(str(p) for p in invalid.problems)
    assert not any(p.message.startswith("not valid TOML") for p in invalid.problems), (
        "the generator must only write valid TOML"
    )


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_programs(), st.data())
def test_a_valid_program_with_one_section_spoiled_is_reported_not_raised(
    case: tuple[dict[str, Any], dict[str, Any]], data: st.DataObject
):
    # Valid documents reach the deeper checks (references, kinds, moments) that junk rarely
    # gets to; replacing one value anywhere with junk must still give located problems.
    doc, _ = case
    section = data.draw(st.sampled_from(sorted(doc)))
    value = doc[section]
    if isinstance(value, list) and value:
        index = data.draw(st.integers(0, len(value) - 1))
        item = value[index]
        item[data.draw(st.sampled_from(sorted(item)))] = data.draw(junk)
    elif isinstance(value, dict) and value:
        value[data.draw(st.sampled_from(sorted(value)))] = data.draw(junk)
    else:
        doc[section] = data.draw(junk)
    invalid: ProgramInvalid | None = None
    try:
        load_program(toml_document(doc))
    except ProgramInvalid as error:
        invalid = error
    if invalid is not None:
        assert invalid.problems
        assert all(p.message for p in invalid.problems)


PARTNER_KEY = "shop"  # RICH's partner


def board(metric: str = '"points_earned"', periods: str = '["ALL_TIME", "WEEK"]') -> str:
    return (
        f'[[leaderboards]]\nkey = "points"\nname = "Top"\nmetric = {metric}\nperiods = {periods}\n'
    )


def test_a_leaderboard_may_be_kept_for_one_partner():
    boards = load_program(RICH + board() + f'partner = "{PARTNER_KEY}"\n').leaderboards
    assert boards[0].partner == PARTNER_KEY
    assert load_program(RICH + board()).leaderboards[0].partner is None


def test_a_leaderboard_is_kept_with_its_periods():
    boards = load_program(RICH + board()).leaderboards
    assert [(b.key, b.metric, [p.value for p in b.periods]) for b in boards] == [
        ("points", "points_earned", ["ALL_TIME", "WEEK"])
    ]
    default = load_program(RICH + board().replace('periods = ["ALL_TIME", "WEEK"]\n', ""))
    assert [p.value for p in default.leaderboards[0].periods] == ["ALL_TIME"]


@pytest.mark.parametrize(
    ("snippet", "path", "fragment"),
    [
        (board(periods='["DAILY"]'), "leaderboards[0].periods[0]", "is not one of"),
        (board(periods="[]"), "leaderboards[0].periods", "must be a list"),
        (board(metric='"actions:NOPE"'), "leaderboards[0].metric", "no action has the key"),
        (board(metric='"likes"'), "leaderboards[0].metric", "does not match the pattern"),
        (board() + 'partner = "nobody"\n', "leaderboards[0].partner", "no partner has the key"),
        (
            board(metric='"referrals"') + f'partner = "{PARTNER_KEY}"\n',
            "leaderboards[0].partner",
            "a partner's board ranks points_earned or purchases",
        ),
    ],
)
def test_a_leaderboard_mistake_is_located(snippet: str, path: str, fragment: str):
    problem = only_problem(RICH + snippet)
    assert problem.path == path
    assert fragment in problem.message


def test_a_per_product_rule_pays_for_ten_units_a_purchase_unless_it_says_otherwise():
    rules = load_program(
        RICH
        + rule("per_product", 'skus = ["CUP"]\npoints = 10\n', '"cup"')
        + rule("per_product", 'skus = ["BAG"]\npoints = 5\nmax_units = 2\n', '"bag"')
    ).purchase_rules
    assert [(r.key, r.max_units) for r in rules] == [("cup", 10), ("bag", 2)]


@pytest.mark.parametrize("value", ["0", "-1", "1000001", '"3"', "2.5"])
def test_a_per_product_limit_must_be_a_whole_number_of_units(value: str):
    problem = only_problem(
        RICH + rule("per_product", f'skus = ["CUP"]\npoints = 10\nmax_units = {value}\n')
    )
    assert problem.path == "purchase_rules[0].max_units"
