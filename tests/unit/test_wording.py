"""What the ledger tells members, made again in their language (domain/wording.py), and the
program file's [wording] section that translates its phrases."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from domain import wording
from domain.earning import Circumstances, Purchase, PurchaseLine, points_for, within_budgets
from domain.program_file import ProgramInvalid, load_program
from domain.views import TransactionView
from tests.helpers import BASE_PROGRAM

DOCS = Path(__file__).parents[2] / "deploy" / "program-file.md"
AT = Circumstances(occurred_at=datetime(2026, 5, 5, 12, 0, tzinfo=UTC))
COFFEE = Purchase(
    amount=Decimal("12.5"),
    currency="RON",
    lines=(PurchaseLine("LATTE", "coffee", 1, Decimal("12.5")),),
)

RULES = """
[[purchase_rules]]
key = "coffee-x2"
name = { en = "Coffee double", ro = "Cafea dublă" }
kind = "multiplier"
multiplier = 2
categories = ["coffee"]

[[campaigns]]
key = "spring"
name = { en = "Spring bonus", ro = "Bonus de primăvară" }
kind = "bonus"
points = 40
budget = 100
starts = 2026-01-01
ends = 2027-01-01
"""
WORDING = """
[wording]
base = { ro = "{rate} puncte pe {currency} la {amount}" }
multiplier = "{name} (x{multiplier})"
budget_ran_out = { ro = "{line} (bugetul s-a terminat)" }
redeemed = { ro = "Ai folosit: {name}" }
purchase = { ro = "Cumpărătura {order}" }
expired = { en = "Points expired", ro = "Puncte expirate" }
repaid_on_release = { ro = "Punctele eliberate au acoperit datoria" }
"""
PROGRAM = load_program(BASE_PROGRAM.read_text() + RULES + WORDING)


def transaction(kind: str, description: str | None, reference=None, breakdown=()):
    moment = datetime(2026, 5, 5, tzinfo=UTC)
    return TransactionView(
        1, 1, kind, 10, 10, description, reference, None, moment, moment, list(breakdown)
    )


def test_every_phrase_is_documented_for_operators():
    section = DOCS.read_text().split("## [wording]")[1].split("\n## ")[0]
    table = dict(re.findall(r"^\| `([a-z_]+)` \| (.+) \|$", section, re.MULTILINE))
    assert table == dict(wording.PHRASES)


def test_a_line_is_made_again_in_the_callers_language_with_the_values_it_was_earned_with():
    award = points_for(COFFEE, AT, PROGRAM)
    base, multiplier, bonus = award.breakdown_json()
    # Stored in the program's first language: the plain-string wording is every language's.
    assert base["description"] == "1 point per RON on 12.50 RON"
    assert multiplier["description"] == "Coffee double (x2)"
    assert bonus["description"] == "Spring bonus"
    assert wording.line_text(base, PROGRAM, "ro") == "1 puncte pe RON la 12.50 RON"
    assert wording.line_text(multiplier, PROGRAM, "ro") == "Cafea dublă (x2)"
    assert wording.line_text(bonus, PROGRAM, "ro") == "Bonus de primăvară"
    # No language, or one the program does not speak: the stored text exactly.
    for language in (None, "en", "de"):
        assert [wording.line_text(line, PROGRAM, language) for line in (base, multiplier)] == [
            base["description"],
            multiplier["description"],
        ]


def test_one_point_has_its_own_phrase_and_a_language_without_it_says_the_general_one():
    base = points_for(COFFEE, AT, PROGRAM).breakdown_json()[0]
    assert base["say"] == "base_one"
    # The program words only the general phrase in Romanian: it is said for one point too.
    assert wording.line_text(base, PROGRAM, "ro") == "1 puncte pe RON la 12.50 RON"
    singular = load_program(
        BASE_PROGRAM.read_text()
        + RULES
        + WORDING.replace(
            "[wording]\n", '[wording]\nbase_one = { ro = "1 punct pe {currency} la {amount}" }\n'
        )
    )
    assert wording.line_text(base, singular, "ro") == "1 punct pe RON la 12.50 RON"
    assert wording.line_text(base, singular, None) == "1 point per RON on 12.50 RON"


def test_a_cut_line_says_its_budget_ran_out_in_the_callers_language():
    award = points_for(Purchase(amount=Decimal(10), currency="RON"), AT, PROGRAM)
    cut = within_budgets(award, {"spring": 15}, PROGRAM)
    line = cut.breakdown_json()[-1]
    assert line["description"] == "Spring bonus (the campaign's budget ran out)"
    assert wording.line_text(line, PROGRAM, "ro") == "Bonus de primăvară (bugetul s-a terminat)"


def test_what_cannot_be_made_again_is_read_as_stored():
    award = points_for(COFFEE, AT, PROGRAM)
    multiplier = award.breakdown_json()[1]
    assert multiplier["rule"] == "rule:coffee-x2"
    # The program has since dropped the rule.
    without = load_program(BASE_PROGRAM.read_text() + WORDING)
    assert wording.line_text(multiplier, without, "ro") == "Coffee double (x2)"
    # A line from before phrases were kept.
    old = {"rule": "base", "description": "1 points per RON on 10.00 RON", "points": "10"}
    assert wording.line_text(old, PROGRAM, "ro") == "1 points per RON on 10.00 RON"
    # A stored value missing, or a phrase this code does not know.
    assert wording.line_text({**award.breakdown_json()[0], "values": {}}, PROGRAM, "ro") == (
        "1 point per RON on 12.50 RON"
    )
    odd = {"rule": "base", "description": "as stored", "say": "no-such-phrase"}
    assert wording.line_text(odd, PROGRAM, "ro") == "as stored"


def test_descriptions_follow_the_transactions_kind_reference_and_first_line():
    line = points_for(Purchase(amount=Decimal(10), currency="RON"), AT, PROGRAM).breakdown_json()
    cases = [
        (transaction("EARN", "Purchase A-1", "A-1", line), "Cumpărătura A-1"),
        (transaction("REDEEM", "Redeemed: Any coffee at The Beanery", "coffee"), None),
        (transaction("EXPIRE", "Points expired"), "Puncte expirate"),
        (transaction("REFUND", "Refund of order A-1", "A-1"), "Refund of order A-1"),
        (transaction("REPAY", "Released points applied to points owed"), None),
        (transaction("ADJUST", "Points expired"), "Points expired"),  # the operator's words
        # A purchase written before phrases were kept is still a purchase.
        (transaction("EARN", "Purchase B-2", "B-2", [{"rule": "base"}]), "Cumpărătura B-2"),
        # A reward the program no longer has: as stored.
        (transaction("REDEEM", "Redeemed: Gone", "gone"), "Redeemed: Gone"),
    ]
    expected_ro = {
        "coffee": "Ai folosit: Orice cafea la The Beanery",
        "REPAY": "Punctele eliberate au acoperit datoria",
    }
    for view, ro in cases:
        wanted = ro or expected_ro.get(view.reference or view.kind)
        assert wording.description(view, PROGRAM, "ro") == wanted, view
        assert wording.description(view, PROGRAM, None) == view.description, view


def test_old_bonus_rows_are_recognised_by_their_words():
    referred = [{"rule": "referral", "description": "Referred by a friend", "points": "250"}]
    view = transaction("REFERRAL", "Welcome bonus: a friend referred you", "purchase:7", referred)
    ro = load_program(
        BASE_PROGRAM.read_text()
        + '[wording]\nreferee_welcome = { ro = "Bun venit: te-a recomandat un prieten" }\n'
        + 'referred_by_friend = { ro = "Recomandat de un prieten" }\n'
    )
    assert wording.description(view, ro, "ro") == "Bun venit: te-a recomandat un prieten"
    assert wording.line_text(referred[0], ro, "ro") == "Recomandat de un prieten"


@pytest.mark.parametrize(
    ("section", "path", "fragment"),
    [
        ('nope = "x"\n', "wording.nope", "is not a phrase"),
        ('redeemed = { ro = "Ai folosit: {reward}" }\n', "wording.redeemed.ro", "{reward} is not"),
        ('expired = "{name} expired"\n', "wording.expired", "(it has none)"),
        ('redeemed = { ro = "Ai folosit: {name!r}" }\n', "wording.redeemed.ro", "nothing after"),
        ('redeemed = { ro = "Ai folosit: {name:>9}" }\n', "wording.redeemed.ro", "nothing after"),
        ('redeemed = { ro = "Ai folosit: {0}" }\n', "wording.redeemed.ro", "{0} is not"),
        ('redeemed = { ro = "Ai folosit: {name" }\n', "wording.redeemed.ro", "{{ or }}"),
        ("redeemed = 7\n", "wording.redeemed", "must be a string"),
    ],
)
def test_a_phrase_worded_wrongly_is_reported_where_it_is(section: str, path: str, fragment: str):
    with pytest.raises(ProgramInvalid) as refused:
        load_program(BASE_PROGRAM.read_text() + "\n[wording]\n" + section)
    [problem] = refused.value.problems
    assert problem.path == path
    assert fragment in problem.message, problem.message


def test_braces_written_twice_and_fewer_placeholders_are_fine():
    program = load_program(
        BASE_PROGRAM.read_text() + '\n[wording]\nredeemed = { ro = "{{cadou}} folosit" }\n'
    )
    view = transaction("REDEEM", "Redeemed: Any coffee at The Beanery", "coffee")
    assert wording.description(view, program, "ro") == "{cadou} folosit"
