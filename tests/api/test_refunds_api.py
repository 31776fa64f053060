"""refundPurchase through the API: proportional clawback, pending points, debt, permissions.

The base program (tests/programs/base.toml) earns 1 point per RON and 4.5 per USD, without
holds; tests that need a return window switch to a program with one.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Coroutine
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.runtime import prepare
from domain import adjustments, jobs, members, purchases, redemptions, refunds, sql
from domain.actors import ADMIN, Actor, ActorKind
from domain.program_file import load_program
from partners import registry
from schema import ids
from tests.helpers import (
    API,
    BASE_PROGRAM,
    ManualClock,
    Stores,
    assert_ledger_consistent,
    new_key,
    table_counts,
)

T = TypeVar("T")

MEMBER = "balance pendingPoints lifetimePoints pointsOwed"
REFUND = (
    f"member {{ id {MEMBER} }} "
    "purchase { id orderId amount points refundedAmount pointsClawedBack } "
    "transaction { id kind points balanceAfter reference } pointsClawedBack"
)
PURCHASE = (
    f"member {{ {MEMBER} }} transaction {{ id kind points balanceAfter }} "
    "purchase { id orderId points }"
)
# A return window of 14 days on every purchase.
HELD = BASE_PROGRAM.read_text().replace("[purchases]\n", "[purchases]\npending_days = 14\n", 1)


async def refund(
    api: API,
    *,
    purchase_id: str | None = None,
    order_id: str | None = None,
    amount: str | None = None,
    key: str | None = None,
    as_: dict[str, str] | None = None,
) -> dict[str, Any]:
    fields: dict[str, Any] = {"idempotencyKey": key or new_key()}
    if purchase_id is not None:
        fields["purchaseId"] = purchase_id
    if order_id is not None:
        fields["orderId"] = order_id
    if amount is not None:
        fields["amount"] = amount
    return await api.mutate("refundPurchase", fields, REFUND, as_=as_ or api.admin())


async def state(api: API, member_id: str) -> dict[str, int]:
    data = await api.gql(
        f"query($id: ID!) {{ member(id: $id) {{ {MEMBER} }} }}", {"id": member_id}, as_=api.admin()
    )
    return data["member"]


async def buy(
    api: API, member_id: str, amount: str, as_: dict[str, str] | None = None, **fields: Any
) -> dict[str, Any]:
    """recordPurchase with the whole member state in the payload; must succeed."""
    payload = await api.mutate(
        "recordPurchase",
        {
            "memberId": member_id,
            "orderId": fields.pop("order_id", None) or new_key(),
            "amount": amount,
            "currency": fields.pop("currency", "RON"),
            "idempotencyKey": new_key(),
            **fields,
        },
        PURCHASE,
        as_=as_ or api.admin(),
    )
    assert payload["userErrors"] == [], payload
    return payload


async def purchase_node(api: API, purchase_id: str) -> dict[str, Any]:
    data = await api.gql(
        "query($id: ID!) { node(id: $id) { ... on Purchase { orderId amount points "
        "refundedAmount pointsClawedBack transaction { kind points } } } }",
        {"id": purchase_id},
        as_=api.admin(),
    )
    return data["node"]


def ok(payload: dict[str, Any]) -> dict[str, Any]:
    assert payload["userErrors"] == [], payload
    return payload


def error(payload: dict[str, Any]) -> tuple[str, str | None]:
    assert len(payload["userErrors"]) == 1, payload
    return payload["userErrors"][0]["code"], payload["userErrors"][0]["field"]


async def refund_rows() -> list[dict[str, Any]]:
    return await sql.rows(
        sql.connection(),
        "SELECT purchase_id, source, amount, points, transaction_id FROM purchase_refund "
        "ORDER BY id",
    )


async def kinds(member_id: str, api: API) -> list[tuple[str, int, str | None]]:
    data = await api.gql(
        "query($id: ID!) { member(id: $id) { transactions(first: 50) { nodes { kind points "
        "reference } } } }",
        {"id": member_id},
        as_=api.admin(),
    )
    nodes = data["member"]["transactions"]["nodes"]
    return [(n["kind"], n["points"], n["reference"]) for n in reversed(nodes)]


# -- full and partial ------------------------------------------------------------------------


async def test_a_full_refund_by_purchase_id_takes_back_every_point(api: API):
    ana = await api.enroll("ana")
    beanery = await api.partner("beanery")
    earned = await buy(api, ana, "100.00", as_=beanery, order_id="BEAN-1")
    purchase = earned["purchase"]
    assert purchase["points"] == 100

    done = ok(await refund(api, purchase_id=purchase["id"], as_=beanery))
    assert done["pointsClawedBack"] == 100
    assert done["transaction"]["kind"] == "REFUND"
    assert done["transaction"]["points"] == -100
    assert done["transaction"]["balanceAfter"] == 0
    assert done["transaction"]["reference"] == "BEAN-1"
    assert done["member"]["id"] == ana
    assert {k: done["member"][k] for k in MEMBER.split()} == {
        "balance": 0,
        "pendingPoints": 0,
        "lifetimePoints": 0,
        "pointsOwed": 0,
    }
    assert done["purchase"]["id"] == purchase["id"]
    assert Decimal(done["purchase"]["refundedAmount"]) == Decimal("100")
    assert done["purchase"]["pointsClawedBack"] == 100
    assert await state(api, ana) == {
        "balance": 0,
        "pendingPoints": 0,
        "lifetimePoints": 0,
        "pointsOwed": 0,
    }
    node = await purchase_node(api, purchase["id"])
    assert Decimal(node["refundedAmount"]) == Decimal("100")
    assert node["pointsClawedBack"] == 100
    assert node["points"] == 100  # what it earned stays on record
    assert (await kinds(ana, api))[-1] == ("REFUND", -100, "BEAN-1")
    rows = await refund_rows()
    assert [(r["source"], Decimal(str(r["amount"])), r["points"]) for r in rows] == [
        ("partner:beanery", Decimal("100"), 100)
    ]
    await assert_ledger_consistent()


async def test_a_partial_refund_by_order_id_takes_back_its_share_among_the_callers_own(api: API):
    ana = await api.enroll("ana")
    bogdan = await api.enroll("bogdan")
    beanery, skyways = await api.partner("beanery"), await api.partner("skyways")
    # Both partners have an order O-1; each refunds its own by orderId.
    await buy(api, ana, "100.00", as_=beanery, order_id="O-1")
    sky = (await buy(api, bogdan, "200.00", as_=skyways, order_id="O-1"))["purchase"]

    done = ok(await refund(api, order_id="O-1", amount="50", as_=skyways))
    assert done["purchase"]["id"] == sky["id"]
    assert done["pointsClawedBack"] == 50  # 200 points x 50 / 200
    assert done["member"]["id"] == bogdan
    assert done["member"]["balance"] == 150
    assert done["member"]["lifetimePoints"] == 150
    assert Decimal(done["purchase"]["refundedAmount"]) == Decimal("50")
    assert await api.balance(ana) == 100
    assert await api.balance(bogdan) == 150
    # The operator's own orders are its own too: it has none called O-1.
    assert error(await refund(api, order_id="O-1", amount="1")) == ("NOT_FOUND", "orderId")
    await assert_ledger_consistent()


async def test_the_share_is_of_the_whole_amount_paid_shipping_and_tax_included(api: API):
    ana = await api.enroll("ana")
    # (120 - 20 tax) x 1 = 100 points; half the money back takes half the points.
    purchase = (await buy(api, ana, "120", tax="20"))["purchase"]
    assert purchase["points"] == 100
    assert ok(await refund(api, purchase_id=purchase["id"], amount="60"))["pointsClawedBack"] == 50
    assert await api.balance(ana) == 50
    await assert_ledger_consistent()


@pytest.mark.parametrize(
    ("amount", "currency", "parts", "claws"),
    [
        ("100.00", "RON", ["33.33", "33.33", "33.34"], [33, 33, 34]),
        # 99.99 USD x 4.5 = 449 points: floor(449 x k/3) after each third.
        ("99.99", "USD", ["33.33", "33.33", "33.33"], [149, 150, 150]),
        ("10", "RON", ["0.01", "0.01", "9.97", "0.01"], [0, 0, 9, 1]),
    ],
)
async def test_partial_refunds_add_up_to_exactly_what_the_purchase_earned(
    api: API, amount: str, currency: str, parts: list[str], claws: list[int]
):
    ana = await api.enroll("ana")
    purchase = (await buy(api, ana, amount, currency=currency))["purchase"]
    assert purchase["points"] == sum(claws)
    got = []
    for part in parts:
        got.append(
            ok(await refund(api, purchase_id=purchase["id"], amount=part))["pointsClawedBack"]
        )
    assert got == claws
    assert await state(api, ana) == {
        "balance": 0,
        "pendingPoints": 0,
        "lifetimePoints": 0,
        "pointsOwed": 0,
    }
    node = await purchase_node(api, purchase["id"])
    assert Decimal(node["refundedAmount"]) == Decimal(amount)
    assert node["pointsClawedBack"] == purchase["points"]
    await assert_ledger_consistent()


async def test_refunding_more_than_is_left_or_a_fully_refunded_purchase_is_refused(api: API):
    ana = await api.enroll("ana")
    purchase = (await buy(api, ana, "100"))["purchase"]
    ok(await refund(api, purchase_id=purchase["id"], amount="60"))
    before, rows = await table_counts(), await refund_rows()

    assert error(await refund(api, purchase_id=purchase["id"], amount="40.01")) == (
        "INVALID_INPUT",
        "amount",
    )
    assert await table_counts() == before
    assert await refund_rows() == rows
    assert await api.balance(ana) == 40

    ok(await refund(api, purchase_id=purchase["id"]))  # whatever is left: 40
    assert await api.balance(ana) == 0
    before, rows = await table_counts(), await refund_rows()
    for amount in (None, "1"):
        code, _ = error(await refund(api, purchase_id=purchase["id"], amount=amount))
        assert code == "INVALID_STATE"
    assert await table_counts() == before
    assert await refund_rows() == rows
    await assert_ledger_consistent()


async def test_unknown_purchases_and_bad_amounts_are_user_errors(api: API):
    ana = await api.enroll("ana")
    purchase = (await buy(api, ana, "100"))["purchase"]
    missing = ids.global_id("Purchase", 999999)
    assert error(await refund(api, purchase_id=missing))[0] == "NOT_FOUND"
    assert error(await refund(api, purchase_id=ana))[0] == "INVALID_INPUT"  # a Member id
    for amount in ("0", "-5", "abc"):
        assert error(await refund(api, purchase_id=purchase["id"], amount=amount)) == (
            "INVALID_INPUT",
            "amount",
        )
    neither = {"idempotencyKey": new_key()}
    payload = await api.mutate("refundPurchase", neither, REFUND, as_=api.admin())
    assert error(payload) == ("INVALID_INPUT", "purchaseId")
    assert await api.balance(ana) == 100
    await assert_ledger_consistent()


# -- idempotency -----------------------------------------------------------------------------


async def test_a_replay_returns_the_first_result_and_takes_nothing_more(api: API):
    ana = await api.enroll("ana")
    purchase = (await buy(api, ana, "100"))["purchase"]
    first = ok(await refund(api, purchase_id=purchase["id"], amount="30", key="r-1"))
    again = ok(await refund(api, purchase_id=purchase["id"], amount="30", key="r-1"))
    assert again["transaction"]["id"] == first["transaction"]["id"]
    assert again["pointsClawedBack"] == first["pointsClawedBack"] == 30
    assert again["purchase"]["id"] == purchase["id"]
    assert await api.balance(ana) == 70
    assert len(await refund_rows()) == 1
    node = await purchase_node(api, purchase["id"])
    assert Decimal(node["refundedAmount"]) == Decimal("30")
    assert node["pointsClawedBack"] == 30

    before = await table_counts()
    other = await refund(api, purchase_id=purchase["id"], amount="31", key="r-1")
    assert error(other)[0] == "IDEMPOTENCY_KEY_REUSED"
    assert await table_counts() == before
    assert await api.balance(ana) == 70
    await assert_ledger_consistent()


# -- who may refund --------------------------------------------------------------------------


async def test_only_the_recording_partner_or_the_operator_refunds(api: API):
    ana = await api.enroll("ana")
    beanery, skyways = await api.partner("beanery"), await api.partner("skyways")
    purchase = (await buy(api, ana, "100", as_=beanery, order_id="BEAN-7"))["purchase"]
    before = await table_counts()

    assert error(await refund(api, purchase_id=purchase["id"], as_=skyways)) == (
        "FORBIDDEN",
        "purchaseId",
    )
    # By orderId a partner only ever sees its own orders.
    assert error(await refund(api, order_id="BEAN-7", as_=skyways)) == ("NOT_FOUND", "orderId")
    for caller in (api.member("ana"), None):
        payload = await api.mutate(
            "refundPurchase",
            {"purchaseId": purchase["id"], "idempotencyKey": new_key()},
            REFUND,
            as_=caller,
        )
        assert error(payload)[0] == "FORBIDDEN"
    assert await table_counts() == before
    assert await refund_rows() == []
    assert await api.balance(ana) == 100

    done = ok(await refund(api, purchase_id=purchase["id"], amount="10"))  # the operator
    assert done["pointsClawedBack"] == 10
    done = ok(await refund(api, order_id="BEAN-7", amount="10", as_=beanery))
    assert done["pointsClawedBack"] == 10
    assert [r["source"] for r in await refund_rows()] == ["admin", "partner:beanery"]
    assert await api.balance(ana) == 80
    await assert_ledger_consistent()


# -- pending points --------------------------------------------------------------------------


async def test_refunding_a_purchase_whose_points_are_pending_cancels_them_without_debt(api: API):
    await api.use_program(HELD)
    ana = await api.enroll("ana")
    await api.adjust(ana, 50)  # spendable, untouched by the refund
    earned = await buy(api, ana, "100")
    assert earned["member"] == {
        "balance": 50,
        "pendingPoints": 100,
        "lifetimePoints": 150,
        "pointsOwed": 0,
    }
    purchase = earned["purchase"]

    part = ok(await refund(api, purchase_id=purchase["id"], amount="40"))
    assert part["pointsClawedBack"] == 40
    assert part["transaction"]["kind"] == "REFUND"
    assert part["transaction"]["points"] == -40
    assert part["transaction"]["balanceAfter"] == 50
    assert {k: part["member"][k] for k in MEMBER.split()} == {
        "balance": 50,
        "pendingPoints": 60,
        "lifetimePoints": 110,
        "pointsOwed": 0,
    }
    rest = ok(await refund(api, purchase_id=purchase["id"]))
    assert rest["pointsClawedBack"] == 60
    assert await state(api, ana) == {
        "balance": 50,
        "pendingPoints": 0,
        "lifetimePoints": 50,
        "pointsOwed": 0,
    }
    lots = await sql.rows(
        sql.connection(), "SELECT amount, remaining, pending FROM lot ORDER BY id"
    )
    assert [(r["amount"], r["remaining"], bool(r["pending"])) for r in lots] == [
        (50, 50, False),
        (100, 0, True),
    ]
    await assert_ledger_consistent()


async def test_a_partners_own_return_window_holds_only_its_purchases(api: API):
    await api.use_program(
        BASE_PROGRAM.read_text().replace(
            'key = "beanery"\nname = "The Beanery"\ncurrency = "BEAN"\n',
            'key = "beanery"\nname = "The Beanery"\ncurrency = "BEAN"\npending_days = 7\n',
        )
    )
    ana = await api.enroll("ana")
    beanery = await api.partner("beanery")
    held = (await buy(api, ana, "100", as_=beanery))["purchase"]
    spendable = (await buy(api, ana, "30", as_=await api.partner("skyways")))["purchase"]
    assert await state(api, ana) == {
        "balance": 30,
        "pendingPoints": 100,
        "lifetimePoints": 130,
        "pointsOwed": 0,
    }
    ok(await refund(api, purchase_id=held["id"], as_=beanery))
    assert await state(api, ana) == {
        "balance": 30,
        "pendingPoints": 0,
        "lifetimePoints": 30,
        "pointsOwed": 0,
    }
    ok(await refund(api, purchase_id=spendable["id"]))
    assert await state(api, ana) == {
        "balance": 0,
        "pendingPoints": 0,
        "lifetimePoints": 0,
        "pointsOwed": 0,
    }
    await assert_ledger_consistent()


# -- debt ------------------------------------------------------------------------------------


async def test_spent_points_become_debt_that_later_purchases_repay_first(api: API):
    ana = await api.enroll("ana")
    purchase = (await buy(api, ana, "1000", order_id="BIG"))["purchase"]
    assert ok(await api.redeem("discount-10", member_id=ana))["member"]["balance"] == 0

    done = ok(await refund(api, purchase_id=purchase["id"]))
    assert done["pointsClawedBack"] == 1000
    assert done["transaction"]["kind"] == "REFUND"
    assert done["transaction"]["points"] == 0  # nothing left in the wallet to take
    assert done["transaction"]["reference"] == "BIG"
    assert {k: done["member"][k] for k in MEMBER.split()} == {
        "balance": 0,
        "pendingPoints": 0,
        "lifetimePoints": 0,
        "pointsOwed": 1000,
    }
    await assert_ledger_consistent()

    # 300 points all go to the debt: the wallet leg is 300 - 300 = 0.
    first = await buy(api, ana, "300")
    assert first["purchase"]["points"] == 300
    assert first["transaction"]["kind"] == "EARN"
    assert first["transaction"]["points"] == 0
    assert first["transaction"]["balanceAfter"] == 0
    assert first["member"] == {
        "balance": 0,
        "pendingPoints": 0,
        "lifetimePoints": 300,
        "pointsOwed": 700,
    }
    me = await api.gql(f"{{ me {{ {MEMBER} }} }}", as_=api.member("ana"))
    assert me["me"] == first["member"]
    await assert_ledger_consistent()

    # 1000 more: 700 repay the rest, 300 reach the balance.
    second = await buy(api, ana, "1000")
    assert second["transaction"]["points"] == 300
    assert second["transaction"]["balanceAfter"] == 300
    assert second["member"] == {
        "balance": 300,
        "pendingPoints": 0,
        "lifetimePoints": 1300,
        "pointsOwed": 0,
    }
    me = await api.gql(f"{{ me {{ {MEMBER} }} }}", as_=api.member("ana"))
    assert me["me"] == second["member"]
    # The history shows each wallet leg.
    assert [(k, p) for k, p, _ in await kinds(ana, api)] == [
        ("EARN", 1000),
        ("REDEEM", -1000),
        ("REFUND", 0),
        ("EARN", 0),
        ("EARN", 300),
    ]
    await assert_ledger_consistent()

    # Refunding the purchase that only repaid debt takes its 300 from the balance: as if
    # it had never been made.
    undone = ok(await refund(api, purchase_id=first["purchase"]["id"]))
    assert undone["pointsClawedBack"] == 300
    assert undone["transaction"]["points"] == -300
    assert await state(api, ana) == {
        "balance": 0,
        "pendingPoints": 0,
        "lifetimePoints": 1000,
        "pointsOwed": 0,
    }
    await assert_ledger_consistent()


async def test_a_refund_takes_what_the_balance_holds_and_owes_the_rest(api: API):
    ana = await api.enroll("ana")
    purchase = (await buy(api, ana, "1000"))["purchase"]
    await buy(api, ana, "300")  # 1300 in all
    ok(await api.redeem("discount-10", member_id=ana))  # 300 left
    done = ok(await refund(api, purchase_id=purchase["id"]))
    assert done["pointsClawedBack"] == 1000
    assert done["transaction"]["points"] == -300
    assert {k: done["member"][k] for k in MEMBER.split()} == {
        "balance": 0,
        "pendingPoints": 0,
        "lifetimePoints": 300,
        "pointsOwed": 700,
    }
    # The operator's goodwill credit repays the debt as well.
    adjusted = await api.adjust(ana, 1000)
    assert adjusted["transaction"]["points"] == 300
    assert await state(api, ana) == {
        "balance": 300,
        "pendingPoints": 0,
        "lifetimePoints": 1300,
        "pointsOwed": 0,
    }
    await assert_ledger_consistent()


async def test_lifetime_points_drop_by_what_was_clawed_back_but_not_below_zero(api: API):
    ana = await api.enroll("ana")
    purchase = (await buy(api, ana, "100"))["purchase"]
    await api.adjust(ana, -80)  # a correction: lifetime 20, balance 20
    assert await state(api, ana) == {
        "balance": 20,
        "pendingPoints": 0,
        "lifetimePoints": 20,
        "pointsOwed": 0,
    }
    done = ok(await refund(api, purchase_id=purchase["id"]))
    assert done["pointsClawedBack"] == 100
    assert await state(api, ana) == {
        "balance": 0,
        "pendingPoints": 0,
        "lifetimePoints": 0,
        "pointsOwed": 80,
    }
    await assert_ledger_consistent()


async def test_a_purchase_that_earned_nothing_can_be_refunded_without_a_transaction(api: API):
    ana = await api.enroll("ana")
    # 5 TRY x 0.15 = 0.75 points: rounded down to none.
    purchase = (await buy(api, ana, "5", currency="TRY"))["purchase"]
    assert purchase["points"] == 0
    counts = await table_counts()
    done = ok(await refund(api, purchase_id=purchase["id"], amount="2"))
    assert done["pointsClawedBack"] == 0
    assert done["transaction"] is None
    assert Decimal(done["purchase"]["refundedAmount"]) == Decimal("2")
    assert ok(await refund(api, purchase_id=purchase["id"]))["transaction"] is None
    after = await table_counts()
    assert after["ledger_transaction"] == counts["ledger_transaction"]
    assert after["entry"] == counts["entry"]
    assert [r["transaction_id"] for r in await refund_rows()] == [None, None]
    node = await purchase_node(api, purchase["id"])
    assert Decimal(node["refundedAmount"]) == Decimal("5")
    assert node["pointsClawedBack"] == 0
    assert await state(api, ana) == {
        "balance": 0,
        "pendingPoints": 0,
        "lifetimePoints": 0,
        "pointsOwed": 0,
    }
    await assert_ledger_consistent()


# -- at once ---------------------------------------------------------------------------------


async def fire(api: API, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    query = (
        "mutation($i: RefundPurchaseInput!) { refundPurchase(input: $i) { pointsClawedBack "
        "transaction { id points } userErrors { code field message } } }"
    )
    async with asyncio.timeout(60):
        responses = await asyncio.gather(*(api.post(query, {"i": c}, api.admin()) for c in calls))
    assert [r.status_code for r in responses] == [200] * len(calls), [r.text for r in responses]
    bodies = [r.json() for r in responses]
    assert [b.get("errors") for b in bodies] == [None] * len(calls), bodies
    return [b["data"]["refundPurchase"] for b in bodies]


@pytest.mark.parametrize(
    ("amount", "currency", "each", "succeed", "clawed"),
    [
        # Ten tenths of 100 RON: every one goes through, 100 points back in all.
        ("100", "RON", "10", 10, 100),
        # 99.99 USD earn 449 points; 12.50 at a time fits 7 times (87.50), taking
        # floor(449 x 87.5 / 99.99) = 392.
        ("99.99", "USD", "12.50", 7, 392),
    ],
)
async def test_simultaneous_partial_refunds_never_take_more_than_was_earned(
    api: API, amount: str, currency: str, each: str, succeed: int, clawed: int
):
    ana = await api.enroll("ana")
    purchase = (await buy(api, ana, amount, currency=currency))["purchase"]
    calls = [
        {"purchaseId": purchase["id"], "amount": each, "idempotencyKey": new_key()}
        for _ in range(10)
    ]
    payloads = await fire(api, calls)
    good = [p for p in payloads if not p["userErrors"]]
    refused = [p for p in payloads if p["userErrors"]]
    assert len(good) == succeed, payloads
    assert {(p["userErrors"][0]["code"], p["userErrors"][0]["field"]) for p in refused} <= {
        ("INVALID_INPUT", "amount"),
        ("INVALID_STATE", "purchaseId"),
    }
    assert sum(p["pointsClawedBack"] for p in good) == clawed
    node = await purchase_node(api, purchase["id"])
    assert Decimal(node["refundedAmount"]) == Decimal(each) * succeed
    assert Decimal(node["refundedAmount"]) <= Decimal(amount)
    assert node["pointsClawedBack"] == clawed <= purchase["points"]
    assert await api.balance(ana) == purchase["points"] - clawed
    rows = await refund_rows()
    assert len(rows) == succeed
    assert sum(r["points"] for r in rows) == clawed
    await assert_ledger_consistent()


# -- the property: a full refund undoes the purchase -----------------------------------------

RATES = {"RON": 1, "EUR": 5, "USD": Decimal("4.5"), "PLN": Decimal("1.2"), "TRY": Decimal("0.15")}


@dataclass(frozen=True)
class Case:
    amount_cents: int
    shipping_cents: int
    tax_cents: int
    currency: str
    rules: str  # program-file sections appended to the base program
    pending_days: int
    start_balance: int
    spend: bool  # redeem plant-a-tree (300) between the purchase and the refunds
    parts: tuple[int, ...]  # partial refunds first, in cents


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


@st.composite
def cases(draw: st.DrawFn) -> Case:
    amount = draw(st.integers(1, 2_000_000))
    shipping = draw(st.integers(0, amount))
    tax = draw(st.integers(0, amount - shipping))
    sections = []
    for n in range(draw(st.integers(0, 2))):
        multiplier = draw(st.sampled_from(["1.5", "2", "3", "0.5", "1.25"]))
        sections.append(
            f'[[purchase_rules]]\nkey = "times-{n}"\nname = "x{multiplier}"\n'
            f'kind = "multiplier"\nmultiplier = "{multiplier}"\n'
        )
    if draw(st.booleans()):
        points = draw(st.integers(1, 500))
        level = draw(st.integers(1, 5000))  # a threshold of 0 is no threshold: refused
        sections.append(
            '[[purchase_rules]]\nkey = "big"\nname = "big"\nkind = "spend_threshold"\n'
            f"points = {points}\namounts = {{ {', '.join(f'{c} = {level}' for c in RATES)} }}\n"
        )
    if draw(st.booleans()):
        sections.append(
            '[[campaigns]]\nkey = "always"\nname = "always"\nkind = "bonus"\n'
            f"points = {draw(st.integers(1, 300))}\nstarts = 2020-01-01\nends = 2100-01-01\n"
        )
    if draw(st.booleans()):
        sections.append(
            '[[campaigns]]\nkey = "boost"\nname = "boost"\nkind = "multiplier"\n'
            f'multiplier = "{draw(st.sampled_from(["2", "1.1", "3.5"]))}"\n'
            "starts = 2020-01-01\nends = 2100-01-01\n"
        )
    parts = []
    left = amount
    for _ in range(draw(st.integers(0, 3))):
        if left <= 1:
            break
        part = draw(st.integers(1, left - 1))
        parts.append(part)
        left -= part
    return Case(
        amount_cents=amount,
        shipping_cents=shipping,
        tax_cents=tax,
        currency=draw(st.sampled_from(sorted(RATES))),
        rules="\n".join(sections),
        pending_days=draw(st.sampled_from([0, 0, 7])),
        start_balance=draw(st.sampled_from([0, 0, 100, 1000])),
        spend=draw(st.booleans()),
        parts=tuple(parts),
    )


async def _wallet(member_id: int) -> dict[str, int]:
    row = await sql.row(
        sql.connection(),
        "SELECT a.balance, a.pending, a.debt, a.lifetime FROM member m JOIN account a "
        "ON a.id = m.account_id WHERE m.id = ?",
        [member_id],
    )
    assert row is not None
    return {k: int(v) for k, v in row.items()}


async def _full_refund_undoes(case: Case, n: int) -> None:
    text = BASE_PROGRAM.read_text().replace(
        "[purchases]\n", f"[purchases]\npending_days = {case.pending_days}\n", 1
    )
    program = await prepare(load_program(text + "\n" + case.rules))
    partner = Actor(
        ActorKind.PARTNER,
        partner_id=(await registry.sync(program))["beanery"],
        partner_key="beanery",
    )
    member = (await members.enroll(program, ADMIN, members.Enrollment(f"m{n}"), None)).member.id
    ref = members.MemberRef(id=member)
    if case.start_balance:
        await adjustments.adjust(program, ADMIN, ref, case.start_balance, "start", f"a{n}")
    before = await _wallet(member)
    recorded = await purchases.record(
        program,
        partner,
        purchases.PurchaseInput(
            member=ref,
            order_id=f"o{n}",
            amount=_money(case.amount_cents),
            currency=case.currency,
            shipping=_money(case.shipping_cents),
            tax=_money(case.tax_cents),
        ),
        f"p{n}",
    )
    spent = 0
    if case.spend and (await _wallet(member))["balance"] >= 300:
        await redemptions.redeem(program, ADMIN, ref, "plant-a-tree", f"r{n}")
        spent = 300
    clawed = 0
    for i, part in enumerate(case.parts):
        done = await refunds.refund(
            program,
            partner,
            refunds.PurchaseRef(id=recorded.purchase.id),
            _money(part),
            f"f{n}-{i}",
        )
        clawed += done.points
    last = await refunds.refund(
        program, partner, refunds.PurchaseRef(order_id=f"o{n}"), None, f"f{n}-last"
    )
    clawed += last.points
    assert clawed == recorded.purchase.points
    after = await _wallet(member)
    assert (
        after["balance"] + after["pending"] - after["debt"]
        == before["balance"] + before["pending"] - before["debt"] - spent
    ), (before, after, recorded.purchase.points)
    assert after["lifetime"] <= before["lifetime"] or recorded.purchase.points == 0
    bought = await sql.row(
        sql.connection(),
        "SELECT amount, refunded_amount, points, points_clawed_back FROM purchase WHERE id = ?",
        [recorded.purchase.id],
    )
    assert bought is not None
    assert Decimal(str(bought["refunded_amount"])) == Decimal(str(bought["amount"]))
    assert int(bought["points_clawed_back"]) == int(bought["points"]) == recorded.purchase.points
    await assert_ledger_consistent()


async def test_a_full_refund_restores_balance_plus_pending_minus_owed(db: Stores):
    loop = asyncio.get_running_loop()
    counter = itertools.count()

    def run(coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

    @settings(
        max_examples=12,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(case=cases())
    def check(case: Case) -> None:
        run(_full_refund_undoes(case, next(counter)))

    await asyncio.to_thread(check)


async def test_a_cancelled_redemption_settles_what_the_member_owes_first(api: API):
    ana = await api.enroll("ana")
    bought = await buy(api, ana, "1000")
    spent = await api.redeem("discount-10", member_id=ana)  # 1000: everything
    assert spent["userErrors"] == []
    ok(await refund(api, purchase_id=bought["purchase"]["id"]))
    assert (await state(api, ana))["pointsOwed"] == 1000

    cancelled = await api.cancel(spent["redemption"]["id"])
    assert cancelled["userErrors"] == []
    after = await state(api, ana)
    assert after["pointsOwed"] == 0
    assert after["balance"] == 0
    # The points came back (CANCEL +1000), then went to what was owed (REPAY -1000).
    assert [k for k, _, _ in await kinds(ana, api)][-2:] == ["CANCEL", "REPAY"]
    await assert_ledger_consistent()


# -- points that expired before the refund ----------------------------------------------------


async def test_a_refund_never_takes_points_that_already_expired(api: API):
    """P1 earns 150, which expire to breakage; P2 earns 700; refunding P1 in full leaves 700:
    the expired 150 went back to the program already, and nothing is owed."""
    clock = api.use_clock(ManualClock("2026-03-02T10:00:00+00:00"))
    ana = await api.enroll("ana")
    first = await buy(api, ana, "150", order_id="P1")
    assert first["member"]["balance"] == 150
    clock.advance(days=367)  # past the end of the local day 365 days on
    report = await jobs.run_all(api.runtime.program, clock.now())
    assert report.expired == 150
    await buy(api, ana, "700", order_id="P2")

    done = ok(await refund(api, purchase_id=first["purchase"]["id"]))

    assert done["member"] == {
        "id": ana,
        "balance": 700,
        "pendingPoints": 0,
        "lifetimePoints": 700,
        "pointsOwed": 0,
    }
    assert done["pointsClawedBack"] == 0
    assert done["transaction"] is None
    assert done["purchase"]["refundedAmount"] == "150.00"
    assert await state(api, ana) == {
        "balance": 700,
        "pendingPoints": 0,
        "lifetimePoints": 700,
        "pointsOwed": 0,
    }
    await assert_ledger_consistent()


async def test_a_refund_takes_back_what_was_spent_but_not_what_expired(api: API):
    """400 earned, 300 spent on a tree, the other 100 expired: a full refund takes back the
    300 that were spent (from the balance a later purchase gave), not the expired 100."""
    clock = api.use_clock(ManualClock("2026-03-02T10:00:00+00:00"))
    ana = await api.enroll("ana")
    first = await buy(api, ana, "400", order_id="P1")
    ok(await api.redeem("plant-a-tree", member_id=ana))
    clock.advance(days=367)
    assert (await jobs.run_all(api.runtime.program, clock.now())).expired == 100
    await buy(api, ana, "700", order_id="P2")

    # Half the money back: 200 of the 400 are due, and the expired 100 count towards them.
    half = ok(await refund(api, purchase_id=first["purchase"]["id"], amount="200"))
    assert half["pointsClawedBack"] == 100
    assert half["member"]["balance"] == 600
    rest = ok(await refund(api, purchase_id=first["purchase"]["id"]))
    assert rest["pointsClawedBack"] == 200
    assert rest["member"]["balance"] == 400
    assert rest["member"]["pointsOwed"] == 0
    assert rest["purchase"]["pointsClawedBack"] == 300
    await assert_ledger_consistent()
