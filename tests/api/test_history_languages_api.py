"""A member's history in the member's language: transaction descriptions and breakdown lines
follow Accept-Language, like tier and reward names.

The program speaks English and Romanian: its rules, campaign, actions and rewards have names in
both, and its [wording] says the ledger's phrases in Romanian. Ana enrolls (a welcome bonus),
buys at The Beanery (a gift card that earns nothing, coffee at double points, a campaign whose
budget runs out), writes a review, redeems and cancels, has part of the order refunded, gets an
operator adjustment, and a year later what is left expires.
"""

from __future__ import annotations

from typing import Any

import pytest

from domain import jobs, sql
from tests.helpers import API, BASE_PROGRAM, ManualClock, new_key, reward_gid

RULES = """
[signup]
points = 300

[[purchase_rules]]
key = "no-gift-cards"
name = { en = "No gift cards", ro = "Fără carduri cadou" }
kind = "exclude"
categories = ["gift-cards"]

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
budget = 30
starts = 2026-01-01
ends = 2027-01-01
"""
WORDING = """
[wording]
excluded = { ro = "{name}: {amount} nu aduc puncte" }
base = { ro = "{rate} puncte pe {currency} la {amount}" }
budget_ran_out = { ro = "{line} (bugetul campaniei s-a epuizat)" }
signup_bonus = { ro = "Bonus de bun venit" }
purchase = { ro = "Cumpărătura {order}" }
redeemed = { ro = "Ai folosit: {name}" }
redemption_cancelled = { ro = "Folosire anulată: punctele s-au întors" }
refund = { ro = "Rambursarea comenzii {order}" }
expired = { ro = "Puncte expirate" }
"""
TEXT = BASE_PROGRAM.read_text() + RULES + WORDING
REASON = "Goodwill for the late delivery"

HISTORY = """{ me { transactions(first: 50) { nodes { id kind description
  breakdown { rule description points } } } } }"""

IN_ROMANIAN = [
    ("EXPIRE", "Puncte expirate", []),
    ("ADJUST", REASON, []),
    ("REFUND", "Rambursarea comenzii BEAN-1", []),
    ("CANCEL", "Folosire anulată: punctele s-au întors", []),
    ("REDEEM", "Ai folosit: Plantează un copac în numele tău", []),
    ("EARN", "Scrie o recenzie", ["Scrie o recenzie"]),
    (
        "EARN",
        "Cumpărătura BEAN-1",
        [
            "Fără carduri cadou: 50.00 RON nu aduc puncte",
            "1 puncte pe RON la 20.00 RON",
            "Cafea dublă: x2",
            "Bonus de primăvară (bugetul campaniei s-a epuizat)",
        ],
    ),
    ("SIGNUP", "Bonus de bun venit", ["Bonus de bun venit"]),
]
IN_ENGLISH = [
    ("EXPIRE", "Points expired", []),
    ("ADJUST", REASON, []),
    ("REFUND", "Refund of order BEAN-1", []),
    ("CANCEL", "Redemption cancelled: points returned", []),
    ("REDEEM", "Redeemed: Plant a tree in your name", []),
    ("EARN", "Write a product review", ["Write a product review"]),
    (
        "EARN",
        "Purchase BEAN-1",
        [
            "No gift cards: 50.00 RON earn nothing",
            "1 point per RON on 20.00 RON",
            "Coffee double: x2",
            "Spring bonus (the campaign's budget ran out)",
        ],
    ),
    ("SIGNUP", "Welcome bonus", ["Welcome bonus"]),
]


async def in_language(
    api: API, query: str, language: str | None, headers: dict[str, str]
) -> dict[str, Any]:
    extra = {} if language is None else {"Accept-Language": language}
    response = await api.client.post(
        "/graphql", json={"query": query}, headers={**headers, **extra}
    )
    body = response.json()
    assert response.status_code == 200, body
    assert not body.get("errors"), body
    return body["data"]


def told(data: dict[str, Any]) -> list[tuple[str, str, list[str]]]:
    return [
        (n["kind"], n["description"], [line["description"] for line in n["breakdown"]])
        for n in data["me"]["transactions"]["nodes"]
    ]


@pytest.fixture
async def history(api: API) -> ManualClock:
    await api.use_program(TEXT)
    clock = api.use_clock(ManualClock("2026-03-02T10:00:00+00:00"))
    ana = await api.enroll("ana")
    beanery = await api.partner("beanery")
    bought = await api.mutate(
        "recordPurchase",
        {
            "memberId": ana,
            "orderId": "BEAN-1",
            "amount": "70",
            "currency": "RON",
            "lines": [
                {"sku": "GIFT", "category": "gift-cards", "quantity": 1, "unitPrice": "50"},
                {"sku": "LATTE", "category": "coffee", "quantity": 2, "unitPrice": "10"},
            ],
            "idempotencyKey": new_key(),
        },
        "purchase { id points }",
        as_=beanery,
    )
    assert bought["purchase"]["points"] == 20 + 20 + 30, bought
    review = await api.mutate(
        "recordAction",
        {"memberId": ana, "action": "REVIEW", "reference": "r-1", "idempotencyKey": new_key()},
        "transaction { id }",
        as_=beanery,
    )
    assert review["userErrors"] == []
    tree = await api.redeem("plant-a-tree", member_id=ana)
    assert tree["userErrors"] == [], tree
    assert (await api.cancel(tree["redemption"]["id"]))["userErrors"] == []
    refund = await api.mutate(
        "refundPurchase",
        {"purchaseId": bought["purchase"]["id"], "amount": "7", "idempotencyKey": new_key()},
        "purchase { id }",
        as_=beanery,
    )
    assert refund["userErrors"] == []
    assert (await api.adjust(ana, 5, reason=REASON))["userErrors"] == []
    clock.advance(days=367)
    assert (await jobs.run_all(api.runtime.program, clock.now())).expired > 0
    return clock


async def test_the_history_is_told_in_the_members_language(api: API, history: ManualClock):
    data = await in_language(api, HISTORY, "ro-RO,ro;q=0.9,en;q=0.8", api.member("ana"))
    assert told(data) == IN_ROMANIAN


async def test_without_a_language_the_history_reads_as_it_was_stored(
    api: API, history: ManualClock
):
    data = await in_language(api, HISTORY, None, api.member("ana"))
    assert told(data) == IN_ENGLISH
    stored = await sql.rows(
        sql.connection(),
        "SELECT kind, description, breakdown FROM ledger_transaction t "
        "JOIN member m ON m.id = t.member_id WHERE m.external_id = 'ana' ORDER BY t.id DESC",
    )
    assert [
        (
            r["kind"],
            r["description"],
            [line["description"] for line in sql.to_json(r["breakdown"]) or []],
        )
        for r in stored
    ] == IN_ENGLISH
    # A language the program does not speak: its first one.
    assert told(await in_language(api, HISTORY, "de", api.member("ana"))) == IN_ENGLISH


async def test_the_operator_and_the_partner_read_it_in_their_language_too(
    api: API, history: ManualClock
):
    query = HISTORY.replace("me {", 'member(externalId: "ana") {')
    data = await in_language(api, query, "ro", api.admin())
    assert told({"me": data["member"]}) == IN_ROMANIAN
    data = await in_language(api, query, "ro", await api.partner("beanery"))
    # The Beanery's own dealings only: its purchase, the refund of it, the review.
    assert told({"me": data["member"]}) == [
        t for t in IN_ROMANIAN if t[1].startswith(("Rambursarea", "Scrie", "Cumpărătura"))
    ]


async def test_a_payload_speaks_the_callers_language(api: API):
    await api.use_program(TEXT)
    ana = await api.enroll("ana")
    assert (await api.adjust(ana, 500))["userErrors"] == []
    redeem = (
        "mutation($i: RedeemRewardInput!) { redeemReward(input: $i) { "
        "transaction { description } userErrors { code } } }"
    )
    response = await api.client.post(
        "/graphql",
        json={
            "query": redeem,
            "variables": {"i": {"rewardId": reward_gid("coffee"), "idempotencyKey": new_key()}},
        },
        headers={**api.member("ana"), "Accept-Language": "ro"},
    )
    payload = response.json()["data"]["redeemReward"]
    assert payload == {
        "transaction": {"description": "Ai folosit: Orice cafea la The Beanery"},
        "userErrors": [],
    }


async def test_a_rule_the_program_has_dropped_reads_as_it_was_stored(
    api: API, history: ManualClock
):
    start = TEXT.index('[[purchase_rules]]\nkey = "coffee-x2"')
    end = TEXT.index("[[campaigns]]")
    await api.use_program(TEXT[:start] + TEXT[end:])
    data = await in_language(api, HISTORY, "ro", api.member("ana"))
    purchase = next(t for t in told(data) if t[1] == "Cumpărătura BEAN-1")
    assert purchase[2] == [
        "Fără carduri cadou: 50.00 RON nu aduc puncte",
        "1 puncte pe RON la 20.00 RON",
        "Coffee double: x2",  # as stored
        "Bonus de primăvară (bugetul campaniei s-a epuizat)",
    ]
