"""Purchase rules and campaigns as recordPurchase applies them, and the breakdown it records.

Every test switches the app to a program of its own (the base test program plus rules or
campaigns) with `api.use_program`. Campaign windows are judged by the purchase's occurredAt,
so they are written in the past (March 2026, Europe/Bucharest: UTC+2 until 29 March, UTC+3
after) and purchases say when they happened.
"""

from __future__ import annotations

import asyncio
import math
import textwrap
from decimal import Decimal
from typing import Any

from domain import sql
from schema import ids
from tests.helpers import API, BASE_PROGRAM, assert_ledger_consistent, new_key, table_counts

BASE_TEXT = BASE_PROGRAM.read_text()

PURCHASE = (
    "member { balance lifetimePoints } "
    "purchase { id points eligibleAmount occurredAt } "
    "transaction { id kind points description breakdown { rule description points } }"
)


def program(*sections: str) -> str:
    """The base test program's file with these sections added."""
    return BASE_TEXT + "\n" + "\n".join(sections)


def rule(key: str, name: str, kind: str, body: str) -> str:
    return f'[[purchase_rules]]\nkey = "{key}"\nname = "{name}"\nkind = "{kind}"\n{body}\n'


def campaign(key: str, name: str, kind: str, starts: str, ends: str, body: str) -> str:
    return (
        f'[[campaigns]]\nkey = "{key}"\nname = {{ en = "{name}", ro = "{name} (ro)" }}\n'
        f'kind = "{kind}"\nstarts = {starts}\nends = {ends}\n{body}\n'
    )


def line(sku: str | None, category: str | None, quantity: int, price: str) -> dict[str, Any]:
    return {"sku": sku, "category": category, "quantity": quantity, "unitPrice": price}


async def buy(
    api: API,
    member_id: str,
    amount: str,
    currency: str = "RON",
    *,
    lines: list[dict[str, Any]] | None = None,
    at: str | None = None,
    as_: dict[str, str] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "memberId": member_id,
        "orderId": new_key(),
        "amount": amount,
        "currency": currency,
        "idempotencyKey": new_key(),
        **fields,
    }
    if lines is not None:
        body["lines"] = lines
    if at is not None:
        body["occurredAt"] = at
    payload = await api.mutate("recordPurchase", body, PURCHASE, as_=as_ or api.admin())
    assert payload["userErrors"] == [], payload
    return payload


def breakdown(payload: dict[str, Any]) -> dict[str, str]:
    """rule -> points, as the API shows them."""
    assert payload["transaction"] is not None, payload
    return {ln["rule"]: ln["points"] for ln in payload["transaction"]["breakdown"]}


def descriptions(payload: dict[str, Any]) -> dict[str, str]:
    return {ln["rule"]: ln["description"] for ln in payload["transaction"]["breakdown"]}


def floor_of_breakdown(payload: dict[str, Any]) -> int:
    total = sum((Decimal(ln["points"]) for ln in payload["transaction"]["breakdown"]), Decimal(0))
    return max(math.floor(total), 0)


def assert_points_are_the_floor_of_the_breakdown(payload: dict[str, Any]) -> None:
    points = payload["transaction"]["points"]
    assert points == payload["purchase"]["points"]
    assert points == floor_of_breakdown(payload), payload["transaction"]["breakdown"]


# -- purchase rules ---------------------------------------------------------------------------

GIFT_CARDS = rule(
    "no-gift-cards", "Gift cards earn no points", "exclude", 'categories = ["gift-cards"]'
)
COFFEE_X2 = rule(
    "double-coffee",
    "Double points on coffee",
    "multiplier",
    'categories = ["coffee"]\nmultiplier = 2',
)
LATTE_X3 = rule(
    "triple-latte", "Triple on lattes", "multiplier", 'skus = ["LATTE"]\nmultiplier = 3'
)
OWN_CUP = rule("own-cup", "Bring your own cup", "per_product", 'skus = ["OWN-CUP"]\npoints = 10')
MINIMUM = rule("minimum", "Small orders", "minimum_order", 'amounts = { RON = "5", EUR = "2" }')
BIG_BASKET = rule(
    "big-basket", "Big basket", "spend_threshold", 'amounts = { RON = "500" }\npoints = 200'
)


async def test_an_exclude_rule_takes_its_lines_out_of_the_eligible_amount(api: API):
    await api.use_program(program(GIFT_CARDS))
    ana = await api.enroll("ana")
    # 150 paid, 30 of it tax: 120 for goods, shared 100:50 over the lines -> 80 + 40.
    payload = await buy(
        api,
        ana,
        "150",
        tax="30",
        lines=[line("GC-100", "gift-cards", 1, "100"), line("NOVEL", "books", 1, "50")],
    )
    assert payload["transaction"]["breakdown"] == [
        {
            "rule": "rule:no-gift-cards",
            "description": "Gift cards earn no points: 80.00 RON earn nothing",
            "points": "0",
        },
        {"rule": "base", "description": "1 point per RON on 40.00 RON", "points": "40"},
    ]
    assert payload["purchase"]["points"] == 40
    assert Decimal(payload["purchase"]["eligibleAmount"]) == Decimal(40)
    assert payload["member"] == {"balance": 40, "lifetimePoints": 40}
    assert_points_are_the_floor_of_the_breakdown(payload)


async def test_a_purchase_of_excluded_lines_only_earns_nothing_and_posts_nothing(api: API):
    await api.use_program(program(GIFT_CARDS))
    ana = await api.enroll("ana")
    payload = await api.mutate(
        "recordPurchase",
        {
            "memberId": ana,
            "orderId": "GC-ONLY",
            "amount": "100",
            "currency": "RON",
            "lines": [line("GC-100", "gift-cards", 1, "100")],
            "idempotencyKey": new_key(),
        },
        PURCHASE,
        as_=api.admin(),
    )
    assert payload["userErrors"] == []
    assert payload["transaction"] is None
    assert payload["purchase"]["points"] == 0
    assert Decimal(payload["purchase"]["eligibleAmount"]) == 0
    assert await api.balance(ana) == 0


async def test_a_category_multiplier_boosts_only_the_lines_of_that_category(api: API):
    await api.use_program(program(COFFEE_X2))
    ana = await api.enroll("ana")
    payload = await buy(
        api,
        ana,
        "30",
        lines=[line("ESPRESSO", "coffee", 2, "10"), line("CROISSANT", "bakery", 1, "10")],
    )
    assert breakdown(payload) == {"base": "30", "rule:double-coffee": "20"}
    assert descriptions(payload)["rule:double-coffee"] == "Double points on coffee: x2"
    assert payload["transaction"]["points"] == 50
    assert_points_are_the_floor_of_the_breakdown(payload)
    # Without coffee the rule has nothing to say, and no line.
    plain = await buy(api, ana, "30", lines=[line("CROISSANT", "bakery", 3, "10")])
    assert breakdown(plain) == {"base": "30"}
    assert plain["member"]["balance"] == 80


async def test_a_sku_multiplier_boosts_only_that_product(api: API):
    await api.use_program(program(LATTE_X3))
    ana = await api.enroll("ana")
    payload = await buy(
        api, ana, "25", lines=[line("LATTE", "coffee", 1, "15"), line("MOCHA", "coffee", 1, "10")]
    )
    # 25 base, and (3 - 1) x 15 more for the latte only.
    assert breakdown(payload) == {"base": "25", "rule:triple-latte": "30"}
    assert descriptions(payload)["rule:triple-latte"] == "Triple on lattes: x3"
    assert payload["transaction"]["points"] == 55


async def test_two_rule_multipliers_on_one_line_add_up(api: API):
    await api.use_program(program(COFFEE_X2, LATTE_X3))
    ana = await api.enroll("ana")
    payload = await buy(api, ana, "10", lines=[line("LATTE", "coffee", 1, "10")])
    # x2 and x3 make x4 (1 + 1 + 2), not x6.
    assert breakdown(payload) == {
        "base": "10",
        "rule:double-coffee": "10",
        "rule:triple-latte": "20",
    }
    assert payload["transaction"]["points"] == 40


async def test_per_product_points_are_given_per_unit(api: API):
    await api.use_program(program(OWN_CUP))
    ana = await api.enroll("ana")
    payload = await buy(
        api, ana, "12", lines=[line("FLAT-WHITE", "coffee", 2, "6"), line("OWN-CUP", None, 3, "0")]
    )
    assert breakdown(payload) == {"base": "12", "rule:own-cup": "30"}
    assert descriptions(payload)["rule:own-cup"] == "Bring your own cup: 3 x 10"
    assert payload["transaction"]["points"] == 42
    assert_points_are_the_floor_of_the_breakdown(payload)


async def test_below_the_minimum_order_a_purchase_earns_nothing(api: API):
    await api.use_program(program(MINIMUM))
    ana = await api.enroll("ana")
    small = await api.purchase(ana, "4.99")
    assert small["userErrors"] == []
    assert small["purchase"]["points"] == 0
    assert small["transaction"] is None
    # The minimum is on what was paid for goods: 9 paid, 4.50 of it tax, leaves 4.50.
    taxed = await api.purchase(ana, "9", tax="4.50")
    assert taxed["purchase"]["points"] == 0
    # At the minimum exactly, it earns.
    enough = await buy(api, ana, "5")
    assert enough["transaction"]["points"] == 5
    assert breakdown(enough) == {"base": "5"}
    # EUR has its own minimum: 2 EUR.
    euros = await buy(api, ana, "2", "EUR")
    assert euros["transaction"]["points"] == 10
    assert (await api.purchase(ana, "1.99", "EUR"))["purchase"]["points"] == 0
    assert await api.balance(ana) == 15


async def test_a_spend_threshold_gives_its_bonus_from_the_threshold_on(api: API):
    await api.use_program(program(BIG_BASKET))
    ana = await api.enroll("ana")
    below = await buy(api, ana, "499.99")
    assert breakdown(below) == {"base": "499.99"}
    assert below["transaction"]["points"] == 499
    at = await buy(api, ana, "500")
    assert breakdown(at) == {"base": "500", "rule:big-basket": "200"}
    assert descriptions(at)["rule:big-basket"] == "Big basket: spent 500.00 RON or more"
    assert at["transaction"]["points"] == 700
    # Shipping does not count towards the threshold.
    shipped = await buy(api, ana, "520", shipping="30")
    assert breakdown(shipped) == {"base": "490"}
    # Other currencies have no threshold in this program.
    euros = await buy(api, ana, "600", "EUR")
    assert breakdown(euros) == {"base": "3000"}


async def test_fractions_are_added_across_the_breakdown_before_one_floor(api: API):
    await api.use_program(program(COFFEE_X2))
    ana = await api.enroll("ana")
    # USD earns 4.5: 10 x 4.5 = 45, and the coffee line's 3.33 x 4.5 = 14.985 more.
    payload = await buy(
        api,
        ana,
        "10",
        "USD",
        lines=[line("AMERICANO", "coffee", 1, "3.33"), line("BAGEL", "bakery", 1, "6.67")],
    )
    assert breakdown(payload) == {"base": "45", "rule:double-coffee": "14.985"}
    assert payload["transaction"]["points"] == 59
    assert_points_are_the_floor_of_the_breakdown(payload)


async def test_lines_that_split_the_amount_in_thirds_still_earn_the_whole_amount(api: API):
    ana = await api.enroll("ana")
    # 10 RON over three equal lines of 3.3333 (to the cent, they are the 10 paid): each line's
    # share is a third. The lines only say what was bought, and the breakdown says 10.
    payload = await buy(
        api, ana, "10", lines=[line(f"ITEM-{n}", "food", 1, "3.3333") for n in range(3)]
    )
    assert breakdown(payload) == {"base": "10"}
    assert_points_are_the_floor_of_the_breakdown(payload)
    assert payload["transaction"]["points"] == 10


# -- lines must be the order they describe ---------------------------------------------------


async def refused_lines(api: API, member_id: str, amount: str, **fields: Any) -> str:
    """recordPurchase refused with INVALID_INPUT on lines, having written nothing."""
    counts = await table_counts()
    payload = await api.mutate(
        "recordPurchase",
        {
            "memberId": member_id,
            "orderId": new_key(),
            "amount": amount,
            "currency": "RON",
            "idempotencyKey": new_key(),
            **fields,
        },
        PURCHASE,
        as_=api.admin(),
    )
    [error] = payload["userErrors"]
    assert (error["code"], error["field"]) == ("INVALID_INPUT", "lines"), payload
    assert payload["transaction"] is None
    assert await table_counts() == counts
    return str(error["message"])


async def test_lines_that_do_not_add_up_to_the_amount_are_refused(api: API):
    await api.use_program(program(OWN_CUP, COFFEE_X2))
    ana = await api.enroll("ana")
    # A 5 RON purchase claiming a million free cups: 10,000,005 points before.
    await refused_lines(api, ana, "5", lines=[line("OWN-CUP", None, 1_000_000, "0")])
    # Lines of 150 on an amount of 10.
    message = await refused_lines(
        api, ana, "10", lines=[line("A", "coffee", 10, "10"), line("B", None, 1, "50")]
    )
    assert "150" in message
    assert "10" in message
    # One 1 RON coffee line on a 1000 RON order (it made the whole order count as coffee).
    await refused_lines(api, ana, "1000", lines=[line("ESPRESSO", "coffee", 1, "1")])
    # Off by a cent is off.
    await refused_lines(api, ana, "10.01", lines=[line("A", None, 1, "10")])
    assert await api.balance(ana) == 0


async def test_a_multiplier_boosts_what_the_lines_say_and_no_more(api: API):
    await api.use_program(program(COFFEE_X2))
    ana = await api.enroll("ana")
    payload = await buy(
        api, ana, "1000", lines=[line("ESPRESSO", "coffee", 1, "1"), line("TV", None, 1, "999")]
    )
    assert breakdown(payload) == {"base": "1000", "rule:double-coffee": "1"}
    assert payload["transaction"]["points"] == 1001


async def test_lines_may_include_tax_or_not_and_an_order_discount_comes_off_them(api: API):
    await api.use_program(program(COFFEE_X2))
    ana = await api.enroll("ana")
    # Prices with tax in them (as European receipts show them): 30 + 20 - 10 = 40 paid.
    taxed_in = await buy(
        api,
        ana,
        "40",
        tax="6.39",
        discount="10",
        lines=[line("LATTE", "coffee", 2, "15"), line("CAKE", "bakery", 1, "20")],
    )
    # 33.61 paid for goods (40 less tax), shared 3:2: coffee's 20.166 is doubled.
    assert taxed_in["purchase"]["eligibleAmount"] == "33.61"
    assert breakdown(taxed_in) == {"base": "33.61", "rule:double-coffee": "20.166"}
    # Prices before tax, with the tax added on top: 50 + 9.5 tax + 4.99 shipping = 64.49.
    taxed_on = await buy(
        api,
        ana,
        "64.49",
        tax="9.5",
        shipping="4.99",
        lines=[line("LATTE", "coffee", 2, "15"), line("CAKE", "bakery", 1, "20")],
    )
    assert taxed_on["purchase"]["eligibleAmount"] == "50.00"
    assert breakdown(taxed_on) == {"base": "50", "rule:double-coffee": "30"}


async def test_points_per_product_stop_at_the_rules_limit_per_purchase(api: API):
    capped_cup = rule(
        "own-cup", "Bring your own cup", "per_product", 'skus = ["OWN-CUP"]\npoints = 10'
    )
    three_bags = rule(
        "tote", "Reusable bag", "per_product", 'skus = ["TOTE"]\npoints = 5\nmax_units = 3'
    )
    await api.use_program(program(capped_cup, three_bags))
    ana = await api.enroll("ana")
    payload = await buy(
        api,
        ana,
        "5",
        lines=[
            line("OWN-CUP", None, 1_000_000, "0"),
            line("TOTE", None, 7, "0"),
            line("WATER", None, 1, "5"),
        ],
    )
    # The default limit is ten units a purchase; this bag rule says three.
    assert breakdown(payload) == {"base": "5", "rule:own-cup": "100", "rule:tote": "15"}
    assert descriptions(payload)["rule:own-cup"] == (
        "Bring your own cup: 10 x 10 (at most 10 a purchase)"
    )
    assert payload["transaction"]["points"] == 120


# -- campaigns --------------------------------------------------------------------------------

# 09:00 in Bucharest on 10 March 2026 is 07:00 UTC; midnight starting 12 March is 22:00 UTC.
SPRING = campaign(
    "spring-double",
    "Spring double",
    "multiplier",
    "2026-03-10T09:00:00",
    "2026-03-12T00:00:00",
    "multiplier = 2",
)


async def test_a_multiplier_campaign_runs_from_its_local_start_to_its_end_excluded(api: API):
    await api.use_program(program(SPRING))
    ana = await api.enroll("ana")
    points = {}
    for at in (
        "2026-03-10T06:59:59.999999+00:00",
        "2026-03-10T07:00:00+00:00",
        "2026-03-10T09:00:00+02:00",
        "2026-03-11T21:59:59.999999Z",
        "2026-03-11T22:00:00Z",
        "2026-03-12T00:00:00+02:00",
    ):
        payload = await buy(api, ana, "100", at=at)
        points[at] = payload["transaction"]["points"]
        if payload["transaction"]["points"] == 200:
            assert breakdown(payload) == {"base": "100", "campaign:spring-double": "100"}
            assert descriptions(payload)["campaign:spring-double"] == "Spring double: x2"
        else:
            assert breakdown(payload) == {"base": "100"}
    assert points == {
        "2026-03-10T06:59:59.999999+00:00": 100,
        "2026-03-10T07:00:00+00:00": 200,
        "2026-03-10T09:00:00+02:00": 200,
        "2026-03-11T21:59:59.999999Z": 200,
        "2026-03-11T22:00:00Z": 100,
        "2026-03-12T00:00:00+02:00": 100,
    }
    # Recorded now, without occurredAt, long after the campaign: no campaign.
    now = await buy(api, ana, "100")
    assert breakdown(now) == {"base": "100"}
    await assert_ledger_consistent()


GOLD_AT_BEANERY = campaign(
    "gold-beanery",
    "Gold at the Beanery",
    "multiplier",
    "2026-03-01",
    "2026-04-01",
    'multiplier = 3\ntiers = ["gold"]\npartners = ["beanery"]',
)


async def test_a_campaign_for_a_tier_and_a_partner_needs_both(api: API):
    await api.use_program(program(GOLD_AT_BEANERY))
    gold = await api.enroll("gold")
    bronze = await api.enroll("bronze")
    assert (await api.adjust(gold, 10_000))["userErrors"] == []  # lifetime 10000: gold
    beanery = await api.partner("beanery")
    skyways = await api.partner("skyways")
    at = "2026-03-15T12:00:00Z"

    gold_at_beanery = await buy(api, gold, "100", at=at, as_=beanery)
    assert breakdown(gold_at_beanery) == {"base": "100", "campaign:gold-beanery": "200"}
    assert gold_at_beanery["transaction"]["points"] == 300
    bronze_at_beanery = await buy(api, bronze, "100", at=at, as_=beanery)
    assert breakdown(bronze_at_beanery) == {"base": "100"}
    gold_at_skyways = await buy(api, gold, "100", at=at, as_=skyways)
    assert breakdown(gold_at_skyways) == {"base": "100"}
    gold_by_operator = await buy(api, gold, "100", at=at)
    assert breakdown(gold_by_operator) == {"base": "100"}


async def test_a_bonus_campaign_gives_its_points_once_per_qualifying_purchase(api: API):
    books = campaign(
        "book-week",
        "Book week",
        "bonus",
        "2026-03-01",
        "2026-03-08",
        'points = 25\ncategories = ["books"]',
    )
    await api.use_program(program(books))
    ana = await api.enroll("ana")
    at = "2026-03-03T10:00:00Z"
    two_books = await buy(
        api, ana, "60", at=at, lines=[line("A", "books", 2, "20"), line("B", "books", 1, "20")]
    )
    assert breakdown(two_books) == {"base": "60", "campaign:book-week": "25"}
    assert descriptions(two_books)["campaign:book-week"] == "Book week"
    assert two_books["transaction"]["points"] == 85
    no_books = await buy(api, ana, "60", at=at, lines=[line("PEN", "stationery", 1, "60")])
    assert breakdown(no_books) == {"base": "60"}
    after = await buy(
        api, ana, "60", at="2026-03-08T10:00:00Z", lines=[line("A", "books", 1, "60")]
    )
    assert breakdown(after) == {"base": "60"}


FIRST_OF_MONTH = campaign(
    "first-of-month",
    "First purchase of the month",
    "first_purchase_of_month",
    "2026-01-01",
    "2026-07-01",
    "points = 50",
)


async def test_the_first_purchase_of_each_local_calendar_month_gets_the_bonus(api: API):
    await api.use_program(program(FIRST_OF_MONTH))
    ana = await api.enroll("ana")
    bea = await api.enroll("bea")
    got = {}
    for at in (
        "2026-03-15T10:00:00Z",  # ana's first in March
        "2026-03-20T10:00:00Z",  # her second
        "2026-03-31T20:59:00Z",  # 23:59 on 31 March in Bucharest: still March
        "2026-03-31T23:30:00Z",  # 02:30 on 1 April in Bucharest: April's first
        "2026-04-10T10:00:00Z",  # April's second
    ):
        payload = await buy(api, ana, "10", at=at)
        got[at] = breakdown(payload).get("campaign:first-of-month")
        assert_points_are_the_floor_of_the_breakdown(payload)
    assert got == {
        "2026-03-15T10:00:00Z": "50",
        "2026-03-20T10:00:00Z": None,
        "2026-03-31T20:59:00Z": None,
        "2026-03-31T23:30:00Z": "50",
        "2026-04-10T10:00:00Z": None,
    }
    # Another member's first purchase of March is hers.
    theirs = await buy(api, bea, "10", at="2026-03-25T10:00:00Z")
    assert breakdown(theirs) == {"base": "10", "campaign:first-of-month": "50"}
    assert descriptions(theirs)["campaign:first-of-month"] == "First purchase of the month"
    assert await api.balance(ana) == 5 * 10 + 2 * 50


async def test_the_first_purchase_of_the_month_is_found_whatever_offset_it_was_written_in(
    api: API,
):
    await api.use_program(program(FIRST_OF_MONTH))
    ana = await api.enroll("ana")
    # 02:30 on 1 April in Bucharest (23:30 UTC on 31 March), written as the till writes it.
    first = await buy(api, ana, "10", at="2026-04-01T02:30:00+03:00")
    assert breakdown(first) == {"base": "10", "campaign:first-of-month": "50"}
    # Half an hour later, written in UTC: the second purchase of April.
    second = await buy(api, ana, "10", at="2026-04-01T00:00:00+00:00")
    assert breakdown(second) == {"base": "10"}


async def test_the_first_purchase_bonus_is_given_once_a_month_even_if_recorded_late(api: API):
    await api.use_program(program(FIRST_OF_MONTH))
    ana = await api.enroll("ana")
    # The 20 March purchase reaches us first; the 15 March one comes in later from an
    # offline till. The month's bonus has been given: it is not given twice.
    later = await buy(api, ana, "10", at="2026-03-20T10:00:00Z")
    assert breakdown(later) == {"base": "10", "campaign:first-of-month": "50"}
    earlier = await buy(api, ana, "10", at="2026-03-15T10:00:00Z")
    assert breakdown(earlier) == {"base": "10"}
    assert await api.balance(ana) == 70


async def test_simultaneous_purchases_give_the_first_of_the_month_bonus_once(api: API):
    await api.use_program(program(FIRST_OF_MONTH))
    ana = await api.enroll("ana")
    beanery = await api.partner("beanery")
    payloads = await asyncio.gather(
        *(buy(api, ana, "10", at="2026-05-04T10:00:00Z", as_=beanery) for _ in range(10))
    )
    bonuses = [p for p in payloads if "campaign:first-of-month" in breakdown(p)]
    assert len(bonuses) == 1, [breakdown(p) for p in payloads]
    assert await api.balance(ana) == 10 * 10 + 50
    await assert_ledger_consistent()


async def test_rule_and_campaign_multipliers_add_they_do_not_compound(api: API):
    triple_coffee = campaign(
        "coffee-week",
        "Coffee week",
        "multiplier",
        "2026-03-01",
        "2026-03-08",
        'multiplier = 3\ncategories = ["coffee"]',
    )
    await api.use_program(program(COFFEE_X2, triple_coffee))
    ana = await api.enroll("ana")
    payload = await buy(
        api,
        ana,
        "15",
        at="2026-03-02T08:00:00Z",
        lines=[line("ESPRESSO", "coffee", 1, "10"), line("WATER", "drinks", 1, "5")],
    )
    # Coffee: 10 base + 10 (x2) + 20 (x3) = x4, not x6; the water earns its 5.
    assert payload["transaction"]["breakdown"] == [
        {"rule": "base", "description": "1 point per RON on 15.00 RON", "points": "15"},
        {
            "rule": "rule:double-coffee",
            "description": "Double points on coffee: x2",
            "points": "10",
        },
        {"rule": "campaign:coffee-week", "description": "Coffee week: x3", "points": "20"},
    ]
    assert payload["transaction"]["points"] == 45
    assert_points_are_the_floor_of_the_breakdown(payload)


# -- budgets ----------------------------------------------------------------------------------

LAUNCH = campaign(
    "launch-bonus", "Launch bonus", "bonus", "2026-03-01", "2026-04-01", "points = 30\nbudget = 70"
)


async def spent(campaign_key: str) -> int:
    found = await sql.row(
        sql.connection(), "SELECT spent FROM campaign_budget WHERE campaign_key = ?", [campaign_key]
    )
    assert found is not None, f"no budget row for {campaign_key}"
    return int(found["spent"])


async def test_a_spent_budget_gives_what_is_left_then_nothing_while_other_lines_earn(api: API):
    await api.use_program(program(COFFEE_X2, LAUNCH))
    ana = await api.enroll("ana")
    assert await spent("launch-bonus") == 0
    coffee = [line("ESPRESSO", "coffee", 2, "10")]
    at = "2026-03-05T09:00:00Z"

    results = [await buy(api, ana, "20", at=at, lines=coffee) for _ in range(4)]
    assert [breakdown(p) for p in results] == [
        {"base": "20", "rule:double-coffee": "20", "campaign:launch-bonus": "30"},
        {"base": "20", "rule:double-coffee": "20", "campaign:launch-bonus": "30"},
        {"base": "20", "rule:double-coffee": "20", "campaign:launch-bonus": "10"},
        {"base": "20", "rule:double-coffee": "20", "campaign:launch-bonus": "0"},
    ]
    assert [p["transaction"]["points"] for p in results] == [70, 70, 50, 40]
    assert descriptions(results[1])["campaign:launch-bonus"] == "Launch bonus"
    for ran_out in results[2:]:
        assert descriptions(ran_out)["campaign:launch-bonus"] == (
            "Launch bonus (the campaign's budget ran out)"
        )
    assert await spent("launch-bonus") == 70
    assert await api.balance(ana) == 230
    await assert_ledger_consistent()


async def test_simultaneous_purchases_never_overspend_a_small_budget(api: API):
    small = campaign(
        "flash-bonus",
        "Flash bonus",
        "bonus",
        "2026-03-01",
        "2026-04-01",
        "points = 30\nbudget = 100",
    )
    await api.use_program(program(small))
    members = [await api.enroll(f"m{n}") for n in range(8)]
    beanery = await api.partner("beanery")
    payloads = await asyncio.gather(
        *(buy(api, m, "10", at="2026-03-10T12:00:00Z", as_=beanery) for m in members)
    )
    given = [Decimal(breakdown(p).get("campaign:flash-bonus", "0")) for p in payloads]
    assert all(0 <= g <= 30 for g in given), given
    assert sum(given) == await spent("flash-bonus")
    # Eight purchases want 240; the budget gives all of its 100 and not a point more.
    assert await spent("flash-bonus") == 100
    assert sum(p["transaction"]["points"] for p in payloads) == 8 * 10 + 100
    for p in payloads:
        assert_points_are_the_floor_of_the_breakdown(p)
    await assert_ledger_consistent()


# -- program versions -------------------------------------------------------------------------


async def version_of(transaction_gid: str) -> int:
    parsed = ids.parse_global_id(transaction_gid)
    assert parsed is not None
    assert parsed[0] == "PointTransaction"
    found = await sql.row(
        sql.connection(),
        "SELECT program_version_id FROM ledger_transaction WHERE id = ?",
        [int(parsed[1])],
    )
    assert found is not None
    return int(found["program_version_id"])


async def test_transactions_keep_the_program_version_and_breakdown_they_were_earned_under(
    api: API,
):
    first = await api.use_program(program(COFFEE_X2))
    ana = await api.enroll("ana")
    coffee = [line("ESPRESSO", "coffee", 1, "10")]
    before = await buy(api, ana, "10", lines=coffee)
    assert breakdown(before) == {"base": "10", "rule:double-coffee": "10"}

    second = await api.use_program(program(LATTE_X3, OWN_CUP))
    assert first.version is not None
    assert second.version is not None
    assert second.version != first.version
    after = await buy(api, ana, "10", lines=coffee)
    assert breakdown(after) == {"base": "10"}
    cup = await buy(api, ana, "10", lines=[*coffee, line("OWN-CUP", None, 1, "0")])
    assert breakdown(cup) == {"base": "10", "rule:own-cup": "10"}

    assert await version_of(before["transaction"]["id"]) == first.version
    assert await version_of(after["transaction"]["id"]) == second.version
    assert await version_of(cup["transaction"]["id"]) == second.version
    # The old transaction still shows the rule that earned it, under the new program.
    data = await api.gql(
        "query($id: ID!) { node(id: $id) { ... on PointTransaction { points "
        "breakdown { rule description points } } } }",
        {"id": before["transaction"]["id"]},
        as_=api.admin(),
    )
    assert data["node"] == {
        "points": 20,
        "breakdown": before["transaction"]["breakdown"],
    }


async def test_purchases_that_lock_wallets_and_budgets_at_once_never_deadlock(api: API):
    # First-of-month checks lock the wallet, a referral locks the referrer's too, and budgets
    # are charged: taken in different orders, these could make purchases wait in a circle.
    await api.use_program(
        BASE_PROGRAM.read_text()
        + "\n[referral]\nreferrer_points = 100\nreferee_points = 50\n"
        + textwrap.dedent(
            """
            [[campaigns]]
            key = "monthly"
            name = "First of the month"
            kind = "first_purchase_of_month"
            points = 20
            starts = 2020-01-01
            ends = 2040-01-01

            [[campaigns]]
            key = "capped"
            name = "Capped double"
            kind = "multiplier"
            multiplier = 2
            starts = 2020-01-01
            ends = 2040-01-01
            budget = 300
            """
        )
    )
    referrer = await api.enroll("referrer", email="referrer@example.com")
    code = (
        await api.gql('query { member(externalId: "referrer") { referralCode } }', as_=api.admin())
    )["member"]["referralCode"]
    referees = [
        await api.enroll(f"referee-{n}", email=f"referee{n}@example.com", referralCode=code)
        for n in range(4)
    ]
    buyers = [referrer, *referees] * 4
    results = await asyncio.gather(*(api.purchase(member, "40") for member in buyers))
    assert all(r["userErrors"] == [] for r in results), results
    spent = await sql.row(
        sql.connection(), "SELECT spent FROM campaign_budget WHERE campaign_key = 'capped'"
    )
    assert spent is not None
    assert int(spent["spent"]) <= 300
    firsts = await sql.rows(
        sql.connection(),
        "SELECT t.member_id, COUNT(*) AS n FROM ledger_transaction t "
        "WHERE CAST(t.breakdown AS TEXT) LIKE '%campaign:monthly%' GROUP BY t.member_id",
    )
    assert all(int(r["n"]) == 1 for r in firsts)
    assert len(firsts) == 5
    await assert_ledger_consistent()
