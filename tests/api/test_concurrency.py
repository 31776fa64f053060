"""Simultaneous requests through the API: no overspending, no double counting, no 500s.

Every burst is fired with asyncio.gather on one client, so the requests interleave inside the
app exactly as far as its awaits let them: on PostgreSQL they run in parallel transactions of
the pool, on SQLite they queue for its single writer. Either way the outcome must be the one
a serial order would give.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from typing import Any

import pytest

from domain import sql
from tests.helpers import API, assert_ledger_consistent, new_key, reward_gid

# Generous: a burst takes well under a second; this only turns a deadlock into a failure.
HANG_GUARD_SECONDS = 60

SELECTIONS = {
    "enrollMember": "member { id externalId }",
    "adjustPoints": "member { id balance } transaction { id kind points balanceAfter }",
    "recordPurchase": "member { id balance } purchase { id orderId points } "
    "transaction { id kind points balanceAfter }",
    "redeemReward": "member { id balance } redemption { id status points } "
    "transaction { id kind points balanceAfter }",
    "cancelRedemption": "member { id balance } redemption { id status } "
    "transaction { id kind points balanceAfter }",
}

Call = tuple[str, dict[str, Any], dict[str, str]]


def _mutation(name: str) -> str:
    input_type = name[0].upper() + name[1:] + "Input"
    return (
        f"mutation($i: {input_type}!) {{ {name}(input: $i) {{ {SELECTIONS[name]} "
        "userErrors { code field message } } }"
    )


async def _fire(api: API, calls: list[Call]) -> list[dict[str, Any]]:
    """Sends every call at once and returns their payloads, in order. Every response must be
    an HTTP 200 without top-level GraphQL errors: expected failures are userErrors."""
    try:
        async with asyncio.timeout(HANG_GUARD_SECONDS):
            responses = await asyncio.gather(
                *(api.post(_mutation(name), {"i": input}, as_) for name, input, as_ in calls),
                return_exceptions=True,
            )
    except TimeoutError:
        pytest.fail(f"{len(calls)} simultaneous requests did not finish: a deadlock?")
    raised = [r for r in responses if isinstance(r, BaseException)]
    assert raised == [], f"requests raised instead of answering: {raised[:3]}"
    not_ok = [(r.status_code, r.text[:300]) for r in responses if r.status_code != 200]
    assert not_ok == [], f"{len(not_ok)} responses were not HTTP 200: {not_ok[:3]}"
    bodies = [r.json() for r in responses]
    errors = [b["errors"] for b in bodies if b.get("errors")]
    assert errors == [], f"{len(errors)} responses had top-level errors: {errors[:3]}"
    return [body["data"][name] for body, (name, _, _) in zip(bodies, calls, strict=True)]


def _codes(payloads: list[dict[str, Any]]) -> Counter[str]:
    """How many payloads succeeded ("ok") and how many failed with each userError code."""
    out: Counter[str] = Counter()
    for p in payloads:
        if p["userErrors"]:
            assert len(p["userErrors"]) == 1, p
            out[p["userErrors"][0]["code"]] += 1
        else:
            out["ok"] += 1
    return out


async def _history(api: API, member_id: str) -> list[dict[str, Any]]:
    """A member's transactions, oldest first."""
    data = await api.gql(
        "query($id: ID!) { member(id: $id) { transactions(first: 100) { "
        "nodes { id kind points balanceAfter } pageInfo { hasNextPage } } } }",
        {"id": member_id},
        as_=api.admin(),
    )
    page = data["member"]["transactions"]
    assert page["pageInfo"]["hasNextPage"] is False, "more history than this test expects"
    return list(reversed(page["nodes"]))


def _assert_balance_chain(history: list[dict[str, Any]]) -> None:
    """Each transaction's balanceAfter is the one before plus its points: no lost update."""
    balance = 0
    for tx in history:
        balance += tx["points"]
        assert tx["balanceAfter"] == balance, (tx, history)


async def _balances_by_external_id(api: API) -> dict[str, int]:
    data = await api.gql(
        "{ members(first: 100) { nodes { externalId balance } pageInfo { hasNextPage } } }",
        as_=api.admin(),
    )
    assert data["members"]["pageInfo"]["hasNextPage"] is False
    return {m["externalId"]: m["balance"] for m in data["members"]["nodes"]}


async def _stock(api: API, reward_key: str) -> int | None:
    data = await api.gql("{ rewards(first: 100) { nodes { key stock } } }")
    return {r["key"]: r["stock"] for r in data["rewards"]["nodes"]}[reward_key]


async def _count(statement: str, params: list[Any] | None = None) -> int:
    found = await sql.row(sql.connection(), statement, params or [])
    assert found is not None
    return int(found["n"])


# -- redemptions against one balance --------------------------------------------------------


@pytest.mark.parametrize("principal", ["operator", "member"])
async def test_simultaneous_redemptions_spend_the_balance_exactly_once(api: API, principal: str):
    ana = await api.enroll("ana")
    assert (await api.adjust(ana, 1500))["userErrors"] == []
    # Enough for exactly three coffees (500 each); 32 attempts race for them.
    if principal == "operator":
        caller, target = api.admin(), {"memberId": ana}
    else:
        caller, target = api.member("ana"), {}
    payloads = await _fire(
        api,
        [
            (
                "redeemReward",
                {**target, "rewardId": reward_gid("coffee"), "idempotencyKey": new_key()},
                caller,
            )
            for _ in range(32)
        ],
    )

    assert _codes(payloads) == {"ok": 3, "INSUFFICIENT_POINTS": 29}
    won = [p for p in payloads if not p["userErrors"]]
    for p in payloads:
        if p["userErrors"]:
            assert (p["member"], p["redemption"], p["transaction"]) == (None, None, None), p
    assert [p["transaction"]["points"] for p in won] == [-500] * 3
    assert {p["transaction"]["kind"] for p in won} == {"REDEEM"}
    # Three debits in some order: the balance after each is a different step down.
    assert sorted(p["transaction"]["balanceAfter"] for p in won) == [0, 500, 1000]
    assert len({p["redemption"]["id"] for p in won}) == 3
    assert all(p["redemption"]["status"] == "ISSUED" for p in won)

    assert await api.balance(ana) == 0
    if principal == "member":
        me = await api.gql("{ me { balance } }", as_=api.member("ana"))
        assert me["me"]["balance"] == 0
    history = await _history(api, ana)
    assert Counter(tx["kind"] for tx in history) == {"ADJUST": 1, "REDEEM": 3}
    _assert_balance_chain(history)
    assert await _count("SELECT COUNT(*) AS n FROM redemption") == 3
    assert await _count("SELECT COUNT(*) AS n FROM idempotency_record") == 4
    assert list((await assert_ledger_consistent()).values()) == [0]


# -- a limited stock ---------------------------------------------------------------------------


async def test_a_limited_stock_is_never_oversold_and_a_cancel_frees_one_unit(api: API):
    names = [f"tote-{n:02}" for n in range(40)]
    enrolled = await _fire(
        api, [("enrollMember", {"externalId": name}, api.admin()) for name in names]
    )
    assert _codes(enrolled) == {"ok": 40}
    ids = {p["member"]["externalId"]: p["member"]["id"] for p in enrolled}
    adjusted = await _fire(
        api,
        [
            (
                "adjustPoints",
                {"memberId": ids[n], "points": 1500, "reason": "t", "idempotencyKey": new_key()},
                api.admin(),
            )
            for n in names
        ],
    )
    assert _codes(adjusted) == {"ok": 40}
    assert await _stock(api, "limited-tote") == 25

    # Each of 40 members can afford one tote (1500); only 25 are in stock.
    tote = reward_gid("limited-tote")
    payloads = await _fire(
        api,
        [
            ("redeemReward", {"rewardId": tote, "idempotencyKey": new_key()}, api.member(n))
            for n in names
        ],
    )
    assert _codes(payloads) == {"ok": 25, "OUT_OF_STOCK": 15}
    winners = [n for n, p in zip(names, payloads, strict=True) if not p["userErrors"]]
    losers = [n for n in names if n not in winners]
    for name, p in zip(names, payloads, strict=True):
        if name in winners:
            assert p["member"] == {"id": ids[name], "balance": 0}, p
            assert p["transaction"]["points"] == -1500
        else:
            assert p["userErrors"][0]["field"] == "rewardId", p

    # Points left only the winners' wallets.
    balances = await _balances_by_external_id(api)
    assert {n: balances[n] for n in winners} == dict.fromkeys(winners, 0)
    assert {n: balances[n] for n in losers} == dict.fromkeys(losers, 1500)
    assert await _stock(api, "limited-tote") == 0
    assert await _count("SELECT COUNT(*) AS n FROM redemption") == 25
    assert await _count("SELECT COUNT(*) AS n FROM ledger_transaction WHERE kind = 'REDEEM'") == 25
    await assert_ledger_consistent()

    # A cancelled tote goes back on the shelf, once.
    first = next(p for p in payloads if not p["userErrors"])
    cancelled = await api.cancel(first["redemption"]["id"], as_=api.member(winners[0]))
    assert cancelled["userErrors"] == []
    assert cancelled["member"]["balance"] == 1500
    assert await _stock(api, "limited-tote") == 1
    assert winners[0] == next(n for n, p in zip(names, payloads, strict=True) if p is first)

    again = await api.redeem("limited-tote", as_=api.member(losers[0]))
    assert again["userErrors"] == []
    assert again["member"]["balance"] == 0
    assert await _stock(api, "limited-tote") == 0
    sold_out = await api.redeem("limited-tote", as_=api.member(losers[1]))
    assert [e["code"] for e in sold_out["userErrors"]] == ["OUT_OF_STOCK"]
    assert await api.balance(ids[losers[1]]) == 1500
    await assert_ledger_consistent()


# -- purchases: one key, one order --------------------------------------------------------------


async def test_thirty_replays_of_one_key_at_once_record_one_purchase(api: API):
    ana = await api.enroll("ana")
    till = await api.partner("beanery")
    same = {
        "memberId": ana,
        "orderId": "BEAN-1",
        "amount": "250",
        "currency": "RON",
        "idempotencyKey": "till-1-BEAN-1",
    }
    payloads = await _fire(api, [("recordPurchase", dict(same), till) for _ in range(30)])

    assert _codes(payloads) == {"ok": 30}
    assert {p["transaction"]["id"] for p in payloads} == {payloads[0]["transaction"]["id"]}
    assert {p["purchase"]["id"] for p in payloads} == {payloads[0]["purchase"]["id"]}
    assert {p["purchase"]["points"] for p in payloads} == {250}
    assert {p["transaction"]["points"] for p in payloads} == {250}
    assert {p["transaction"]["balanceAfter"] for p in payloads} == {250}

    assert await api.balance(ana) == 250
    assert await _count("SELECT COUNT(*) AS n FROM purchase") == 1
    assert await _count("SELECT COUNT(*) AS n FROM ledger_transaction WHERE kind = 'EARN'") == 1
    assert await _count("SELECT COUNT(*) AS n FROM idempotency_record") == 1
    assert list((await assert_ledger_consistent()).values()) == [250]


async def test_one_order_sent_thirty_times_with_new_keys_earns_once(api: API):
    ana = await api.enroll("ana")
    till = await api.partner("beanery")
    payloads = await _fire(
        api,
        [
            (
                "recordPurchase",
                {
                    "memberId": ana,
                    "orderId": "BEAN-2",
                    "amount": "250",
                    "currency": "RON",
                    "idempotencyKey": new_key(),
                },
                till,
            )
            for _ in range(30)
        ],
    )

    assert _codes(payloads) == {"ok": 1, "DUPLICATE": 29}
    for p in payloads:
        if p["userErrors"]:
            assert p["userErrors"][0]["field"] == "orderId", p
            assert (p["member"], p["purchase"], p["transaction"]) == (None, None, None), p
        else:
            assert p["transaction"]["points"] == 250
            assert p["member"]["balance"] == 250
    assert await api.balance(ana) == 250
    assert await _count("SELECT COUNT(*) AS n FROM purchase") == 1
    assert await _count("SELECT COUNT(*) AS n FROM ledger_transaction WHERE kind = 'EARN'") == 1
    assert list((await assert_ledger_consistent()).values()) == [250]


# -- enrollment ----------------------------------------------------------------------------------


async def test_twenty_enrollments_of_one_external_id_at_once_make_one_member(api: API):
    payloads = await _fire(
        api, [("enrollMember", {"externalId": "ana"}, api.admin()) for _ in range(20)]
    )

    assert _codes(payloads) == {"ok": 1, "DUPLICATE": 19}
    for p in payloads:
        if p["userErrors"]:
            assert p["userErrors"][0]["field"] == "externalId", p
            assert p["member"] is None
    data = await api.gql("{ members(first: 100) { nodes { externalId } } }", as_=api.admin())
    assert data["members"]["nodes"] == [{"externalId": "ana"}]
    # The losers' wallets were rolled back with them.
    assert await _count("SELECT COUNT(*) AS n FROM member") == 1
    assert await _count("SELECT COUNT(*) AS n FROM account WHERE kind = 'member'") == 1


# -- cancelling one redemption many times ------------------------------------------------------


async def _redeemed_discount(api: API) -> tuple[str, str]:
    """Ana, with 1000 points spent on one discount-10: (member id, redemption id)."""
    ana = await api.enroll("ana")
    assert (await api.adjust(ana, 1000))["userErrors"] == []
    redeemed = await api.redeem("discount-10", member_id=ana)
    assert redeemed["userErrors"] == []
    assert redeemed["member"]["balance"] == 0
    return ana, redeemed["redemption"]["id"]


async def _cancel_twenty_times(api: API, redemption: str) -> list[dict[str, Any]]:
    callers = [api.admin(), api.member("ana")]
    return await _fire(
        api,
        [
            (
                "cancelRedemption",
                {"redemptionId": redemption, "idempotencyKey": new_key()},
                callers[n % 2],
            )
            for n in range(20)
        ],
    )


async def test_twenty_simultaneous_cancels_of_one_redemption_return_the_points_once(api: API):
    ana, redemption = await _redeemed_discount(api)
    payloads = await _cancel_twenty_times(api, redemption)

    assert _codes(payloads) == {"ok": 1, "INVALID_STATE": 19}
    (won,) = [p for p in payloads if not p["userErrors"]]
    assert won["transaction"]["kind"] == "CANCEL"
    assert won["transaction"]["points"] == 1000
    assert won["member"]["balance"] == 1000
    assert won["redemption"] == {"id": redemption, "status": "CANCELLED"}
    for p in payloads:
        if p["userErrors"]:
            assert p["userErrors"][0]["field"] == "redemptionId", p
            assert (p["member"], p["redemption"], p["transaction"]) == (None, None, None), p

    assert await api.balance(ana) == 1000
    history = await _history(api, ana)
    assert Counter(tx["kind"] for tx in history) == {"ADJUST": 1, "REDEEM": 1, "CANCEL": 1}
    _assert_balance_chain(history)
    assert list((await assert_ledger_consistent()).values()) == [1000]


async def test_a_cancel_that_lost_the_race_says_the_redemption_is_already_cancelled(api: API):
    _, redemption = await _redeemed_discount(api)
    payloads = await _cancel_twenty_times(api, redemption)
    assert _codes(payloads) == {"ok": 1, "INVALID_STATE": 19}
    # A loser may have read the redemption before the winner committed; its message must name
    # the state that refused it (cancelled), not the one it saw first (issued).
    messages = Counter(p["userErrors"][0]["message"] for p in payloads if p["userErrors"])
    assert [m for m in messages if "is cancelled" not in m] == [], messages


# -- a Jepsen-style bank: many members, mixed operations, money conserved -----------------------


COSTS = {"coffee": 500, "plant-a-tree": 300, "discount-10": 1000}


async def test_mixed_concurrent_operations_conserve_points(api: API):
    rng = random.Random(20_240_611)
    names = [f"bank-{n}" for n in range(6)]
    ids = {n: await api.enroll(n) for n in names}
    till = await api.partner("paper-lantern")
    expected = dict.fromkeys(names, 0)
    seeded: list[tuple[str, str]] = []  # (member, redemption id) that the burst may cancel
    for name in names:
        assert (await api.adjust(ids[name], 3000))["userErrors"] == []
        expected[name] += 3000
        for _ in range(2):
            payload = await api.redeem("plant-a-tree", member_id=ids[name])
            assert payload["userErrors"] == []
            expected[name] -= 300
            seeded.append((name, payload["redemption"]["id"]))

    # What each call would move if it succeeds; failures move nothing.
    calls: list[Call] = []
    plans: list[tuple[str, str, int, str | None]] = []  # (member, kind, delta, redemption)
    for _ in range(160):
        kind = rng.choice(["purchase", "purchase", "redeem", "redeem", "adjust", "cancel"])
        name = rng.choice(names)
        key = new_key()
        if kind == "purchase":
            amount = rng.randint(1, 600)  # RON earns one point per unit
            calls.append(
                (
                    "recordPurchase",
                    {
                        "memberId": ids[name],
                        "orderId": new_key(),
                        "amount": str(amount),
                        "currency": "RON",
                        "idempotencyKey": key,
                    },
                    till,
                )
            )
            plans.append((name, "EARN", amount, None))
        elif kind == "redeem":
            reward = rng.choice(list(COSTS))
            as_member = rng.random() < 0.5
            calls.append(
                (
                    "redeemReward",
                    {
                        **({} if as_member else {"memberId": ids[name]}),
                        "rewardId": reward_gid(reward),
                        "idempotencyKey": key,
                    },
                    api.member(name) if as_member else api.admin(),
                )
            )
            plans.append((name, "REDEEM", -COSTS[reward], None))
        elif kind == "adjust":
            points = rng.choice([-1, 1]) * rng.randint(1, 1500)
            calls.append(
                (
                    "adjustPoints",
                    {
                        "memberId": ids[name],
                        "points": points,
                        "reason": "bank test",
                        "idempotencyKey": key,
                    },
                    api.admin(),
                )
            )
            plans.append((name, "ADJUST", points, None))
        else:
            name, redemption = rng.choice(seeded)
            calls.append(
                (
                    "cancelRedemption",
                    {"redemptionId": redemption, "idempotencyKey": key},
                    rng.choice([api.admin(), api.member(name)]),
                )
            )
            plans.append((name, "CANCEL", 300, redemption))

    payloads = await _fire(api, calls)

    credits = debits = 0
    cancels: Counter[str] = Counter()
    for (name, kind, delta, redemption), p in zip(plans, payloads, strict=True):
        if p["userErrors"]:
            allowed = {
                "EARN": set(),
                "REDEEM": {"INSUFFICIENT_POINTS"},
                "ADJUST": {"INSUFFICIENT_POINTS"} if delta < 0 else set(),
                "CANCEL": {"INVALID_STATE"},
            }[kind]
            assert p["userErrors"][0]["code"] in allowed, (kind, delta, p)
            continue
        assert p["transaction"]["kind"] == kind, (kind, p)
        assert p["transaction"]["points"] == delta, (kind, delta, p)
        assert p["member"]["id"] == ids[name]
        expected[name] += delta
        if delta > 0:
            credits += delta
        else:
            debits += -delta
        if redemption is not None:
            cancels[redemption] += 1
    # Every seeded redemption that was targeted was cancelled exactly once.
    targeted = {r for (_, _, _, r) in plans if r is not None}
    assert cancels == dict.fromkeys(targeted, 1)

    balances = await _balances_by_external_id(api)
    assert balances == expected
    seeded_total = len(names) * (3000 - 2 * 300)
    assert sum(balances.values()) == seeded_total + credits - debits
    for name in names:
        _assert_balance_chain(await _history(api, ids[name]))
    ledger_balances = await assert_ledger_consistent()
    assert sum(ledger_balances.values()) == sum(expected.values())
