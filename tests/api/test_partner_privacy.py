"""Partners are competing brands: what a partner sees of a member, path by path.

The rule (schema/authorization.py): a partner that has dealt with a member sees its public
profile, balance and tier, and of its history only its own dealings - its purchases, its
actions, redemptions of its rewards. Never another partner's order ids or voucher codes, never
the operator's adjustments and their reasons. Every path that returns member data is tried:
the member's transactions and redemptions, node() of each kind, objects nested in others, and
mutation payloads. And nobody without the right learns whether a member exists.

The scene, built through the API: ana bought at The Beanery (order BEAN-771) and at SkyWays
(SKY-552), wrote The Beanery a review, redeemed The Beanery's coffee, a Paper Lantern book
voucher and the operator's own discount, and had an operator adjustment with a confidential
reason. Paper Lantern then linked her with a partnerMemberId of its own making.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from schema import ids
from tests.helpers import API, member_gid, new_key, partner_gid, reward_gid

REASON = "Fraud review: card chargeback case #991"
HISTORY = (
    "transactions(first: 50) { nodes { id kind points description reference } } "
    "redemptions(first: 50) { nodes { id code status reward { key } } }"
)
MEMBER = f"member(id: $id) {{ id displayName balance tier {{ current {{ key }} }} {HISTORY} }}"


@dataclass
class Scene:
    ana: str
    partners: dict[str, dict[str, str]]
    transactions: dict[str, str]  # what -> PointTransaction id
    redemptions: dict[str, tuple[str, str]]  # reward -> (Redemption id, voucher code)
    purchases: dict[str, str]  # order id -> Purchase id


async def scene(api: API) -> Scene:
    partners = {key: await api.partner(key) for key in ("beanery", "skyways", "paper-lantern")}
    ana = await api.enroll("ana", displayName="Ana")
    transactions, purchases = {}, {}
    for order, partner in (("BEAN-771", "beanery"), ("SKY-552", "skyways")):
        bought = await api.purchase(ana, "3000", order_id=order, as_=partners[partner])
        assert bought["userErrors"] == [], bought
        transactions[order] = bought["transaction"]["id"]
        purchases[order] = bought["purchase"]["id"]
    review = await api.mutate(
        "recordAction",
        {"memberId": ana, "action": "REVIEW", "reference": "rev-1", "idempotencyKey": new_key()},
        "transaction { id }",
        as_=partners["beanery"],
    )
    transactions["review"] = review["transaction"]["id"]
    adjusted = await api.adjust(ana, 100, reason=REASON)
    transactions["adjustment"] = adjusted["transaction"]["id"]
    redemptions = {}
    for reward in ("coffee", "book-voucher", "discount-10"):
        redeemed = await api.redeem(reward, as_=api.member("ana"))
        assert redeemed["userErrors"] == [], redeemed
        redemptions[reward] = (redeemed["redemption"]["id"], redeemed["redemption"]["code"])
        transactions[reward] = redeemed["transaction"]["id"]
    linked = await api.mutate(
        "linkPartnerAccount",
        {"memberId": ana, "partnerId": partner_gid("paper-lantern"), "partnerMemberId": "MADE-UP"},
        "partnerMemberId",
        as_=partners["paper-lantern"],
    )
    assert linked["userErrors"] == [], linked
    return Scene(ana, partners, transactions, redemptions, purchases)


# What each caller's own dealings with ana are; everything else of hers is hidden from it.
OWN = {
    "beanery": {"transactions": {"BEAN-771", "review", "coffee"}, "redemptions": {"coffee"}},
    "skyways": {"transactions": {"SKY-552"}, "redemptions": set()},
    "paper-lantern": {"transactions": {"book-voucher"}, "redemptions": {"book-voucher"}},
}
EVERYTHING = {
    "transactions": {"BEAN-771", "SKY-552", "review", "adjustment", "coffee", "book-voucher"}
    | {"discount-10"},
    "redemptions": {"coffee", "book-voucher", "discount-10"},
}


def secrets_of(scn: Scene, partner: str) -> list[str]:
    """Strings no body sent to `partner` may contain: others' orders, codes, the reason."""
    hidden = [REASON, "chargeback"]
    hidden += [order for order in scn.purchases if order not in OWN[partner]["transactions"]]
    hidden += [
        code
        for reward, (_, code) in scn.redemptions.items()
        if reward not in OWN[partner]["redemptions"]
    ]
    return hidden


def assert_keeps(body: dict[str, Any], secrets: list[str]) -> None:
    text = json.dumps(body)
    for secret in secrets:
        assert secret not in text, (secret, body)


def history_of(member: dict[str, Any], scn: Scene) -> dict[str, set[str]]:
    by_id = {gid: what for what, gid in scn.transactions.items()}
    by_redemption = {gid: reward for reward, (gid, _) in scn.redemptions.items()}
    return {
        "transactions": {
            by_id[n["id"]] for n in member["transactions"]["nodes"] if n["id"] in by_id
        },
        "redemptions": {by_redemption[n["id"]] for n in member["redemptions"]["nodes"]},
    }


@pytest.mark.parametrize("partner", sorted(OWN))
async def test_member_history_shows_a_partner_its_own_dealings_only(api: API, partner: str):
    scn = await scene(api)
    body = await api.result(
        f"query($id: ID!) {{ {MEMBER} }}", {"id": scn.ana}, as_=scn.partners[partner]
    )
    assert body.get("errors") is None, body
    member = body["data"]["member"]
    assert (member["displayName"], member["balance"]) == (
        "Ana",
        6000 + 50 + 100 - 500 - 2500 - 1000,
    )
    assert member["tier"]["current"]["key"] == "silver"
    assert history_of(member, scn) == OWN[partner]
    assert len(member["transactions"]["nodes"]) == len(OWN[partner]["transactions"])
    assert_keeps(body, secrets_of(scn, partner))


async def test_the_operator_and_the_member_see_the_whole_history(api: API):
    scn = await scene(api)
    for caller in (api.admin(), api.member("ana")):
        body = await api.result(f"query($id: ID!) {{ {MEMBER} }}", {"id": scn.ana}, as_=caller)
        assert body.get("errors") is None, body
        history = history_of(body["data"]["member"], scn)
        assert history["transactions"] >= EVERYTHING["transactions"]
        assert history["redemptions"] == EVERYTHING["redemptions"]
        assert REASON in json.dumps(body)


@pytest.mark.parametrize("partner", sorted(OWN))
async def test_node_shows_a_partner_its_own_dealings_only(api: API, partner: str):
    scn = await scene(api)
    headers = scn.partners[partner]
    for what, gid in scn.transactions.items():
        body = await api.result(
            "query($id: ID!) { node(id: $id) { id ... on PointTransaction { description "
            "reference } } }",
            {"id": gid},
            as_=headers,
        )
        if what in OWN[partner]["transactions"]:
            assert body["data"]["node"]["id"] == gid, (what, body)
        else:
            assert body["data"] == {"node": None}, (what, body)
            assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
        assert_keeps(body, secrets_of(scn, partner))
    for reward, (gid, code) in scn.redemptions.items():
        body = await api.result(
            "query($id: ID!) { node(id: $id) { id ... on Redemption { code transaction { id } } "
            "} }",
            {"id": gid},
            as_=headers,
        )
        if reward in OWN[partner]["redemptions"]:
            assert body["data"]["node"]["code"] == code, body
        else:
            assert body["data"] == {"node": None}, (reward, body)
        assert_keeps(body, secrets_of(scn, partner))
    for order, gid in scn.purchases.items():
        body = await api.result(
            "query($id: ID!) { node(id: $id) { id ... on Purchase { orderId transaction { id } "
            "} } }",
            {"id": gid},
            as_=headers,
        )
        if order in OWN[partner]["transactions"]:
            assert body["data"]["node"]["orderId"] == order, body
        else:
            assert body["data"] == {"node": None}, (order, body)
        assert_keeps(body, secrets_of(scn, partner))


async def test_mutation_payloads_show_a_partner_its_own_dealings_only(api: API):
    scn = await scene(api)
    # A purchase of its own, asking for everything of ana it can name in the payload.
    skyways = await api.mutate(
        "recordPurchase",
        {
            "memberId": scn.ana,
            "orderId": "SKY-553",
            "amount": "10",
            "currency": "RON",
            "idempotencyKey": new_key(),
        },
        f"member {{ {HISTORY} }} purchase {{ orderId transaction {{ reference }} }} "
        "transaction { reference }",
        as_=scn.partners["skyways"],
    )
    assert skyways["userErrors"] == [], skyways
    assert skyways["transaction"]["reference"] == "SKY-553"
    assert {n["reference"] for n in skyways["member"]["transactions"]["nodes"]} == {
        "SKY-552",
        "SKY-553",
    }
    assert skyways["member"]["redemptions"]["nodes"] == []
    assert_keeps(skyways, secrets_of(scn, "skyways"))

    # Linking again, fulfilling its own redemption, recording an action: the same rule.
    lantern = scn.partners["paper-lantern"]
    relinked = await api.mutate(
        "linkPartnerAccount",
        {"memberId": scn.ana, "partnerId": partner_gid("paper-lantern"), "partnerMemberId": "X-2"},
        f"member {{ {HISTORY} }}",
        as_=lantern,
    )
    assert history_of(relinked["member"], scn) == OWN["paper-lantern"]
    assert_keeps(relinked, secrets_of(scn, "paper-lantern"))
    voucher, _ = scn.redemptions["book-voucher"]
    fulfilled = await api.mutate(
        "fulfillRedemption",
        {"redemptionId": voucher},
        "redemption { id status transaction { reference } }",
        as_=lantern,
    )
    assert fulfilled["redemption"]["status"] == "FULFILLED", fulfilled
    coffee, _ = scn.redemptions["coffee"]
    refused = await api.mutate(
        "fulfillRedemption", {"redemptionId": coffee}, "redemption { id code }", as_=lantern
    )
    assert [e["code"] for e in refused["userErrors"]] == ["FORBIDDEN"]
    assert_keeps(refused, secrets_of(scn, "paper-lantern"))
    # Refunding its own purchase shows its own purchase; ana's other dealings stay hidden.
    refund = await api.mutate(
        "refundPurchase",
        {"orderId": "SKY-552", "amount": "100", "idempotencyKey": new_key()},
        f"member {{ {HISTORY} }} purchase {{ orderId }} transaction {{ reference }}",
        as_=scn.partners["skyways"],
    )
    assert refund["purchase"]["orderId"] == "SKY-552", refund
    assert_keeps(refund, secrets_of(scn, "skyways"))


# -- nobody learns whether a member exists -------------------------------------------------


def _without_positions(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "data": body.get("data"),
        "errors": [
            {"message": e["message"], "code": e["extensions"]["code"], "path": e["path"]}
            for e in body.get("errors", [])
        ],
    }


@pytest.mark.parametrize("caller", ["anonymous", "another member", "a partner"])
async def test_an_unknown_member_and_a_hidden_one_get_the_same_answer(api: API, caller: str):
    scn = await scene(api)
    await api.enroll("bob")
    headers = {
        "anonymous": None,
        "another member": api.member("bob"),
        "a partner": await api.partner("beanery"),
    }[caller]
    # Beanery has dealt with ana: a member it has not dealt with is needed, so enroll one.
    hidden_external = "carla" if caller == "a partner" else "ana"
    hidden_id = await api.enroll("carla") if caller == "a partner" else scn.ana
    unknown_id = member_gid(999_999)
    by_external = "query($e: String!) { member(externalId: $e) { id balance } }"
    known = await api.result(by_external, {"e": hidden_external}, as_=headers)
    unknown = await api.result(by_external, {"e": "nobody-at-all"}, as_=headers)
    assert _without_positions(known) == _without_positions(unknown), (known, unknown)
    assert known["data"] == {"member": None}
    assert [e["extensions"]["code"] for e in known["errors"]] == ["FORBIDDEN"]

    by_node = "query($id: ID!) { node(id: $id) { id } }"
    assert _without_positions(await api.result(by_node, {"id": hidden_id}, as_=headers)) == (
        _without_positions(await api.result(by_node, {"id": unknown_id}, as_=headers))
    )
    by_id = "query($id: ID!) { member(id: $id) { id } }"
    assert _without_positions(await api.result(by_id, {"id": hidden_id}, as_=headers)) == (
        _without_positions(await api.result(by_id, {"id": unknown_id}, as_=headers))
    )
    # The same for the history objects: a hidden one and one that does not exist.
    for kind, real in (
        ("PointTransaction", scn.transactions["adjustment"]),
        ("Redemption", scn.redemptions["discount-10"][0]),
    ):
        if caller == "a partner" and kind == "Redemption":
            real = scn.redemptions["book-voucher"][0]
        missing = ids.global_id(kind, 999_999)
        assert _without_positions(await api.result(by_node, {"id": real}, as_=headers)) == (
            _without_positions(await api.result(by_node, {"id": missing}, as_=headers))
        ), kind


async def test_the_operator_is_told_a_member_does_not_exist(api: API):
    body = await api.result(
        'query($id: ID!) { member(externalId: "nobody") { id } node(id: $id) { id } }',
        {"id": member_gid(999_999)},
        as_=api.admin(),
    )
    assert body == {"data": {"member": None, "node": None}}


async def test_the_reward_catalogue_is_still_public(api: API):
    body = await api.result(
        "query($id: ID!) { node(id: $id) { id } }", {"id": reward_gid("coffee")}, as_=None
    )
    assert body["data"]["node"]["id"] == reward_gid("coffee")
