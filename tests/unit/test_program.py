"""The program file: the demo loads, and every mistake is reported with its location."""

from __future__ import annotations

import hashlib
import math
import re
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.settings import DEMO_PROGRAM
from domain.program import MAX_POINTS, Problem, ProgramInvalid, Text, load_program

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


# -- the demo program ------------------------------------------------------------------------


def test_the_demo_program_loads_with_its_documented_contents():
    program = load_program(DEMO_PROGRAM.read_text())
    assert program.name.get("en") == "Orbit Rewards"
    assert program.name.get("ro") == "Orbit Recompense"
    assert program.timezone == "Europe/Bucharest"
    assert program.languages == ("en", "ro")
    assert program.expiry_days == 365
    assert dict(program.purchase_rates) == {
        "RON": Decimal(1),
        "EUR": Decimal(5),
        "USD": Decimal("4.5"),
        "PLN": Decimal("1.2"),
        "TRY": Decimal("0.15"),
    }
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
    assert program.rewards["plant-a-tree"].description is not None
    assert program.rewards["coffee"].description is None
    assert [(p.key, p.currency) for p in program.partners.values()] == [
        ("skyways", "MILE"),
        ("beanery", "BEAN"),
        ("paper-lantern", "LEAF"),
    ]
    assert program.partners["beanery"].name.get() == "The Beanery"
    assert program.version is None
    assert program.source == DEMO_PROGRAM.read_text()


def test_the_minimal_program_has_defaults_for_what_it_leaves_out():
    program = load_program(MINIMAL)
    assert program.timezone == "UTC"
    assert program.languages == ("en",)
    assert program.expiry_days is None
    assert dict(program.actions) == {}
    assert dict(program.rewards) == {}
    assert dict(program.partners) == {}
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
expiry_days = 30

[purchases]
rates = { RON = 1 }

[[actions]]
key = "REVIEW"
name = "Review"
points = 10

[[tiers]]
key = "base"
name = "Base"
threshold = 0

[[partners]]
key = "shop"
name = "Shop"
currency = "COIN"

[[rewards]]
key = "mug"
name = "Mug"
points_cost = 100
partner = "shop"
"""


def test_the_full_fixture_is_valid():
    program = load_program(FULL)
    assert program.expiry_days == 30
    assert program.rewards["mug"].partner == "shop"


@pytest.mark.parametrize(
    ("after", "typo", "path", "expected"),
    [
        ('name = "Test"\n', "nmae = 1\n", "program.nmae", "languages, name, timezone"),
        ("expiry_days = 30\n", "expiry = 30\n", "points.expiry", "expiry_days"),
        ("rates = { RON = 1 }\n", "rate = 2\n", "purchases.rate", "rates"),
        ("points = 10\n", "point = 10\n", "actions[0].point", "key, name, points"),
        (
            "threshold = 0\n",
            "treshold = 0\n",
            "tiers[0].treshold",
            "benefits, key, name, threshold",
        ),
        ('currency = "COIN"\n', 'curency = "X"\n', "partners[0].curency", "currency, key, name"),
        (
            'partner = "shop"\n',
            "cost = 100\n",
            "rewards[0].cost",
            "description, key, name, partner, points_cost, stock",
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


def test_an_unknown_top_level_table_is_reported():
    problem = only_problem(FULL + "\n[reward]\nkey = 'x'\n")
    assert problem.path == "reward"
    assert problem.message.startswith("unknown key (expected one of: ")
    assert "rewards" in problem.message


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
    ],
    ids=["action-key", "partner-key", "partner-currency"],
)
def test_keys_with_a_trailing_newline_are_rejected(snippet: str, path: str):
    # The same whole-value matching for keys and partner currencies.
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
    ],
)
def test_a_rate_that_is_not_a_number_is_reported(value: str, fragment: str):
    problem = only_problem(with_rates(f"{{ RON = {value} }}"))
    assert problem.path == "purchases.rates.RON"
    assert fragment in problem.message


@pytest.mark.parametrize(
    "value",
    [
        *["0", "0.0", '"0"', '"0.000"', "-1", '"-0.5"', "-0.0", "10001", '"10000.0001"', "1e9"],
    ],
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


# -- actions ---------------------------------------------------------------------------------


def action(key: str = '"REVIEW"', points: str = "50", name: str = '"Review"') -> str:
    return f"[[actions]]\nkey = {key}\nname = {name}\npoints = {points}\n"


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


# -- rewards and partners --------------------------------------------------------------------


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


# -- several mistakes at once ----------------------------------------------------------------


def test_every_mistake_in_a_file_is_reported_not_just_the_first():
    source = """\
colour = "blue"

[program]
name = "Test"
timezone = "Mars/Olympus"

[points]
expiry_days = 0

[purchases]
rates = { RON = 0, eur = 1 }

[[actions]]
key = "REVIEW"
name = "Review"
points = 10

[[actions]]
key = "REVIEW"
name = "Again"
points = 10

[[tiers]]
key = "base"
name = "Base"
threshold = 5

[[partners]]
key = "shop"
name = "Shop"
currency = "coin"

[[rewards]]
key = "mug"
name = { en = "" }
points_cost = 0
stock = -1
"""
    with pytest.raises(ProgramInvalid) as caught:
        load_program(source)
    problems = caught.value.problems
    assert set(paths(problems)) == {
        "colour",
        "program.timezone",
        "points.expiry_days",
        "purchases.rates.RON",
        "purchases.rates.eur",
        "actions[1].key",
        "tiers[0].threshold",
        "partners[0].currency",
        "rewards[0].name.en",
        "rewards[0].points_cost",
        "rewards[0].stock",
    }
    lines = str(caught.value).splitlines()
    assert lines == [f"{p.path}: {p.message}" for p in problems]
    assert "points.expiry_days: must be a whole number from 1 to 36500" in lines


@pytest.mark.parametrize("days", ["0", "36501", "1.5", '"30"', "true"])
def test_a_bad_expiry_is_reported(days: str):
    problem = only_problem(MINIMAL + f"[points]\nexpiry_days = {days}\n")
    assert problem.path == "points.expiry_days"


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
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{" + ", ".join(f"{toml_string(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
        )
    raise TypeError(value)


def toml_document(document: dict[str, Any]) -> str:
    return "".join(f"{toml_string(k)} = {toml_value(v)}\n" for k, v in document.items())


words = st.text(min_size=1, max_size=12).filter(lambda s: s.strip())
languages = st.sampled_from(["en", "ro", "de", "fr", "hu", "pt-BR", "fil"])
texts = st.one_of(words, st.dictionaries(languages, words, min_size=1, max_size=3))
rates = st.decimals(
    min_value=Decimal("0.0001"), max_value=Decimal(10000), places=4, allow_nan=False
)


def entity_keys(pattern: str, size: int) -> st.SearchStrategy[list[str]]:
    return st.lists(st.from_regex(pattern, fullmatch=True), min_size=0, max_size=size, unique=True)


@st.composite
def valid_programs(draw: st.DrawFn) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "program": {
            "name": draw(texts),
            "timezone": draw(st.sampled_from(["UTC", "Europe/Bucharest", "America/New_York"])),
            "languages": draw(st.lists(languages, min_size=1, max_size=3, unique=True)),
        }
    }
    expiry = draw(st.none() | st.integers(1, 36_500))
    if expiry is not None:
        doc["points"] = {"expiry_days": expiry}
    currencies = draw(
        st.lists(st.from_regex("[A-Z]{3}", fullmatch=True), min_size=1, max_size=4, unique=True)
    )
    doc["purchases"] = {"rates": {}}
    for currency in currencies:
        rate = draw(rates)
        doc["purchases"]["rates"][currency] = (
            int(rate) if rate == rate.to_integral_value() and draw(st.booleans()) else str(rate)
        )
    doc["actions"] = [
        {"key": key, "name": draw(texts), "points": draw(st.integers(1, MAX_POINTS))}
        for key in draw(entity_keys("[A-Z][A-Z0-9_]{1,20}", 4))
    ]
    thresholds = sorted(draw(st.sets(st.integers(1, MAX_POINTS), max_size=4)))
    tier_keys = draw(
        st.lists(
            st.from_regex("[a-z][a-z0-9_-]{0,20}", fullmatch=True),
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
    partner_keys = draw(entity_keys("[a-z][a-z0-9_-]{0,20}", 3))
    doc["partners"] = [
        {
            "key": key,
            "name": draw(texts),
            "currency": draw(st.from_regex("[A-Z][A-Z0-9]{1,9}", fullmatch=True)),
        }
        for key in partner_keys
    ]
    doc["rewards"] = []
    for key in draw(entity_keys("[a-z][a-z0-9_-]{0,20}", 4)):
        item: dict[str, Any] = {
            "key": key,
            "name": draw(texts),
            "points_cost": draw(st.integers(1, MAX_POINTS)),
        }
        if draw(st.booleans()):
            item["description"] = draw(texts)
        stock = draw(st.none() | st.integers(0, MAX_POINTS))
        if stock is not None:
            item["stock"] = stock
        if partner_keys and draw(st.booleans()):
            item["partner"] = draw(st.sampled_from(partner_keys))
        doc["rewards"].append(item)
    return doc


def as_translations(value: str | dict[str, str]) -> dict[str, str]:
    return {"": value} if isinstance(value, str) else value


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_programs())
def test_any_valid_program_loads_and_keeps_its_values(doc: dict[str, Any]):
    source = toml_document(doc)
    program = load_program(source)
    head = doc["program"]
    assert dict(program.name.translations) == as_translations(head["name"])
    assert program.timezone == head["timezone"]
    assert program.languages == tuple(head["languages"])
    assert program.expiry_days == doc.get("points", {}).get("expiry_days")
    assert dict(program.purchase_rates) == {
        c: Decimal(str(v)) for c, v in doc["purchases"]["rates"].items()
    }
    assert [(a.key, a.points, dict(a.name.translations)) for a in program.actions.values()] == [
        (a["key"], a["points"], as_translations(a["name"])) for a in doc["actions"]
    ]
    assert [(t.key, t.threshold) for t in program.tiers] == [
        (t["key"], t["threshold"]) for t in doc["tiers"]
    ]
    assert [[dict(b.translations) for b in t.benefits] for t in program.tiers] == [
        [as_translations(b) for b in t["benefits"]] for t in doc["tiers"]
    ]
    assert [(p.key, p.currency) for p in program.partners.values()] == [
        (p["key"], p["currency"]) for p in doc["partners"]
    ]
    assert [
        (
            r.key,
            dict(r.name.translations),
            r.points_cost,
            r.stock,
            r.partner,
            None if r.description is None else dict(r.description.translations),
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
        )
        for r in doc["rewards"]
    ]
    assert program.digest == hashlib.sha256(source.encode()).hexdigest()


KNOWN_KEYS = [
    "program", "name", "timezone", "languages", "points", "expiry_days", "purchases", "rates",
    "actions", "key", "tiers", "threshold", "benefits", "rewards", "description",
    "points_cost", "stock", "partner", "partners", "currency", "en", "ro", "RON", "EUR",
]  # fmt: skip
leaves = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(),
    st.text(max_size=8),
    st.sampled_from(
        ["", " ", "UTC", "Nope/Zone", "../x", "en", "EUR", "REVIEW", "coffee", "MILE", "1.5", "-1"]
    ),
    st.integers(-2, 3),
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


documents = st.fixed_dictionaries(
    {},
    optional={
        "program": tables(["name", "timezone", "languages"]) | junk,
        "points": tables(["expiry_days"]) | junk,
        "purchases": st.fixed_dictionaries({"rates": st.dictionaries(st.text(max_size=4), junk)})
        | junk,
        "actions": st.lists(tables(["key", "name", "points"]), max_size=3) | junk,
        "tiers": st.lists(tables(["key", "name", "threshold", "benefits"]), max_size=3) | junk,
        "rewards": st.lists(
            tables(["key", "name", "description", "points_cost", "stock", "partner"]), max_size=3
        )
        | junk,
        "partners": st.lists(tables(["key", "name", "currency"]), max_size=3) | junk,
        "misc": junk,
    },
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
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


def test_the_toml_writer_used_by_the_properties_round_trips():
    import tomllib

    doc = {"a": ['x"\\\n\x7f', 1.5, float("inf"), True, {"k y": [1, {"z": "é😀"}]}]}
    loaded = tomllib.loads(toml_document(doc))
    assert loaded["a"][0] == 'x"\\\n\x7f'
    assert loaded["a"][1:] == [1.5, float("inf"), True, {"k y": [1, {"z": "é😀"}]}]
    assert re.fullmatch(r'"a" = \[.*\]\n', toml_document(doc))
