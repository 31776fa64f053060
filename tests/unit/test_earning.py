"""Points for purchases and actions: base rate per currency, rounded down once at the end."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal, localcontext

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.settings import DEMO_PROGRAM
from domain.earning import (
    Award,
    BaseRate,
    BreakdownLine,
    Purchase,
    points_for,
    points_for_action,
    purchase_rules,
)
from domain.program import load_program

DEMO = load_program(DEMO_PROGRAM.read_text())
RULES = purchase_rules(DEMO)


def demo_points(amount: str, currency: str, shipping: str = "0", tax: str = "0") -> Award:
    purchase = Purchase(
        amount=Decimal(amount), currency=currency, shipping=Decimal(shipping), tax=Decimal(tax)
    )
    return points_for(purchase, RULES)


def exact_floor(value: Decimal) -> int:
    return math.floor(value)


def exact_product(a: Decimal, b: Decimal) -> Decimal:
    with localcontext() as context:
        context.prec = 200
        return a * b


@pytest.mark.parametrize(
    ("amount", "currency", "points"),
    [
        ("100", "RON", 100),
        ("100", "EUR", 500),
        ("100", "USD", 450),
        ("100", "PLN", 120),
        ("100", "TRY", 15),
        ("99.99", "RON", 99),
        ("0.9", "PLN", 1),  # 1.08: rounding the amount first would give 0
        ("6.66", "TRY", 0),  # 0.999
        ("6.6667", "TRY", 1),  # 1.000005
        ("0.2", "EUR", 1),
        ("0.19", "EUR", 0),  # 0.95
        ("0.0001", "USD", 0),
        ("999999999999.9999", "RON", 999999999999),
        ("999999999999.9999", "EUR", 4999999999999),
    ],
)
def test_the_base_rate_of_each_currency_applies_to_the_amount(
    amount: str, currency: str, points: int
):
    award = demo_points(amount, currency)
    assert award.points == points
    assert len(award.breakdown) == 1
    line = award.breakdown[0]
    assert line.rule == "base"
    assert line.points == Decimal(amount) * DEMO.purchase_rates[currency]
    assert currency in line.description
    assert str(DEMO.purchase_rates[currency]) in line.description


def test_shipping_and_tax_earn_nothing():
    # (129.99 - 10 - 20.50) * 4.5 = 447.705
    award = demo_points("129.99", "USD", shipping="10", tax="20.50")
    assert award.points == 447
    assert award.breakdown[0].points == Decimal("447.705")
    assert "99.49 USD" in award.breakdown[0].description


def test_the_eligible_amount_is_never_negative():
    purchase = Purchase(amount=Decimal(10), currency="RON", shipping=Decimal(8), tax=Decimal(5))
    assert purchase.eligible_amount == Decimal(0)
    award = points_for(purchase, RULES)
    assert award.points == 0
    assert award.breakdown[0].points == Decimal(0)


def test_the_eligible_amount_is_the_amount_less_shipping_and_tax():
    purchase = Purchase(
        amount=Decimal("50.00"), currency="EUR", shipping=Decimal("4.99"), tax=Decimal("8.01")
    )
    assert purchase.eligible_amount == Decimal(37)


@pytest.mark.parametrize("currency", ["GBP", "ron", "", "MILE"])
def test_a_currency_without_a_rate_earns_nothing_and_has_no_line(currency: str):
    award = points_for(Purchase(amount=Decimal(100), currency=currency), RULES)
    assert award == Award(points=0, breakdown=())
    assert award.breakdown_json() == []


@dataclass(frozen=True)
class Fixed:
    points: Decimal

    def evaluate(self, purchase: Purchase) -> BreakdownLine | None:
        return BreakdownLine(rule="fixed", description="fixed", points=self.points)


@dataclass(frozen=True)
class Nothing:
    def evaluate(self, purchase: Purchase) -> BreakdownLine | None:
        return None


def test_fractions_of_several_rules_are_added_before_rounding_down_once():
    purchase = Purchase(amount=Decimal("0.5"), currency="RON")
    award = points_for(purchase, [BaseRate({"RON": Decimal(1)}), Fixed(Decimal("0.6")), Nothing()])
    assert award.points == 1  # 0.5 + 0.6, not 0 + 0
    assert [line.rule for line in award.breakdown] == ["base", "fixed"]
    assert award.breakdown_json() == [
        {"rule": "base", "description": "1 points per RON on 0.5 RON", "points": "0.5"},
        {"rule": "fixed", "description": "fixed", "points": "0.6"},
    ]


def test_no_rules_earn_nothing():
    award = points_for(Purchase(amount=Decimal(100), currency="RON"), [])
    assert award == Award(points=0, breakdown=())


def test_a_high_precision_rate_is_still_rounded_down_exactly():
    # In the default decimal context (28 digits, half even) 1 x 0.999... (29 nines) would be
    # rounded to 1 before the floor. The loader refuses rates with more than six decimals;
    # the arithmetic must not depend on that.
    rate = BaseRate({"PLN": Decimal(f"0.{'9' * 29}")})
    award = points_for(Purchase(amount=Decimal(1), currency="PLN"), [rate])
    assert award.points == 0


def test_an_action_earns_its_points_with_one_line():
    award = points_for_action("REVIEW", DEMO)
    assert award is not None
    assert award.points == 50
    assert award.breakdown == (
        BreakdownLine(
            rule="action:REVIEW", description="Write a product review", points=Decimal(50)
        ),
    )
    assert award.breakdown_json() == [
        {"rule": "action:REVIEW", "description": "Write a product review", "points": "50"}
    ]


@pytest.mark.parametrize("key", [a for a in DEMO.actions])
def test_every_demo_action_earns_its_program_points(key: str):
    award = points_for_action(key, DEMO)
    assert award is not None
    assert award.points == DEMO.actions[key].points
    assert sum(line.points for line in award.breakdown) == award.points


@pytest.mark.parametrize("key", ["review", "UNKNOWN", "", "REVIEW ", "coffee"])
def test_an_unknown_action_earns_nothing(key: str):
    assert points_for_action(key, DEMO) is None


# -- properties ------------------------------------------------------------------------------

amounts = st.decimals(
    min_value=Decimal(0), max_value=Decimal("999999999999.9999"), places=4, allow_nan=False
)
rates = st.decimals(min_value=Decimal("0.000001"), max_value=Decimal(10000), places=6)
rate_tables = st.dictionaries(
    st.sampled_from(["RON", "EUR", "USD", "PLN", "TRY", "JPY"]), rates, min_size=1, max_size=4
)


@st.composite
def purchases(draw: st.DrawFn) -> tuple[dict[str, Decimal], Purchase]:
    table = draw(rate_tables)
    currency = draw(st.sampled_from(sorted(table)))
    amount = draw(amounts)
    shipping = draw(st.one_of(st.just(Decimal(0)), amounts))
    tax = draw(st.one_of(st.just(Decimal(0)), amounts))
    return table, Purchase(amount=amount, currency=currency, shipping=shipping, tax=tax)


@settings(max_examples=150, deadline=None)
@given(purchases())
def test_points_are_the_floor_of_the_eligible_amount_times_the_rate(
    case: tuple[dict[str, Decimal], Purchase],
):
    table, purchase = case
    award = points_for(purchase, [BaseRate(table)])
    eligible = purchase.eligible_amount
    exact = exact_product(eligible, table[purchase.currency])
    assert eligible >= 0
    assert award.points >= 0
    assert award.points == exact_floor(exact)
    assert award.points <= exact_product(max(table.values()), eligible)
    total = sum((line.points for line in award.breakdown), Decimal(0))
    assert award.points <= total < award.points + 1


@settings(max_examples=150, deadline=None)
@given(purchases())
def test_demo_points_are_the_floor_of_the_eligible_amount_times_the_demo_rate(
    case: tuple[dict[str, Decimal], Purchase],
):
    _, drawn = case
    for currency, rate in DEMO.purchase_rates.items():
        purchase = Purchase(drawn.amount, currency, drawn.shipping, drawn.tax)
        award = points_for(purchase, RULES)
        assert award.points == exact_floor(exact_product(purchase.eligible_amount, rate))
        assert award.points <= exact_product(max(DEMO.purchase_rates.values()), drawn.amount)


@settings(max_examples=150, deadline=None)
@given(rate_tables, st.data(), amounts, amounts, amounts)
def test_points_never_fall_when_the_amount_rises(
    table: dict[str, Decimal], data: st.DataObject, a: Decimal, b: Decimal, shipping: Decimal
):
    currency = data.draw(st.sampled_from(sorted(table)))
    low, high = sorted([a, b])
    rules = [BaseRate(table)]
    fewer = points_for(Purchase(low, currency, shipping=shipping), rules).points
    more = points_for(Purchase(high, currency, shipping=shipping), rules).points
    assert 0 <= fewer <= more


@settings(max_examples=200, deadline=None)
@given(amounts, amounts, amounts)
def test_the_eligible_amount_is_never_negative_and_never_more_than_the_amount(
    amount: Decimal, shipping: Decimal, tax: Decimal
):
    eligible = Purchase(amount, "RON", shipping=shipping, tax=tax).eligible_amount
    assert 0 <= eligible <= amount
    assert eligible == max(amount - shipping - tax, Decimal(0))
