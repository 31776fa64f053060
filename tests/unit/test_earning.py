"""The earning engine, without a database: what a purchase or an action earns under a program.

The stacking order is the one domain/earning.py states: eligible amount (goods, shared over
the lines, without excluded lines), minimum order, base points, multipliers that add, fixed
points, campaign budgets, one floor at the end.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal, localcontext
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from domain.earning import (
    Award,
    Circumstances,
    Purchase,
    PurchaseLine,
    _shares,
    active_campaigns,
    lines_add_up,
    points_for,
    points_for_action,
    upper_bound,
    within_budgets,
)
from domain.program import (
    Campaign,
    CampaignKind,
    Program,
    PurchaseRule,
    RuleKind,
    Selector,
    Text,
)
from domain.program_file import load_program
from tests.helpers import BASE_PROGRAM

BUCHAREST = ZoneInfo("Europe/Bucharest")
BASE_TEXT = BASE_PROGRAM.read_text()
BASE = load_program(BASE_TEXT)  # RON 1, EUR 5, USD 4.5, PLN 1.2, TRY 0.15; no rules
AT = Circumstances(occurred_at=datetime(2026, 5, 5, 12, 0, tzinfo=UTC))


def program(*sections: str) -> Program:
    """The base program with these sections (rules, campaigns) added to its file."""
    return load_program(BASE_TEXT + "\n" + "\n".join(sections))


def rule(key: str, kind: str, body: str) -> str:
    return f'[[purchase_rules]]\nkey = "{key}"\nname = "{key}"\nkind = "{kind}"\n{body}\n'


def campaign(
    key: str, kind: str, body: str, starts: str = "2026-01-01", ends: str = "2027-01-01"
) -> str:
    return (
        f'[[campaigns]]\nkey = "{key}"\nname = "{key}"\nkind = "{kind}"\n'
        f"starts = {starts}\nends = {ends}\n{body}\n"
    )


def line(sku: str | None, category: str | None, quantity: int, price: str) -> PurchaseLine:
    return PurchaseLine(sku=sku, category=category, quantity=quantity, unit_price=Decimal(price))


def buy(
    amount: str,
    currency: str = "RON",
    *lines: PurchaseLine,
    shipping: str = "0",
    tax: str = "0",
) -> Purchase:
    return Purchase(
        amount=Decimal(amount),
        currency=currency,
        shipping=Decimal(shipping),
        tax=Decimal(tax),
        lines=tuple(lines),
    )


def rules_of(award: Award) -> list[str]:
    return [line.rule for line in award.breakdown]


def points_of(award: Award) -> dict[str, Decimal]:
    return {line.rule: line.points for line in award.breakdown}


def shown(award: Award) -> list[dict[str, str]]:
    """The stored lines as a member reads them: what contributed, what it says, its points."""
    return [
        {key: line[key] for key in ("rule", "description", "points")}
        for line in award.breakdown_json()
    ]


def exact_product(a: Decimal, b: Decimal) -> Decimal:
    with localcontext(prec=200):
        return a * b


# -- base rate, shipping and tax -------------------------------------------------------------


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
    award = points_for(buy(amount, currency), AT, BASE)
    assert award.points == points
    assert award.eligible_amount == Decimal(amount)
    assert len(award.breakdown) == 1
    base = award.breakdown[0]
    assert base.rule == "base"
    assert base.campaign is None
    assert base.points == Decimal(amount) * BASE.purchase_rates[currency]
    assert currency in base.description
    assert str(BASE.purchase_rates[currency]) in base.description


def test_shipping_and_tax_earn_nothing():
    # (129.99 - 10 - 20.50) * 4.5 = 447.705
    award = points_for(buy("129.99", "USD", shipping="10", tax="20.50"), AT, BASE)
    assert award.points == 447
    assert award.eligible_amount == Decimal("99.49")
    assert award.breakdown[0].points == Decimal("447.705")
    assert award.breakdown[0].description == "4.5 points per USD on 99.49 USD"
    assert shown(award) == [
        {"rule": "base", "description": "4.5 points per USD on 99.49 USD", "points": "447.705"}
    ]
    # With what made the text, to make it again in another language.
    assert award.breakdown_json()[0]["say"] == "base"
    assert award.breakdown_json()[0]["values"] == {
        "rate": "4.5",
        "currency": "USD",
        "amount": "99.49 USD",
    }


def test_the_amount_paid_for_goods_is_never_negative():
    purchase = buy("10", shipping="8", tax="5")
    assert purchase.goods_paid == Decimal(0)
    award = points_for(purchase, AT, BASE)
    assert award.points == 0
    assert award.breakdown[0].points == Decimal(0)


def test_the_amount_paid_for_goods_is_the_amount_less_shipping_and_tax():
    assert buy("50.00", "EUR", shipping="4.99", tax="8.01").goods_paid == Decimal(37)


@pytest.mark.parametrize("currency", ["GBP", "ron", "", "MILE"])
def test_a_currency_without_a_rate_earns_nothing_and_says_so(currency: str):
    award = points_for(buy("100", currency), AT, BASE)
    assert award.points == 0
    assert shown(award) == [
        {"rule": "base", "description": f"{currency} does not earn points", "points": "0"}
    ]


def test_a_high_precision_rate_is_still_rounded_down_exactly():
    # In the default decimal context (28 digits, half even) 1 x 0.999... (29 nines) would be
    # rounded to 1 before the floor. The loader refuses rates with more than six decimals;
    # the arithmetic must not depend on that.
    precise = replace(BASE, purchase_rates={"PLN": Decimal(f"0.{'9' * 29}")})
    assert points_for(buy("1", "PLN"), AT, precise).points == 0


# -- lines -----------------------------------------------------------------------------------

COFFEE_X2 = rule("coffee-x2", "multiplier", 'categories = ["coffee"]\nmultiplier = 2')


def test_lines_share_the_paid_amount_in_proportion_to_their_totals():
    # 90 paid for goods over lines worth 40 (coffee) and 60 (food): 36 and 54.
    purchase = buy(
        "100", "RON", line("C1", "coffee", 2, "20"), line("F1", "food", 1, "60"), shipping="10"
    )
    award = points_for(purchase, AT, program(COFFEE_X2))
    assert award.eligible_amount == Decimal(90)
    assert points_of(award) == {"base": Decimal(90), "rule:coffee-x2": Decimal(36)}
    assert award.points == 126


def test_lines_share_a_discounted_amount_too():
    # Lines worth 200 paid 150 (a discount): the coffee line's share is 150 x 50 / 200 = 37.5.
    purchase = buy("150", "RON", line("C1", "coffee", 1, "50"), line("F1", "food", 3, "50"))
    award = points_for(purchase, AT, program(COFFEE_X2))
    assert points_of(award) == {"base": Decimal(150), "rule:coffee-x2": Decimal("37.5")}
    assert award.points == 187


def test_lines_that_do_not_divide_the_amount_evenly_still_earn_the_whole_amount():
    # Three equal lines share 10 RON: a third each. The base points are 10 x 1 = 10; the
    # shares must add back up to what was paid before the one floor at the end.
    purchase = buy("10", "RON", *(line(f"S{i}", "food", 1, "1") for i in range(3)))
    award = points_for(purchase, AT, BASE)
    assert award.eligible_amount == Decimal(10)
    assert award.points == 10


def test_lines_worth_nothing_leave_the_whole_amount_to_the_purchase():
    purchase = buy("30", "RON", line("C1", "coffee", 2, "0"))
    award = points_for(purchase, AT, program(COFFEE_X2))
    # No line has a share: the category multiplier has nothing to boost.
    assert rules_of(award) == ["base"]
    assert award.points == 30


# -- exclude and minimum_order ---------------------------------------------------------------

NO_GIFT_CARDS = rule("no-gift-cards", "exclude", 'categories = ["gift-cards"]')
MINIMUM = rule("minimum", "minimum_order", 'amounts = { RON = "5", EUR = "1" }')


def test_an_exclude_rule_removes_its_lines_from_the_eligible_amount():
    purchase = buy("100", "RON", line("G1", "gift-cards", 1, "50"), line("F1", "food", 2, "25"))
    award = points_for(purchase, AT, program(NO_GIFT_CARDS))
    assert award.eligible_amount == Decimal(50)
    assert award.points == 50
    assert shown(award) == [
        {
            "rule": "rule:no-gift-cards",
            "description": "no-gift-cards: 50.00 RON earn nothing",
            "points": "0",
        },
        {"rule": "base", "description": "1 point per RON on 50.00 RON", "points": "50"},
    ]


def test_an_exclude_rule_by_sku_removes_only_that_product():
    excluded = rule("no-deposit", "exclude", 'skus = ["DEPOSIT"]')
    purchase = buy("12", "RON", line("DEPOSIT", "drinks", 4, "0.5"), line("COLA", "drinks", 2, "5"))
    award = points_for(purchase, AT, program(excluded))
    assert award.eligible_amount == Decimal(10)
    assert award.points == 10


def test_an_exclude_rule_that_matches_nothing_has_no_line():
    purchase = buy("100", "RON", line("F1", "food", 1, "100"))
    award = points_for(purchase, AT, program(NO_GIFT_CARDS))
    assert rules_of(award) == ["base"]
    assert award.points == 100


def test_an_exclude_rule_does_not_apply_to_a_purchase_without_lines():
    award = points_for(buy("100"), AT, program(NO_GIFT_CARDS))
    assert rules_of(award) == ["base"]
    assert award.points == 100


def test_a_purchase_of_excluded_lines_only_earns_nothing():
    bonus = campaign("bonus", "bonus", "points = 40")
    purchase = buy("100", "RON", line("G1", "gift-cards", 2, "50"))
    award = points_for(purchase, AT, program(NO_GIFT_CARDS, bonus))
    assert award.eligible_amount == Decimal(0)
    assert award.points == 0
    assert rules_of(award) == ["rule:no-gift-cards", "base"]


@pytest.mark.parametrize(
    ("amount", "currency", "points"),
    [
        ("4.99", "RON", 0),
        ("5", "RON", 5),
        ("5.01", "RON", 5),
        ("0.99", "EUR", 0),
        ("1", "EUR", 5),
        # A currency the rule gives no amount for has no minimum.
        ("0.5", "PLN", 0),  # 0.6 points, rounded down
        ("1", "PLN", 1),
    ],
)
def test_below_the_minimum_order_a_purchase_earns_nothing(amount: str, currency: str, points: int):
    award = points_for(buy(amount, currency), AT, program(MINIMUM))
    assert award.points == points


def test_below_the_minimum_order_the_breakdown_says_why_and_nothing_else_is_given():
    fixed = (
        rule("cup", "per_product", 'skus = ["OWN-CUP"]\npoints = 10'),
        rule("x3", "multiplier", "multiplier = 3"),
        campaign("bonus", "bonus", "points = 40"),
    )
    purchase = buy("4", "RON", line("OWN-CUP", "cups", 1, "4"))
    award = points_for(purchase, AT, program(MINIMUM, *fixed))
    assert award.points == 0
    assert award.eligible_amount == Decimal(4)
    assert shown(award) == [
        {
            "rule": "rule:minimum",
            "description": "minimum: below 5.00 RON, the purchase earns nothing",
            "points": "0",
        }
    ]


def test_the_minimum_order_looks_at_the_amount_left_after_exclusions_shipping_and_tax():
    purchase = buy(
        "30", "RON", line("G1", "gift-cards", 1, "20"), line("F1", "food", 1, "4"), shipping="6"
    )
    # 24 for goods, shared 20 : 4; the gift card's share leaves 4, below the minimum of 5.
    award = points_for(purchase, AT, program(NO_GIFT_CARDS, MINIMUM))
    assert award.points == 0
    assert rules_of(award) == ["rule:no-gift-cards", "rule:minimum"]


# -- multipliers -----------------------------------------------------------------------------


def test_multipliers_from_a_rule_and_a_campaign_add_up_they_do_not_compound():
    double = rule("double", "multiplier", "multiplier = 2")
    triple = campaign("triple", "multiplier", "multiplier = 3")
    award = points_for(buy("10"), AT, program(double, triple))
    # 2x and 3x make 4x: 10 + (2 - 1) x 10 + (3 - 1) x 10, not 2 x 3 x 10.
    assert award.points == 40
    assert points_of(award) == {
        "base": Decimal(10),
        "rule:double": Decimal(10),
        "campaign:triple": Decimal(20),
    }
    assert [line.campaign for line in award.breakdown] == [None, None, "triple"]


def test_two_multiplier_rules_on_the_same_line_add_up():
    double = rule("double", "multiplier", 'categories = ["coffee"]\nmultiplier = 2')
    triple = rule("triple", "multiplier", 'skus = ["ESPRESSO"]\nmultiplier = 3')
    purchase = buy("10", "RON", line("ESPRESSO", "coffee", 1, "10"))
    assert points_for(purchase, AT, program(double, triple)).points == 40


def test_a_category_multiplier_only_boosts_the_lines_of_that_category():
    purchase = buy("100", "RON", line("C1", "coffee", 3, "10"), line("F1", "food", 1, "70"))
    award = points_for(purchase, AT, program(COFFEE_X2))
    assert points_of(award) == {"base": Decimal(100), "rule:coffee-x2": Decimal(30)}
    assert award.points == 130
    assert award.breakdown[1].description == "coffee-x2: x2"


def test_a_category_multiplier_does_not_boost_a_purchase_without_lines():
    award = points_for(buy("100"), AT, program(COFFEE_X2))
    assert rules_of(award) == ["base"]
    assert award.points == 100


def test_a_multiplier_below_one_takes_points_away():
    half = rule("half", "multiplier", 'multiplier = "0.5"')
    award = points_for(buy("101"), AT, program(half))
    assert points_of(award) == {"base": Decimal(101), "rule:half": Decimal("-50.5")}
    assert award.points == 50


# -- fixed points ----------------------------------------------------------------------------


def test_per_product_points_are_given_per_unit_of_a_matching_product():
    cup = rule("cup", "per_product", 'skus = ["OWN-CUP"]\npoints = 10')
    purchase = buy(
        "20",
        "RON",
        line("OWN-CUP", "cups", 3, "2"),
        line("F1", "food", 1, "14"),
        line(None, None, 2, "0"),
    )
    award = points_for(purchase, AT, program(cup))
    assert points_of(award) == {"base": Decimal(20), "rule:cup": Decimal(30)}
    assert award.breakdown[1].description == "cup: 3 x 10"
    assert award.points == 50


def test_per_product_points_by_category_count_every_matching_line():
    organic = rule("organic", "per_product", 'categories = ["organic"]\npoints = 5')
    purchase = buy(
        "30",
        "RON",
        line("A", "organic", 2, "5"),
        line("B", "organic", 1, "10"),
        line("C", "x", 1, "10"),
    )
    assert points_of(points_for(purchase, AT, program(organic)))["rule:organic"] == Decimal(15)


def test_per_product_points_are_not_given_for_excluded_lines():
    cup = rule("cup", "per_product", 'skus = ["OWN-CUP"]\npoints = 10')
    gifts = rule("no-gifts", "exclude", 'categories = ["gifts"]')
    purchase = buy("10", "RON", line("OWN-CUP", "gifts", 1, "5"), line("F1", "food", 1, "5"))
    award = points_for(purchase, AT, program(cup, gifts))
    assert "rule:cup" not in rules_of(award)
    assert award.points == 5


BIG_BASKET = rule("big-basket", "spend_threshold", 'amounts = { RON = "500" }\npoints = 200')


@pytest.mark.parametrize(
    ("amount", "currency", "points"),
    [
        ("499.99", "RON", 499),
        ("500", "RON", 700),
        ("800", "RON", 1000),
        ("500", "EUR", 2500),  # no threshold in EUR
    ],
)
def test_a_spend_threshold_gives_its_points_once_the_amount_is_reached(
    amount: str, currency: str, points: int
):
    award = points_for(buy(amount, currency), AT, program(BIG_BASKET))
    assert award.points == points


def test_a_spend_threshold_looks_at_the_eligible_amount():
    # 520 paid, 30 of it shipping: 490 for goods, below the threshold.
    award = points_for(buy("520", shipping="30"), AT, program(BIG_BASKET))
    assert award.points == 490
    award = points_for(buy("530", shipping="30"), AT, program(BIG_BASKET))
    assert points_of(award)["rule:big-basket"] == Decimal(200)
    assert award.breakdown[-1].description == "big-basket: spent 500.00 RON or more"


def test_a_bonus_campaign_gives_its_points_on_every_purchase_while_it_runs():
    bonus = campaign("bonus", "bonus", "points = 40")
    award = points_for(buy("10"), AT, program(bonus))
    assert award.points == 50
    last = award.breakdown[-1]
    assert (last.rule, last.description, last.points, last.campaign) == (
        "campaign:bonus",
        "bonus",
        Decimal(40),
        "bonus",
    )


def test_a_bonus_campaign_for_some_products_needs_one_of_them_in_the_purchase():
    bonus = campaign("coffee-bonus", "bonus", 'points = 40\ncategories = ["coffee"]')
    with_coffee = buy("10", "RON", line("C", "coffee", 1, "1"), line("F", "food", 1, "9"))
    without = buy("10", "RON", line("F", "food", 1, "10"))
    assert points_for(with_coffee, AT, program(bonus)).points == 50
    assert points_for(without, AT, program(bonus)).points == 10
    assert points_for(buy("10"), AT, program(bonus)).points == 10


FIRST_OF_MONTH = campaign("first", "first_purchase_of_month", "points = 50")


def test_the_first_purchase_of_the_month_bonus_needs_the_circumstances_to_say_so():
    assert points_for(buy("10"), AT, program(FIRST_OF_MONTH)).points == 10
    first = replace(AT, first_purchase_of_month=True)
    award = points_for(buy("10"), first, program(FIRST_OF_MONTH))
    assert award.points == 60
    assert award.breakdown[-1].rule == "campaign:first"
    assert award.breakdown[-1].campaign == "first"


def test_the_first_purchase_of_the_month_bonus_is_only_given_while_the_campaign_runs():
    later = replace(AT, occurred_at=datetime(2027, 1, 2, tzinfo=UTC), first_purchase_of_month=True)
    assert points_for(buy("10"), later, program(FIRST_OF_MONTH)).points == 10


# -- when and for whom campaigns run ---------------------------------------------------------


@pytest.mark.parametrize(
    ("starts", "ends", "first_moment", "end_moment"),
    [
        # Local midnight in Bucharest: 21:00 UTC the day before in summer (UTC+3) ...
        ("2026-07-01", "2026-07-02", "2026-06-30T21:00:00", "2026-07-01T21:00:00"),
        # ... and 22:00 UTC in winter (UTC+2).
        ("2026-01-15", "2026-01-16", "2026-01-14T22:00:00", "2026-01-15T22:00:00"),
        # The day the clocks go forward has 23 hours.
        ("2026-03-29", "2026-03-30", "2026-03-28T22:00:00", "2026-03-29T21:00:00"),
        # The day they go back has 25.
        ("2026-10-25", "2026-10-26", "2026-10-24T21:00:00", "2026-10-25T22:00:00"),
        # Local times and times with an offset.
        (
            "2026-11-27T18:00:00",
            "2026-11-27T20:30:00",
            "2026-11-27T16:00:00",
            "2026-11-27T18:30:00",
        ),
        (
            "2026-11-27T18:00:00Z",
            "2026-11-28T00:00:00+01:00",
            "2026-11-27T18:00:00",
            "2026-11-27T23:00:00",
        ),
    ],
)
def test_a_campaign_runs_from_its_start_included_to_its_end_excluded(
    starts: str, ends: str, first_moment: str, end_moment: str
):
    bonus = program(campaign("day", "bonus", "points = 7", starts=starts, ends=ends))
    first = datetime.fromisoformat(first_moment).replace(tzinfo=UTC)
    end = datetime.fromisoformat(end_moment).replace(tzinfo=UTC)
    tick = timedelta(microseconds=1)

    def earned(moment: datetime) -> int:
        return points_for(buy("10"), Circumstances(occurred_at=moment), bonus).points

    assert earned(first - tick) == 10
    assert earned(first) == 17
    assert earned(end - tick) == 17
    assert earned(end) == 10
    # The same moments given in local time.
    assert earned(first.astimezone(BUCHAREST)) == 17
    assert earned(end.astimezone(BUCHAREST)) == 10


def test_a_campaign_for_some_tiers_runs_only_for_members_in_them():
    gold = program(campaign("gold", "bonus", 'points = 100\ntiers = ["silver", "gold"]'))
    for tier, points in [("gold", 110), ("silver", 110), ("bronze", 10), (None, 10)]:
        assert points_for(buy("10"), replace(AT, tier=tier), gold).points == points


def test_a_campaign_for_some_partners_runs_only_for_their_purchases():
    beanery = program(campaign("beans", "multiplier", 'multiplier = 2\npartners = ["beanery"]'))
    for partner, points in [("beanery", 20), ("skyways", 10), (None, 10)]:
        assert points_for(buy("10"), replace(AT, partner=partner), beanery).points == points


def test_a_campaign_for_a_tier_and_a_partner_needs_both():
    both = program(
        campaign("flyer", "bonus", 'points = 100\ntiers = ["gold"]\npartners = ["skyways"]')
    )
    cases = [("gold", "skyways", 110), ("gold", None, 10), ("silver", "skyways", 10)]
    for tier, partner, points in cases:
        at = replace(AT, tier=tier, partner=partner)
        assert points_for(buy("10"), at, both).points == points
        assert [c.key for c in active_campaigns(both, at)] == (["flyer"] if points > 10 else [])


# -- rounding --------------------------------------------------------------------------------


def test_fractions_from_several_rules_are_added_before_rounding_down_once():
    # 1.4 base, and two rules adding 1.4 each: 4.2 points, 4 once rounded, not 1 + 1 + 1.
    doubles = (rule("a", "multiplier", "multiplier = 2"), rule("b", "multiplier", "multiplier = 2"))
    award = points_for(buy("1.4"), AT, program(*doubles))
    assert [line.points for line in award.breakdown] == [Decimal("1.4")] * 3
    assert award.points == 4


def test_fractions_of_a_campaign_and_a_rule_are_added_before_rounding():
    # 0.5 x 1.2 = 0.6 base (PLN), +0.6 from the rule, +0.6 from the campaign: 1.8, so 1.
    award = points_for(
        buy("0.5", "PLN"),
        AT,
        program(
            rule("x2", "multiplier", "multiplier = 2"),
            campaign("c", "multiplier", "multiplier = 2"),
        ),
    )
    assert award.points == 1
    assert sum(line.points for line in award.breakdown) == Decimal("1.8")


# -- campaign budgets ------------------------------------------------------------------------

BUDGETED = program(
    campaign("triple", "multiplier", "multiplier = 3\nbudget = 1000"),
    campaign("bonus", "bonus", "points = 50\nbudget = 500"),
)


def test_a_campaign_over_its_budget_is_cut_to_what_is_left_and_says_so():
    award = points_for(buy("100"), AT, BUDGETED)
    assert points_of(award) == {
        "base": Decimal(100),
        "campaign:triple": Decimal(200),
        "campaign:bonus": Decimal(50),
    }
    assert award.campaign_points() == {"triple": 200, "bonus": 50}
    cut = within_budgets(award, {"triple": 120, "bonus": 500}, BUDGETED)
    assert cut.points == 270
    assert cut.breakdown[0] == award.breakdown[0]
    assert cut.breakdown[2] == award.breakdown[2]
    assert cut.breakdown[1] == replace(
        award.breakdown[1],
        description="triple: x3 (the campaign's budget ran out)",
        points=Decimal(120),
        cut=True,
    )
    assert cut.breakdown[1].as_json()["cut"] is True
    assert cut.campaign_points() == {"triple": 120, "bonus": 50}
    assert cut.eligible_amount == award.eligible_amount


def test_campaigns_with_nothing_left_give_nothing():
    award = points_for(buy("100"), AT, BUDGETED)
    cut = within_budgets(award, {"triple": 0, "bonus": 10}, BUDGETED)
    assert points_of(cut) == {
        "base": Decimal(100),
        "campaign:triple": Decimal(0),
        "campaign:bonus": Decimal(10),
    }
    assert cut.points == 110
    assert all(
        line.description.endswith(" (the campaign's budget ran out)") for line in cut.breakdown[1:]
    )
    assert cut.campaign_points() == {"bonus": 10}


@pytest.mark.parametrize(
    "left", [{}, {"triple": 200, "bonus": 50}, {"triple": 10**9}, {"elsewhere": 0}]
)
def test_an_award_within_its_budgets_is_left_as_it_is(left: dict[str, int]):
    award = points_for(buy("100"), AT, BUDGETED)
    assert within_budgets(award, left, BUDGETED) == award


def test_a_budget_is_charged_whole_points_and_never_overdrawn_by_fractions():
    half = program(campaign("half", "multiplier", "multiplier = 1.5\nbudget = 100"))
    award = points_for(buy("33"), AT, half)  # 33 + 16.5
    assert award.points == 49
    assert award.campaign_points() == {"half": 16}
    # 17 left covers the 16.5 the campaign adds: nothing to cut.
    assert within_budgets(award, {"half": 17}, half) == award
    # 16 left does not: the half point could otherwise round the total up past the budget.
    exact = within_budgets(award, {"half": 16}, half)
    assert points_of(exact)["campaign:half"] == Decimal(16)
    assert exact.points == 49
    cut = within_budgets(award, {"half": 10}, half)
    assert points_of(cut)["campaign:half"] == Decimal(10)
    assert cut.points == 43


# -- the breakdown ---------------------------------------------------------------------------


def test_the_breakdown_follows_the_stacking_order_and_names_each_rule_and_campaign():
    everything = program(
        NO_GIFT_CARDS,
        COFFEE_X2,
        rule("cup", "per_product", 'skus = ["OWN-CUP"]\npoints = 10'),
        MINIMUM,
        rule("big-basket", "spend_threshold", 'amounts = { RON = "50" }\npoints = 200'),
        campaign("weekend", "multiplier", "multiplier = 2"),
        campaign("bonus", "bonus", "points = 40"),
        FIRST_OF_MONTH,
    )
    purchase = buy(
        "110",
        "RON",
        line("G1", "gift-cards", 1, "10"),
        line("ESPRESSO", "coffee", 2, "20"),
        line("OWN-CUP", "cups", 1, "0"),
        line("F1", "food", 1, "60"),
    )
    award = points_for(purchase, replace(AT, first_purchase_of_month=True), everything)
    assert [(line.rule, line.points, line.campaign) for line in award.breakdown] == [
        ("rule:no-gift-cards", Decimal(0), None),
        ("base", Decimal(100), None),
        ("rule:coffee-x2", Decimal(40), None),
        ("campaign:weekend", Decimal(100), "weekend"),
        ("rule:cup", Decimal(10), None),
        ("rule:big-basket", Decimal(200), None),
        ("campaign:bonus", Decimal(40), "bonus"),
        ("campaign:first", Decimal(50), "first"),
    ]
    assert award.points == 540
    assert award.eligible_amount == Decimal(100)
    assert award.campaign_points() == {"weekend": 100, "bonus": 40, "first": 50}
    assert shown(award)[0] == {
        "rule": "rule:no-gift-cards",
        "description": "no-gift-cards: 10.00 RON earn nothing",
        "points": "0",
    }


def test_the_breakdown_uses_the_first_language_of_a_name():
    named = program(
        '[[purchase_rules]]\nkey = "x2"\nname = { ro = "Dublu", en = "Double" }\n'
        'kind = "multiplier"\nmultiplier = 2\n'
    )
    award = points_for(buy("10"), AT, named)
    assert award.breakdown[1].description == "Dublu: x2"


# -- upper bound -----------------------------------------------------------------------------


def test_the_upper_bound_counts_every_multiplier_and_fixed_amount_at_once():
    bounded = program(
        COFFEE_X2,
        rule("half", "multiplier", 'multiplier = "0.5"'),
        rule("cup", "per_product", 'skus = ["OWN-CUP"]\npoints = 10'),
        BIG_BASKET,
        campaign("triple", "multiplier", "multiplier = 3", starts="2030-01-01", ends="2031-01-01"),
        campaign("bonus", "bonus", "points = 40"),
    )
    purchase = buy("12", "RON", line("A", None, 2, "5"), line("B", None, 1, "2"), shipping="2")
    # 10 for goods x the highest rate (EUR 5) x (1 + 1 + 2) + 10 x 3 units + 200 + 40.
    assert upper_bound(purchase, bounded) == Decimal(10 * 5 * 4 + 30 + 200 + 40)


# -- actions ---------------------------------------------------------------------------------


def test_an_action_earns_its_points_with_one_line():
    award = points_for_action("REVIEW", BASE)
    assert award is not None
    assert award.points == 50
    [only] = award.breakdown
    assert (only.rule, only.description, only.points) == (
        "action:REVIEW",
        "Write a product review",
        Decimal(50),
    )
    assert award.breakdown_json() == [
        {
            "rule": "action:REVIEW",
            "description": "Write a product review",
            "points": "50",
            "say": "action",
        }
    ]


@pytest.mark.parametrize("key", list(BASE.actions))
def test_every_base_action_earns_its_program_points(key: str):
    award = points_for_action(key, BASE)
    assert award is not None
    assert award.points == BASE.actions[key].points
    assert sum(line.points for line in award.breakdown) == award.points


@pytest.mark.parametrize("key", ["review", "UNKNOWN", "", "REVIEW ", "coffee"])
def test_an_unknown_action_earns_nothing(key: str):
    assert points_for_action(key, BASE) is None


# -- properties ------------------------------------------------------------------------------

SKUS = ["A", "B", "OWN-CUP"]
CATEGORIES = ["coffee", "food", "gift-cards"]
CURRENCIES = ["RON", "EUR", "USD"]
TIERS = [t.key for t in BASE.tiers]
PARTNERS = list(BASE.partners)
MOMENT = datetime(2026, 5, 5, 12, 0, tzinfo=UTC)


def decimals(low: str, high: str, places: int) -> st.SearchStrategy[Decimal]:
    return st.decimals(min_value=Decimal(low), max_value=Decimal(high), places=places)


# Mostly amounts of the size of the rules' thresholds, sometimes the largest accepted.
money = decimals("0", "2000", 2) | decimals("0", "999999999999.9999", 4)
any_selector = st.builds(
    Selector,
    st.frozensets(st.sampled_from(SKUS), max_size=2),
    st.frozensets(st.sampled_from(CATEGORIES), max_size=2),
)
some_lines = any_selector.filter(lambda s: not s.everything)
multipliers = decimals("0.000001", "100", 6)
fixed_points = st.integers(1, 10_000)
# Every currency has a rate (a purchase in GBP earns nothing), each drawn anew.
rates = st.fixed_dictionaries({c: decimals("0.000001", "10000", 6) for c in CURRENCIES})


@st.composite
def amounts_by_currency(draw: st.DrawFn) -> dict[str, Decimal]:
    return draw(
        st.dictionaries(
            st.sampled_from(CURRENCIES),
            decimals("0.01", "1000", 2) | decimals("0.0001", "1000000", 4),
            min_size=1,
        )
    )


@st.composite
def purchase_rules(draw: st.DrawFn, key: str) -> PurchaseRule:
    kind = draw(st.sampled_from(list(RuleKind)))
    name = Text({"en": key})
    if kind is RuleKind.MULTIPLIER:
        return PurchaseRule(
            key, name, kind, selector=draw(any_selector), multiplier=draw(multipliers)
        )
    if kind is RuleKind.EXCLUDE:
        return PurchaseRule(key, name, kind, selector=draw(some_lines))
    if kind is RuleKind.PER_PRODUCT:
        return PurchaseRule(
            key,
            name,
            kind,
            selector=draw(some_lines),
            points=draw(fixed_points),
            max_units=draw(st.sampled_from([1, 3, 10, 1_000_000])),
        )
    if kind is RuleKind.MINIMUM_ORDER:
        return PurchaseRule(key, name, kind, amounts=draw(amounts_by_currency()))
    return PurchaseRule(
        key, name, kind, points=draw(fixed_points), amounts=draw(amounts_by_currency())
    )


@st.composite
def campaigns(draw: st.DrawFn, key: str, running: bool = False) -> Campaign:
    """A campaign; a `running` one runs at MOMENT for everybody."""
    kind = draw(st.sampled_from(list(CampaignKind)))
    if running:
        starts = MOMENT - timedelta(hours=draw(st.integers(0, 48)))
        ends = MOMENT + timedelta(hours=draw(st.integers(1, 48)))
    else:
        # Most campaigns run at MOMENT; some have ended or not started yet.
        starts = MOMENT + timedelta(hours=draw(st.integers(-48, 6)))
        ends = starts + timedelta(hours=draw(st.integers(1, 96)))
    everybody: st.SearchStrategy[frozenset[str]] = st.just(frozenset())
    return Campaign(
        key=key,
        name=Text({"en": key}),
        kind=kind,
        starts=starts,
        ends=ends,
        multiplier=draw(multipliers) if kind is CampaignKind.MULTIPLIER else None,
        points=None if kind is CampaignKind.MULTIPLIER else draw(fixed_points),
        selector=Selector() if kind is CampaignKind.FIRST_PURCHASE_OF_MONTH else draw(any_selector),
        tiers=draw(everybody if running else everybody | st.frozensets(st.sampled_from(TIERS))),
        partners=draw(
            everybody if running else everybody | st.frozensets(st.sampled_from(PARTNERS))
        ),
        budget=draw(st.none() | st.integers(1, 10**6)),
    )


@st.composite
def programs(draw: st.DrawFn, running: bool = False) -> Program:
    rule_count = draw(st.integers(0, 6))
    campaign_count = draw(st.integers(1 if running else 0, 4))
    return replace(
        BASE,
        purchase_rates=draw(rates),
        purchase_rules=tuple(draw(purchase_rules(f"r{i}")) for i in range(rule_count)),
        campaigns=tuple(draw(campaigns(f"c{i}", running)) for i in range(campaign_count)),
    )


purchase_lines = st.builds(
    PurchaseLine,
    sku=st.none() | st.sampled_from([*SKUS, "OTHER"]),
    category=st.none() | st.sampled_from([*CATEGORIES, "other"]),
    quantity=st.integers(1, 1_000_000),
    unit_price=decimals("0", "1000000", 4),
)


@st.composite
def purchases(draw: st.DrawFn, lines: bool = True) -> Purchase:
    """Purchases as recordPurchase accepts them: shipping and tax within the amount, amounts
    with at most four decimals, quantities from 1, prices from 0; any currency. With lines,
    the amount is what they add up to (less a discount, plus shipping, tax in their prices or
    on top)."""
    drawn = tuple(draw(st.lists(purchase_lines, max_size=6))) if lines else ()
    currency = draw(st.sampled_from([*CURRENCIES, "GBP"]))
    if not drawn:
        amount = draw(money)
        shipping = draw(st.just(Decimal(0)) | decimals("0", str(amount), 4))
        tax = draw(st.just(Decimal(0)) | decimals("0", str(amount - shipping), 4))
        return Purchase(amount=amount, currency=currency, shipping=shipping, tax=tax)
    goods = sum((line.total for line in drawn), Decimal(0))
    discount = draw(st.just(Decimal(0)) | decimals("0", str(goods), 4))
    shipping = draw(st.just(Decimal(0)) | decimals("0", "1000", 4))
    if draw(st.booleans()):  # prices before tax, the tax on top
        tax = draw(st.just(Decimal(0)) | decimals("0", "100000", 4))
        amount = goods - discount + shipping + tax
    else:
        tax = draw(st.just(Decimal(0)) | decimals("0", str(goods - discount), 4))
        amount = goods - discount + shipping
    assume(amount > 0)
    purchase = Purchase(
        amount=amount,
        currency=currency,
        shipping=shipping,
        tax=tax,
        lines=drawn,
        discount=discount,
    )
    assert lines_add_up(purchase)
    return purchase


circumstances = st.builds(
    Circumstances,
    occurred_at=st.just(MOMENT)
    | st.integers(-50, 10).map(lambda hours: MOMENT + timedelta(hours=hours)),
    tier=st.none() | st.sampled_from(TIERS),
    partner=st.none() | st.sampled_from([*PARTNERS, "elsewhere"]),
    first_purchase_of_month=st.booleans(),
)


@settings(max_examples=120, deadline=None)
@given(purchases(), circumstances, programs())
def test_points_are_never_negative_never_above_the_bound_and_the_floor_of_the_breakdown(
    purchase: Purchase, at: Circumstances, rules: Program
):
    award = points_for(purchase, at, rules)
    with localcontext(prec=80):  # as exact as the engine's own sum
        total = sum((line.points for line in award.breakdown), Decimal(0))
    assert award.points >= 0
    assert award.points <= upper_bound(purchase, rules)
    assert award.points == (math.floor(total) if total > 0 else 0)
    running = {c.key for c in active_campaigns(rules, at)}
    rule_keys = {r.key for r in rules.purchase_rules}
    for entry in award.breakdown:
        kind, _, key = entry.rule.partition(":")
        if entry.rule == "base":
            assert entry.campaign is None
        elif kind == "rule":
            assert key in rule_keys
            assert entry.campaign is None
        else:
            assert kind == "campaign"
            assert key in running
            assert entry.campaign == key
    assert all(c.runs_at(at.occurred_at) for c in active_campaigns(rules, at))


@settings(max_examples=60, deadline=None)
@given(purchases(lines=False), circumstances, programs())
def test_without_lines_each_whole_purchase_multiplier_adds_its_share_of_the_base(
    purchase: Purchase, at: Circumstances, rules: Program
):
    # Multipliers add (multiplier - 1) x base each; they do not compound. Those below 1 take
    # away, but never more than the base itself: then each loses in proportion, and together
    # they cancel the base exactly, leaving fixed points whole.
    award = points_for(purchase, at, rules)
    with localcontext(prec=80):  # the engine's precision: no product is rounded
        lines = {entry.rule: entry.points for entry in award.breakdown}
        if purchase.currency not in rules.purchase_rates or "base" not in lines:
            return  # a currency that earns nothing, or below a minimum order
        base = lines["base"]
        assert base == purchase.goods_paid * rules.purchase_rates[purchase.currency]
        running = active_campaigns(rules, at)
        multipliers = [(f"rule:{r.key}", r) for r in rules.purchase_rules if r.multiplier]
        multipliers += [(f"campaign:{c.key}", c) for c in running if c.multiplier]
        whole = [(n, s) for n, s in multipliers if s.selector.everything]
        gains = sum((base * (s.multiplier - 1) for _, s in whole if s.multiplier > 1), Decimal(0))
        losses = sum((base * (s.multiplier - 1) for _, s in whole if s.multiplier < 1), Decimal(0))
        clamped = base + gains + losses < 0
        for name, source in multipliers:
            assert source.multiplier is not None
            if not source.selector.everything:
                assert name not in lines  # it is about some lines, and there are none
            elif base and (source.multiplier > 1 or (source.multiplier < 1 and not clamped)):
                assert lines[name] == base * (source.multiplier - 1)
        if base and clamped:
            boosted = sum((lines.get(n, Decimal(0)) for n, _ in whole), Decimal(0))
            assert base + boosted == 0  # the line ends at zero exactly
        for c in rules.campaigns:
            if c not in running:
                assert f"campaign:{c.key}" not in lines


@settings(max_examples=100, deadline=None)
@given(
    purchases(),
    st.builds(Circumstances, st.just(MOMENT), first_purchase_of_month=st.booleans()),
    programs(running=True),
    st.dictionaries(
        st.sampled_from([f"c{i}" for i in range(4)]), st.integers(0, 100) | st.integers(0, 10**6)
    ),
)
def test_within_budgets_never_gives_a_campaign_more_than_is_left_and_touches_nothing_else(
    purchase: Purchase, at: Circumstances, rules: Program, left: dict[str, int]
):
    award = points_for(purchase, at, rules)
    cut = within_budgets(award, left, rules)
    for key, points in cut.campaign_points().items():
        if key in left:
            assert points <= left[key]
    assert cut.points <= award.points
    assert cut.eligible_amount == award.eligible_amount
    assert [line.rule for line in cut.breakdown] == [line.rule for line in award.breakdown]
    for before, after in zip(award.breakdown, cut.breakdown, strict=True):
        if before.campaign not in left:
            assert after == before
        else:
            assert after.points <= before.points
            assert after.points >= min(before.points, 0)
    wanted = award.campaign_points()
    if all(wanted[key] <= left[key] for key in wanted if key in left):
        assert cut == award


def whole_purchase_factor(rules: Program, at: Circumstances) -> Decimal:
    """1 + the sum of (multiplier - 1) over the multipliers that apply to a purchase without
    lines: those of rules and running campaigns that name no skus or categories."""
    multipliers = [
        r.multiplier for r in rules.purchase_rules if r.multiplier and r.selector.everything
    ]
    multipliers += [
        c.multiplier for c in active_campaigns(rules, at) if c.multiplier and c.selector.everything
    ]
    return 1 + sum((m - 1 for m in multipliers), Decimal(0))


@settings(max_examples=120, deadline=None)
@given(purchases(lines=False), money, circumstances, programs())
def test_without_lines_points_never_fall_when_the_amount_rises(
    purchase: Purchase, other: Decimal, at: Circumstances, rules: Program
):
    # What is tested: a purchase without lines, the same currency, shipping, tax and
    # circumstances, under any generated rule set (exclusions, per-product rules and
    # selective multipliers then never apply; minimum orders, spend thresholds, campaigns and
    # whole-purchase multipliers do) in which the whole-purchase multipliers add up to a
    # factor of at least 0. Raising the amount never lowers the points.
    assume(whole_purchase_factor(rules, at) >= 0)
    low, high = sorted([purchase.amount, other])
    fewer = points_for(replace(purchase, amount=low), at, rules).points
    more = points_for(replace(purchase, amount=high), at, rules).points
    assert 0 <= fewer <= more


@settings(max_examples=200, deadline=None)
@example(
    purchase=Purchase(
        amount=Decimal(10),
        currency="RON",
        lines=tuple(PurchaseLine(f"S{i}", None, 1, Decimal(1)) for i in range(3)),
    ),
    rate=Decimal(1),
)
@given(purchases(), decimals("0.000001", "10000", 6))
def test_with_only_a_base_rate_the_lines_do_not_change_the_points(
    purchase: Purchase, rate: Decimal
):
    # However the paid amount is shared over the lines, the shares add up to it again.
    rules = replace(BASE, purchase_rates={purchase.currency: rate})
    award = points_for(purchase, AT, rules)
    assert award.eligible_amount == purchase.goods_paid
    assert award.points == math.floor(exact_product(purchase.goods_paid, rate))


@settings(max_examples=200, deadline=None)
@given(money, money, money)
def test_the_amount_paid_for_goods_is_never_negative_and_never_more_than_the_amount(
    amount: Decimal, shipping: Decimal, tax: Decimal
):
    paid = Purchase(amount, "RON", shipping=shipping, tax=tax).goods_paid
    assert 0 <= paid <= amount
    assert paid == max(amount - shipping - tax, Decimal(0))


@settings(max_examples=150, deadline=None)
@given(purchases(), circumstances, programs())
def test_a_line_never_earns_as_more_than_it_says(
    purchase: Purchase, at: Circumstances, rules: Program
):
    # However the order's amount is shared over its lines, no line's share is more than its
    # own total: one cheap coffee line never makes a whole order count as coffee.
    with localcontext(prec=80):  # as exact as the engine's own arithmetic
        shares = _shares(purchase)
    for share in shares:
        if share.line is not None:
            assert share.amount <= share.line.total
    # And a per-product rule pays for at most its limit of units.
    award = points_for(purchase, at, rules)
    for rule in rules.purchase_rules:
        if rule.kind is RuleKind.PER_PRODUCT and rule.points is not None:
            for entry in award.breakdown:
                if entry.rule == f"rule:{rule.key}":
                    assert entry.points <= rule.points * rule.max_units


# -- the member's tier -------------------------------------------------------------------------


def tiered(rules: Program, multiplier: Decimal) -> Program:
    return replace(rules, tiers=tuple(replace(t, multiplier=multiplier) for t in rules.tiers))


def test_a_tier_multiplier_adds_its_share_of_the_base_on_a_line_naming_the_tier():
    gold = tiered(BASE, Decimal("1.25"))
    award = points_for(buy("101", "RON"), replace(AT, tier="gold"), gold)
    assert award.points == 126  # 101 + 25.25, rounded down once
    assert points_of(award) == {"base": Decimal(101), "tier:gold": Decimal("25.25")}
    assert shown(award)[-1]["description"] == "Gold tier: x1.25"
    # Without a tier (or at a multiplier of 1) there is no such line.
    assert rules_of(points_for(buy("101", "RON"), AT, gold)) == ["base"]
    assert rules_of(points_for(buy("101", "RON"), replace(AT, tier="gold"), BASE)) == ["base"]


def test_an_action_earns_its_tier_share_too():
    award = points_for_action("REVIEW", tiered(BASE, Decimal("1.25")), "silver")
    assert award is not None
    assert award.points == 62  # 50 + 12.5, rounded down
    assert rules_of(award) == ["action:REVIEW", "tier:silver"]


@settings(max_examples=80, deadline=None)
@given(
    purchases(),
    circumstances,
    programs(),
    st.decimals(min_value=Decimal("1"), max_value=Decimal("3"), places=2),
)
def test_a_tier_multiplier_only_adds_and_stays_within_the_bound(
    purchase: Purchase, at: Circumstances, rules: Program, multiplier: Decimal
):
    boosted = tiered(rules, multiplier)
    plain = points_for(purchase, at, rules)
    award = points_for(purchase, at, boosted)
    assert plain.points <= award.points <= upper_bound(purchase, boosted)
    tier_lines = [entry for entry in award.breakdown if entry.rule.startswith("tier:")]
    assert len(tier_lines) <= 1
    if at.tier is None or multiplier == 1:
        assert award == plain
    for entry in tier_lines:
        assert entry.rule == f"tier:{at.tier}"
        assert entry.points >= 0
