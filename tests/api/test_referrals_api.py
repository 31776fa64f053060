"""Referrals and the signup bonus through the API.

A member enrolled with another's referralCode is a referee; its first purchase whose eligible
amount reaches the program's minimum for its currency pays both (REFERRAL transactions), the
referrer at most `max_per_referrer` times. The base program has neither a referral section nor
a signup bonus: each test adds what it needs.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from domain import sql
from schema import ids
from tests.helpers import API, BASE_PROGRAM, assert_ledger_consistent, new_key, table_counts

MEMBER = "balance pendingPoints lifetimePoints pointsOwed"
REFERRAL = """
[referral]
referrer_points = 500
referee_points = 250
minimum = { RON = "50", EUR = "10" }
"""


def program(
    referral: str = REFERRAL,
    *,
    max_per_referrer: int | None = None,
    pending_days: int = 0,
    more: str = "",
) -> str:
    """The base program with a referral section (and a purchase hold, or more sections)."""
    text = BASE_PROGRAM.read_text()
    if pending_days:
        text = text.replace("[purchases]\n", f"[purchases]\npending_days = {pending_days}\n")
    if max_per_referrer is not None:
        referral += f"max_per_referrer = {max_per_referrer}\n"
    return text + referral + more


async def code_of(api: API, member_id: str) -> str:
    data = await api.gql(
        "query($id: ID!) { member(id: $id) { referralCode } }", {"id": member_id}, as_=api.admin()
    )
    return data["member"]["referralCode"]


async def enroll(api: API, external_id: str, **fields: Any) -> dict[str, Any]:
    return await api.mutate(
        "enrollMember",
        {"externalId": external_id, **fields},
        f"member {{ id {MEMBER} }}",
        as_=api.admin(),
    )


async def referred(api: API, external_id: str, code: str, **fields: Any) -> str:
    payload = await enroll(api, external_id, referralCode=code, **fields)
    assert payload["userErrors"] == [], payload
    return payload["member"]["id"]


async def state(api: API, member_id: str) -> dict[str, int]:
    data = await api.gql(
        f"query($id: ID!) {{ member(id: $id) {{ {MEMBER} }} }}", {"id": member_id}, as_=api.admin()
    )
    return data["member"]


async def history(api: API, member_id: str) -> list[tuple[str, int, str | None]]:
    """(kind, points, reference) of the member's transactions, oldest first."""
    data = await api.gql(
        "query($id: ID!) { member(id: $id) { transactions(first: 100) { nodes { kind points "
        "reference } } } }",
        {"id": member_id},
        as_=api.admin(),
    )
    return [
        (n["kind"], n["points"], n["reference"])
        for n in reversed(data["member"]["transactions"]["nodes"])
    ]


def referrals(rows: list[tuple[str, int, str | None]]) -> list[tuple[str, int, str | None]]:
    return [row for row in rows if row[0] == "REFERRAL"]


async def awards() -> list[dict[str, Any]]:
    return await sql.rows(
        sql.connection(), "SELECT referee_id, referrer_id, purchase_id FROM referral_award"
    )


def db_id(global_id: str) -> int:
    parsed = ids.parse_global_id(global_id)
    assert parsed is not None
    return int(parsed[1])


async def buy(api: API, member_id: str, amount: str, **fields: Any) -> dict[str, Any]:
    payload = await api.purchase(member_id, amount, **fields)
    assert payload["userErrors"] == [], payload
    return payload


# -- paying out ------------------------------------------------------------------------------


async def test_the_first_qualifying_purchase_pays_the_referee_and_the_referrer(api: API):
    await api.use_program(program())
    ana = await api.enroll("ana")
    bob = await referred(api, "bob", await code_of(api, ana))
    assert await history(api, bob) == []
    assert await history(api, ana) == []

    payload = await buy(api, bob, "60")
    purchase_id = db_id(payload["purchase"]["id"])
    assert payload["purchase"]["points"] == 60
    assert payload["transaction"]["kind"] == "EARN"
    # The payload's member is the referee as it stands after both credits.
    assert payload["member"] == {"balance": 310, "lifetimePoints": 310}
    assert await history(api, bob) == [
        ("EARN", 60, payload["purchase"]["orderId"]),
        ("REFERRAL", 250, f"purchase:{purchase_id}"),
    ]
    assert await history(api, ana) == [("REFERRAL", 500, f"member:{db_id(bob)}")]
    assert await state(api, ana) == {
        "balance": 500,
        "pendingPoints": 0,
        "lifetimePoints": 500,
        "pointsOwed": 0,
    }
    assert [(a["referee_id"], a["referrer_id"], a["purchase_id"]) for a in await awards()] == [
        (db_id(bob), db_id(ana), purchase_id)
    ]
    events = await sql.rows(
        sql.connection(), "SELECT payload FROM outbox_event WHERE type = 'referral.rewarded'"
    )
    assert len(events) == 1
    event = events[0]["payload"]
    event = json.loads(event) if isinstance(event, str) else event
    assert event["refereePoints"] == 250
    assert event["referrerPoints"] == 500

    # A second purchase pays nothing more.
    await buy(api, bob, "500")
    assert len(referrals(await history(api, bob))) == 1
    assert await api.balance(bob) == 810
    assert await api.balance(ana) == 500
    assert len(await awards()) == 1
    await assert_ledger_consistent()


async def test_referral_points_wait_out_the_programs_hold(api: API):
    await api.use_program(program(pending_days=14))
    ana = await api.enroll("ana")
    bob = await referred(api, "bob", await code_of(api, ana))
    await buy(api, bob, "50")
    assert await state(api, bob) == {
        "balance": 0,
        "pendingPoints": 300,
        "lifetimePoints": 300,
        "pointsOwed": 0,
    }
    assert await state(api, ana) == {
        "balance": 0,
        "pendingPoints": 500,
        "lifetimePoints": 500,
        "pointsOwed": 0,
    }
    held = await sql.rows(
        sql.connection(),
        "SELECT l.amount, l.pending FROM lot l JOIN ledger_transaction t ON t.id = "
        "l.transaction_id WHERE t.kind = 'REFERRAL' ORDER BY l.amount",
    )
    assert [(r["amount"], bool(r["pending"])) for r in held] == [(250, True), (500, True)]
    await assert_ledger_consistent()


async def test_referral_points_wait_out_the_recording_partners_own_hold(api: API):
    # The program holds nothing; the Beanery holds its purchases for 7 days, and so the
    # referral bonuses its purchase triggers.
    await api.use_program(
        program().replace(
            'key = "beanery"\nname = "The Beanery"\ncurrency = "BEAN"\n',
            'key = "beanery"\nname = "The Beanery"\ncurrency = "BEAN"\npending_days = 7\n',
        )
    )
    ana = await api.enroll("ana")
    bob = await referred(api, "bob", await code_of(api, ana))
    await buy(api, bob, "50", as_=await api.partner("beanery"))
    assert await state(api, bob) == {
        "balance": 0,
        "pendingPoints": 300,
        "lifetimePoints": 300,
        "pointsOwed": 0,
    }
    assert await state(api, ana) == {
        "balance": 0,
        "pendingPoints": 500,
        "lifetimePoints": 500,
        "pointsOwed": 0,
    }
    await assert_ledger_consistent()


async def test_a_first_purchase_below_the_minimum_pays_nothing_and_a_later_one_pays(api: API):
    await api.use_program(program())
    ana = await api.enroll("ana")
    bob = await referred(api, "bob", await code_of(api, ana))
    # 60 - 10.01 tax = 49.99 eligible: below the 50 RON minimum.
    await buy(api, bob, "60", tax="10.01")
    # 9.99 EUR is below the EUR minimum, whatever it earns.
    await buy(api, bob, "9.99", currency="EUR")
    assert referrals(await history(api, bob)) == []
    assert await history(api, ana) == []
    assert await awards() == []

    # Exactly the minimum qualifies, shipping and tax left out.
    payload = await buy(api, bob, "70", shipping="5", tax="15")
    assert [r[:2] for r in referrals(await history(api, bob))] == [("REFERRAL", 250)]
    assert [r[:2] for r in await history(api, ana)] == [("REFERRAL", 500)]
    assert [a["purchase_id"] for a in await awards()] == [db_id(payload["purchase"]["id"])]
    await assert_ledger_consistent()


async def test_refunding_the_qualifying_purchase_leaves_the_referral_paid(api: API):
    await api.use_program(program())
    ana = await api.enroll("ana")
    bob = await referred(api, "bob", await code_of(api, ana))
    payload = await buy(api, bob, "100")
    done = await api.mutate(
        "refundPurchase",
        {"purchaseId": payload["purchase"]["id"], "idempotencyKey": new_key()},
        "pointsClawedBack",
        as_=api.admin(),
    )
    assert done == {"pointsClawedBack": 100, "userErrors": []}
    assert await api.balance(bob) == 250
    assert await api.balance(ana) == 500
    # Its next purchase is not a first one any more.
    await buy(api, bob, "100")
    assert len(await awards()) == 1
    assert await api.balance(ana) == 500
    await assert_ledger_consistent()


async def test_the_referrer_is_paid_at_most_max_per_referrer_times(api: API):
    await api.use_program(program(max_per_referrer=2))
    ana = await api.enroll("ana")
    code = await code_of(api, ana)
    friends = [await referred(api, f"friend-{n}", code) for n in range(4)]
    for friend in friends:
        await buy(api, friend, "80")
    assert [r[:2] for r in await history(api, ana)] == [("REFERRAL", 500), ("REFERRAL", 500)]
    assert await api.balance(ana) == 1000
    for friend in friends:  # every referee still gets its own
        assert [r[:2] for r in referrals(await history(api, friend))] == [("REFERRAL", 250)]
        assert await api.balance(friend) == 330
    assert len(await awards()) == 4
    await assert_ledger_consistent()


async def test_only_the_referrer_or_only_the_referee_may_be_paid(api: API):
    await api.use_program(program("\n[referral]\nreferrer_points = 0\nreferee_points = 75\n"))
    ana = await api.enroll("ana")
    bob = await referred(api, "bob", await code_of(api, ana))
    await buy(api, bob, "1")  # no minimum at all
    assert [r[:2] for r in referrals(await history(api, bob))] == [("REFERRAL", 75)]
    assert await history(api, ana) == []
    await assert_ledger_consistent()


# -- enrollment -------------------------------------------------------------------------------


async def test_a_referral_code_is_read_case_insensitively(api: API):
    await api.use_program(program())
    ana = await api.enroll("ana")
    code = await code_of(api, ana)
    bob = await referred(api, "bob", f"  {code.lower()} ")
    await buy(api, bob, "50")
    assert await api.balance(ana) == 500
    await assert_ledger_consistent()


async def test_self_referral_by_the_same_email_is_refused_and_writes_nothing(api: API):
    await api.use_program(program())
    ana = await api.enroll("ana", email="Ana.Pop@Example.com")
    code = await code_of(api, ana)
    before = await table_counts()
    payload = await enroll(api, "ana-again", email="ana.pop@EXAMPLE.COM", referralCode=code)
    assert payload["member"] is None
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
        ("INVALID_INPUT", "referralCode")
    ]
    assert await table_counts() == before
    # Another address is a friend.
    friend = await referred(api, "friend", code, email="friend@example.com")
    await buy(api, friend, "50")
    assert await api.balance(ana) == 500
    await assert_ledger_consistent()


async def test_an_unknown_referral_code_is_not_found_and_writes_nothing(api: API):
    await api.use_program(program())
    await api.enroll("ana")
    before = await table_counts()
    payload = await enroll(api, "bob", referralCode="ZZZZZZZZZZ")
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
        ("NOT_FOUND", "referralCode")
    ]
    assert await table_counts() == before


# -- at once ---------------------------------------------------------------------------------

PURCHASE = (
    "mutation($i: RecordPurchaseInput!) { recordPurchase(input: $i) { purchase { id } "
    "userErrors { code field message } } }"
)


async def fire(api: API, inputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    async with asyncio.timeout(60):
        responses = await asyncio.gather(
            *(api.post(PURCHASE, {"i": i}, api.admin()) for i in inputs)
        )
    assert [r.status_code for r in responses] == [200] * len(inputs), [r.text for r in responses]
    bodies = [r.json() for r in responses]
    assert [b.get("errors") for b in bodies] == [None] * len(inputs), bodies
    payloads = [b["data"]["recordPurchase"] for b in bodies]
    assert [p["userErrors"] for p in payloads] == [[]] * len(inputs), payloads
    return payloads


def purchase_input(member_id: str, amount: str = "100") -> dict[str, Any]:
    return {
        "memberId": member_id,
        "orderId": new_key(),
        "amount": amount,
        "currency": "RON",
        "idempotencyKey": new_key(),
    }


async def test_simultaneous_first_purchases_of_one_referee_pay_the_referral_once(api: API):
    await api.use_program(program())
    ana = await api.enroll("ana")
    bob = await referred(api, "bob", await code_of(api, ana))
    await fire(api, [purchase_input(bob) for _ in range(6)])
    assert [r[:2] for r in referrals(await history(api, bob))] == [("REFERRAL", 250)]
    assert [r[:2] for r in await history(api, ana)] == [("REFERRAL", 500)]
    assert await api.balance(bob) == 600 + 250
    assert await api.balance(ana) == 500
    assert len(await awards()) == 1
    await assert_ledger_consistent()


async def test_simultaneous_first_purchases_of_many_referees_respect_max_per_referrer(api: API):
    await api.use_program(program(max_per_referrer=2))
    # Three referrers with eight friends each; all 24 first purchases come in at once.
    referrers = [await api.enroll(f"referrer-{r}") for r in range(3)]
    friends = {
        referrer: [
            await referred(api, f"friend-{r}-{n}", await code_of(api, referrer)) for n in range(8)
        ]
        for r, referrer in enumerate(referrers)
    }
    await fire(api, [purchase_input(f) for group in friends.values() for f in group])
    paid = {referrer: [r[:2] for r in await history(api, referrer)] for referrer in referrers}
    assert paid == {referrer: [("REFERRAL", 500)] * 2 for referrer in referrers}
    for group in friends.values():
        for friend in group:
            assert await api.balance(friend) == 350
    assert len(await awards()) == 24
    await assert_ledger_consistent()


# -- the signup bonus ------------------------------------------------------------------------


async def test_the_signup_bonus_is_credited_at_enrollment(api: API):
    await api.use_program(program(more="\n[signup]\npoints = 100\n"))
    payload = await enroll(api, "ana", idempotencyKey="enroll-ana")
    assert payload["userErrors"] == []
    assert {k: payload["member"][k] for k in MEMBER.split()} == {
        "balance": 100,
        "pendingPoints": 0,
        "lifetimePoints": 100,
        "pointsOwed": 0,
    }
    ana = payload["member"]["id"]
    assert [r[:2] for r in await history(api, ana)] == [("SIGNUP", 100)]
    # A replayed enrollment is the same enrollment: one bonus.
    again = await enroll(api, "ana", idempotencyKey="enroll-ana")
    assert again["member"]["id"] == ana
    assert [r[:2] for r in await history(api, ana)] == [("SIGNUP", 100)]
    # A member enrolling itself gets it too, and so does a referee.
    me = await api.mutate(
        "enrollMember", {"externalId": "bob"}, "member { id balance }", as_=api.member("bob")
    )
    assert me["member"]["balance"] == 100
    carol = await referred(api, "carol", await code_of(api, ana))
    assert [r[:2] for r in await history(api, carol)] == [("SIGNUP", 100)]
    await assert_ledger_consistent()


async def test_no_signup_bonus_without_a_signup_section(api: API):
    await api.use_program(program())
    payload = await enroll(api, "ana")
    assert payload["member"]["balance"] == 0
    assert await history(api, payload["member"]["id"]) == []
    counts = await table_counts()
    assert counts["ledger_transaction"] == 0
    assert counts["lot"] == 0


async def test_bonuses_say_in_their_breakdown_what_gave_them(api: API):
    await api.use_program(
        BASE_PROGRAM.read_text()
        + "\n[signup]\npoints = 100\n[referral]\nreferrer_points = 500\nreferee_points = 250\n"
    )
    await api.enroll("ana", email="ana@example.com")
    code = (await api.gql('{ member(externalId: "ana") { referralCode } }', as_=api.admin()))[
        "member"
    ]["referralCode"]
    bob = await api.enroll("bob", email="bob@example.com", referralCode=code)
    await api.purchase(bob, "100")
    data = await api.gql(
        "query($id: ID!) { member(id: $id) { transactions(first: 10) { nodes { kind "
        "breakdown { rule points } } } } }",
        {"id": bob},
        as_=api.admin(),
    )
    by_kind = {n["kind"]: n["breakdown"] for n in data["member"]["transactions"]["nodes"]}
    assert by_kind["SIGNUP"] == [{"rule": "signup", "points": "100"}]
    assert by_kind["REFERRAL"] == [{"rule": "referral", "points": "250"}]
    assert by_kind["EARN"] == [{"rule": "base", "points": "100"}]
