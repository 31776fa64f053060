"""PointTransaction.partner: whose dealing each movement was, for every caller that may see it.

The scene is the partner-privacy one: ana bought at The Beanery and at SkyWays, reviewed The
Beanery, redeemed The Beanery's coffee, a Paper Lantern voucher and the operator's own
discount, and had an operator adjustment.
"""

from __future__ import annotations

import pytest

from tests.api.test_partner_privacy import OWN, scene
from tests.helpers import API, new_key

# Whose dealing each transaction of the scene is; None for the operator's and the program's.
PARTNER_OF = {
    "BEAN-771": "beanery",
    "SKY-552": "skyways",
    "review": "beanery",
    "adjustment": None,
    "coffee": "beanery",
    "book-voucher": "paper-lantern",
    "discount-10": None,
}
HISTORY = "transactions(first: 50) { nodes { id partner { id key name currency } } }"


def partners_in(member: dict, transactions: dict[str, str]) -> dict[str, str | None]:
    what = {gid: name for name, gid in transactions.items()}
    return {what[n["id"]]: (n["partner"] or {}).get("key") for n in member["transactions"]["nodes"]}


async def test_the_member_and_the_operator_see_whose_dealing_each_transaction_was(api: API):
    scn = await scene(api)
    me = (await api.gql(f"{{ me {{ {HISTORY} }} }}", as_=api.member("ana")))["me"]
    assert partners_in(me, scn.transactions) == PARTNER_OF
    beanery = next(
        n["partner"] for n in me["transactions"]["nodes"] if n["id"] == scn.transactions["review"]
    )
    assert beanery["name"] == "The Beanery"
    assert beanery["currency"] == "BEAN"
    admin = await api.gql(
        f"query($id: ID!) {{ member(id: $id) {{ {HISTORY} }} }}", {"id": scn.ana}, as_=api.admin()
    )
    assert admin["member"] == me
    # The partner is the same object Query.partners and node() give.
    partners = await api.gql("{ partners { id key } }")
    assert beanery["id"] == next(p["id"] for p in partners["partners"] if p["key"] == "beanery")


@pytest.mark.parametrize("partner", sorted(OWN))
async def test_a_partner_sees_only_its_own_dealings_so_only_itself(api: API, partner: str):
    scn = await scene(api)
    data = await api.gql(
        f"query($id: ID!) {{ member(id: $id) {{ {HISTORY} }} }}",
        {"id": scn.ana},
        as_=scn.partners[partner],
    )
    seen = partners_in(data["member"], scn.transactions)
    assert seen == {name: partner for name in OWN[partner]["transactions"]}


async def test_anonymous_callers_reach_no_transaction_at_all(api: API):
    scn = await scene(api)
    body = await api.result(
        "query($id: ID!) { node(id: $id) { ... on PointTransaction { partner { key } } } }",
        {"id": scn.transactions["BEAN-771"]},
    )
    assert body["data"]["node"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]


async def test_payloads_name_the_partner_and_a_refund_or_cancellation_keeps_it(api: API):
    ana = await api.enroll("ana")
    beanery = await api.partner("beanery")
    bought = await api.mutate(
        "recordPurchase",
        {
            "memberId": ana,
            "orderId": "BEAN-1",
            "amount": "900",
            "currency": "RON",
            "idempotencyKey": new_key(),
        },
        "purchase { id } transaction { partner { key } }",
        as_=beanery,
    )
    assert bought["transaction"] == {"partner": {"key": "beanery"}}
    # Refunded by the operator, it is still The Beanery's purchase.
    refunded = await api.mutate(
        "refundPurchase",
        {"purchaseId": bought["purchase"]["id"], "amount": "100", "idempotencyKey": new_key()},
        "transaction { kind partner { key } }",
        as_=api.admin(),
    )
    assert refunded["transaction"] == {"kind": "REFUND", "partner": {"key": "beanery"}}
    # The operator's own purchase and its own reward are nobody's.
    own = await api.mutate(
        "recordPurchase",
        {
            "memberId": ana,
            "orderId": "OP-1",
            "amount": "10",
            "currency": "RON",
            "idempotencyKey": new_key(),
        },
        "transaction { partner { key } }",
        as_=api.admin(),
    )
    assert own["transaction"] == {"partner": None}
    coffee = await api.redeem("coffee", as_=api.member("ana"))
    cancelled = await api.mutate(
        "cancelRedemption",
        {"redemptionId": coffee["redemption"]["id"], "idempotencyKey": new_key()},
        "transaction { kind partner { key } }",
        as_=api.member("ana"),
    )
    assert cancelled["transaction"] == {"kind": "CANCEL", "partner": {"key": "beanery"}}


async def test_a_partner_the_program_no_longer_has_is_null(api: API):
    ana = await api.enroll("ana")
    bought = await api.purchase(ana, "10", as_=await api.partner("paper-lantern"))
    assert bought["userErrors"] == []
    text = api.stores.program.source
    start = text.index('[[partners]]\nkey = "paper-lantern"')
    end = text.index("[[rewards]]")
    # Without the partner, and without its reward, which would name it.
    voucher = text.index('[[rewards]]\nkey = "book-voucher"')
    after_voucher = text.index("[[rewards]]", voucher + 1)
    await api.use_program(text[:start] + text[end:voucher] + text[after_voucher:])
    data = await api.gql(
        "{ me { transactions { nodes { partner { key } } } } }", as_=api.member("ana")
    )
    assert data["me"]["transactions"]["nodes"] == [{"partner": None}]
