"""Redeeming rewards and cancelling redemptions through the API: balances, codes, stock,
states, and the catalog and history connections."""

from __future__ import annotations

import re
from dataclasses import replace

from domain import jobs, sql
from tests.helpers import (
    API,
    ManualClock,
    assert_ledger_consistent,
    new_key,
    reward_gid,
    table_counts,
)

CODE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")

REDEEM = (
    "member { balance lifetimePoints } "
    "redemption { id code status points createdAt cancelledAt reward { key name pointsCost } "
    "transaction { id kind points } } "
    "transaction { id kind points balanceAfter description reference }"
)

STOCK = "query { rewards(first: 20) { nodes { key stock } } }"


async def redeem(api: API, reward: str, member_id: str, key: str | None = None) -> dict:
    return await api.mutate(
        "redeemReward",
        {"memberId": member_id, "rewardId": reward_gid(reward), "idempotencyKey": key or new_key()},
        REDEEM,
        as_=api.admin(),
    )


async def stock(api: API) -> dict[str, int | None]:
    nodes = (await api.gql(STOCK))["rewards"]["nodes"]
    return {n["key"]: n["stock"] for n in nodes}


async def test_redeeming_spends_the_points_and_issues_a_voucher(api: API):
    ana = await api.enroll("ana")
    await api.purchase(ana, "1500")

    payload = await redeem(api, "discount-10", ana)

    assert payload["userErrors"] == []
    assert payload["member"] == {"balance": 500, "lifetimePoints": 1500}
    transaction = payload["transaction"]
    assert transaction["kind"] == "REDEEM"
    assert transaction["points"] == -1000
    assert transaction["balanceAfter"] == 500
    assert transaction["description"] == "Redeemed: 10 RON off your next purchase"
    assert transaction["reference"] == "discount-10"
    redemption = payload["redemption"]
    assert redemption["status"] == "ISSUED"
    assert redemption["points"] == 1000
    assert CODE.match(redemption["code"]), redemption["code"]
    assert redemption["cancelledAt"] is None
    assert redemption["reward"] == {
        "key": "discount-10",
        "name": "10 RON off your next purchase",
        "pointsCost": 1000,
    }
    assert redemption["transaction"] == {
        "id": transaction["id"],
        "kind": "REDEEM",
        "points": -1000,
    }
    assert await api.balance(ana) == 500
    stored = await sql.row(
        sql.connection(), "SELECT code, status, points, reward_key FROM redemption"
    )
    assert stored == {
        "code": redemption["code"],
        "status": "ISSUED",
        "points": 1000,
        "reward_key": "discount-10",
    }
    await assert_ledger_consistent()


async def test_every_voucher_code_is_its_own(api: API):
    ana = await api.enroll("ana")
    await api.purchase(ana, "3000")
    codes = [(await redeem(api, "plant-a-tree", ana))["redemption"]["code"] for _ in range(10)]
    assert all(CODE.match(code) for code in codes)
    assert len(set(codes)) == 10


async def test_a_member_redeems_for_itself_with_its_token(api: API):
    ana = await api.enroll("ana")
    bob = await api.enroll("bob")
    await api.purchase(ana, "600")
    await api.purchase(bob, "600")

    mine = await api.redeem("coffee", as_=api.member("ana"))
    assert mine["userErrors"] == []
    assert mine["member"] == {"balance": 100}
    # Not for someone else, and not as a partner.
    counts = await table_counts()
    theirs = await api.redeem("coffee", member_id=bob, as_=api.member("ana"))
    assert [e["code"] for e in theirs["userErrors"]] == ["FORBIDDEN"]
    partner = await api.redeem("coffee", member_id=bob, as_=await api.partner("beanery"))
    assert [e["code"] for e in partner["userErrors"]] == ["FORBIDDEN"]
    counts["partner_api_key"] += 1
    assert await table_counts() == counts
    assert await api.balance(bob) == 600


async def test_too_few_points_is_insufficient_points_and_writes_nothing(api: API):
    ana = await api.enroll("ana")
    await api.purchase(ana, "999")
    before = await stock(api)
    counts = await table_counts()

    payload = await redeem(api, "discount-10", ana)
    limited = await redeem(api, "book-voucher", ana)

    for refused in (payload, limited):
        assert refused["redemption"] is None
        assert refused["transaction"] is None
        assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [
            ("INSUFFICIENT_POINTS", None)
        ]
    assert await table_counts() == counts
    assert await stock(api) == before
    assert await api.balance(ana) == 999


async def test_an_unknown_reward_is_not_found(api: API):
    ana = await api.enroll("ana")
    await api.purchase(ana, "5000")
    payload = await redeem(api, "yacht", ana)
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [("NOT_FOUND", "rewardId")]
    assert await api.balance(ana) == 5000


async def test_stock_goes_down_with_a_redemption_and_back_up_with_its_cancellation(api: API):
    ana = await api.enroll("ana")
    await api.purchase(ana, "5000")
    before = await stock(api)
    assert before == {
        "coffee": None,
        "discount-10": None,
        "plant-a-tree": None,
        "book-voucher": 200,
        "lounge-pass": 50,
        "limited-tote": 25,
    }

    redeemed = await redeem(api, "limited-tote", ana)
    assert redeemed["userErrors"] == []
    assert await stock(api) == {**before, "limited-tote": 24}
    await redeem(api, "coffee", ana)  # unlimited: nothing to count
    assert await stock(api) == {**before, "limited-tote": 24}

    cancelled = await api.cancel(redeemed["redemption"]["id"])
    assert cancelled["userErrors"] == []
    assert await stock(api) == before
    assert await api.balance(ana) == 4500


async def test_the_last_unit_goes_to_one_member_and_then_it_is_out_of_stock(api: API):
    ana = await api.enroll("ana")
    await api.purchase(ana, "10000")
    await sql.execute(
        sql.connection(),
        "UPDATE reward_stock SET issued = 24 WHERE reward_key = 'limited-tote'",
    )
    assert (await stock(api))["limited-tote"] == 1

    last = await redeem(api, "limited-tote", ana)
    assert last["userErrors"] == []
    assert (await stock(api))["limited-tote"] == 0
    counts = await table_counts()

    gone = await redeem(api, "limited-tote", ana)
    assert [(e["code"], e["field"]) for e in gone["userErrors"]] == [("OUT_OF_STOCK", "rewardId")]
    assert gone["redemption"] is None
    # The points were not taken, nothing was written.
    assert await table_counts() == counts
    assert await api.balance(ana) == 8500

    # A cancellation puts the unit back on the shelf.
    await api.cancel(last["redemption"]["id"])
    assert (await stock(api))["limited-tote"] == 1
    again = await redeem(api, "limited-tote", ana)
    assert again["userErrors"] == []
    await assert_ledger_consistent()


async def test_a_program_with_a_stock_of_one(api: API):
    program = api.stores.program
    tiny = replace(
        program,
        rewards={
            **program.rewards,
            "lounge-pass": replace(program.rewards["lounge-pass"], stock=1, points_cost=100),
        },
    )
    await api.use_program(tiny)
    ana = await api.enroll("ana")
    bob = await api.enroll("bob")
    await api.purchase(ana, "1000")
    await api.purchase(bob, "1000")
    assert (await stock(api))["lounge-pass"] == 1

    first = await redeem(api, "lounge-pass", ana)
    second = await redeem(api, "lounge-pass", bob)

    assert first["userErrors"] == []
    assert first["member"]["balance"] == 900
    assert [e["code"] for e in second["userErrors"]] == ["OUT_OF_STOCK"]
    assert await api.balance(bob) == 1000
    assert (await stock(api))["lounge-pass"] == 0
    await assert_ledger_consistent()


async def test_cancelling_gives_the_points_back_once(api: API):
    ana = await api.enroll("ana")
    await api.purchase(ana, "1200")
    redeemed = await redeem(api, "discount-10", ana)
    redemption = redeemed["redemption"]["id"]

    cancelled = await api.mutate(
        "cancelRedemption",
        {"redemptionId": redemption, "idempotencyKey": new_key()},
        "member { balance lifetimePoints } redemption { id status cancelledAt points } "
        "transaction { kind points balanceAfter description }",
        as_=api.admin(),
    )
    assert cancelled["userErrors"] == []
    assert cancelled["member"] == {"balance": 1200, "lifetimePoints": 1200}
    assert cancelled["redemption"]["status"] == "CANCELLED"
    assert cancelled["redemption"]["cancelledAt"] is not None
    assert cancelled["transaction"] == {
        "kind": "CANCEL",
        "points": 1000,
        "balanceAfter": 1200,
        "description": "Redemption cancelled: points returned",
    }
    counts = await table_counts()

    twice = await api.cancel(redemption)
    assert [(e["code"], e["field"]) for e in twice["userErrors"]] == [
        ("INVALID_STATE", "redemptionId")
    ]
    assert twice["transaction"] is None
    assert await table_counts() == counts
    assert await api.balance(ana) == 1200
    await assert_ledger_consistent()


async def test_a_member_cancels_only_its_own_redemptions(api: API):
    ana = await api.enroll("ana")
    bob = await api.enroll("bob")
    await api.purchase(ana, "500")
    await api.purchase(bob, "500")
    anas = (await api.redeem("coffee", as_=api.member("ana")))["redemption"]["id"]
    bobs = (await api.redeem("coffee", as_=api.member("bob")))["redemption"]["id"]

    refused = await api.cancel(bobs, as_=api.member("ana"))
    assert [e["code"] for e in refused["userErrors"]] == ["FORBIDDEN"]
    assert await api.balance(bob) == 0

    mine = await api.cancel(anas, as_=api.member("ana"))
    assert mine["userErrors"] == []
    assert mine["member"] == {"balance": 500}
    assert mine["redemption"]["status"] == "CANCELLED"


async def test_member_redemptions_page_newest_first(api: API):
    ana = await api.enroll("ana")
    await api.purchase(ana, "3000")
    made = []
    for reward in ("coffee", "plant-a-tree", "discount-10", "plant-a-tree"):
        made.append((await redeem(api, reward, ana))["redemption"])
    await api.cancel(made[1]["id"])
    query = (
        "query($id: ID!, $after: String) { member(id: $id) { redemptions(first: 3, "
        "after: $after) { edges { cursor node { id code status reward { key } } } "
        "pageInfo { hasNextPage hasPreviousPage endCursor } } } }"
    )
    first = (await api.gql(query, {"id": ana}, as_=api.admin()))["member"]["redemptions"]
    second = (
        await api.gql(query, {"id": ana, "after": first["pageInfo"]["endCursor"]}, api.admin())
    )["member"]["redemptions"]

    assert [len(first["edges"]), len(second["edges"])] == [3, 1]
    assert first["pageInfo"]["hasNextPage"] is True
    assert first["pageInfo"]["hasPreviousPage"] is False
    assert second["pageInfo"]["hasNextPage"] is False
    assert second["pageInfo"]["hasPreviousPage"] is True
    nodes = [e["node"] for e in first["edges"] + second["edges"]]
    assert [n["id"] for n in nodes] == [r["id"] for r in reversed(made)]
    assert [n["code"] for n in nodes] == [r["code"] for r in reversed(made)]
    assert [n["reward"]["key"] for n in nodes] == [
        "plant-a-tree",
        "discount-10",
        "plant-a-tree",
        "coffee",
    ]
    assert [n["status"] for n in nodes] == ["ISSUED", "ISSUED", "CANCELLED", "ISSUED"]

    # The member sees the same through `me`; another member sees none of them.
    mine = (await api.gql("{ me { redemptions { nodes { id } } } }", as_=api.member("ana")))["me"][
        "redemptions"
    ]["nodes"]
    assert [n["id"] for n in mine] == [r["id"] for r in reversed(made)]
    await api.enroll("bob")
    others = (await api.gql("{ me { redemptions { nodes { id } } } }", as_=api.member("bob")))[
        "me"
    ]["redemptions"]["nodes"]
    assert others == []


async def test_the_rewards_catalog_pages_in_program_order(api: API):
    query = (
        "query($first: Int, $after: String) { rewards(first: $first, after: $after) { "
        "edges { cursor node { key name pointsCost partner { key } } } "
        "pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }"
    )
    everything = (await api.gql(query, {"first": 20}))["rewards"]
    keys = [e["node"]["key"] for e in everything["edges"]]
    assert keys == list(api.stores.program.rewards)
    assert keys == [
        "coffee",
        "discount-10",
        "plant-a-tree",
        "book-voucher",
        "lounge-pass",
        "limited-tote",
    ]
    assert everything["pageInfo"]["hasNextPage"] is False
    assert everything["edges"][0]["node"] == {
        "key": "coffee",
        "name": "Any coffee at The Beanery",
        "pointsCost": 500,
        "partner": {"key": "beanery"},
    }

    seen, after, pages = [], None, 0
    while True:
        page = (await api.gql(query, {"first": 4, "after": after}))["rewards"]
        pages += 1
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        assert page["pageInfo"]["startCursor"] == page["edges"][0]["cursor"]
        assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
        seen += [e["node"]["key"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert pages == 2
    assert seen == keys

    two = (await api.gql(query, {"first": 2}))["rewards"]
    rest = (await api.gql(query, {"first": 4, "after": two["pageInfo"]["endCursor"]}))["rewards"]
    assert [e["node"]["key"] for e in rest["edges"]] == keys[2:]
    assert rest["pageInfo"]["hasNextPage"] is False

    exact = (await api.gql(query, {"first": 6}))["rewards"]
    assert exact["pageInfo"]["hasNextPage"] is False
    for bad in (0, 101):
        body = await api.result(query, {"first": bad})
        assert [e["extensions"]["code"] for e in body["errors"]] == ["INVALID_INPUT"]


async def test_cancelling_after_expiry_gives_no_point_a_new_life(api: API):
    """Redeemed before the points expire, cancelled after: the points go back into the lots
    they came from, with those lots' expiry; the share of a lot already past it expires at
    once, to breakage, as if it had never been spent. Redeem-and-cancel keeps nothing alive."""
    clock = api.use_clock(ManualClock("2026-03-02T10:00:00+00:00"))
    ana = await api.enroll("ana")
    await api.purchase(ana, "600")  # expires at the end of 2027-03-02, Bucharest
    clock.set("2026-09-01T10:00:00+00:00")
    await api.purchase(ana, "600")  # expires at the end of 2027-09-01
    redeemed = await api.redeem("discount-10", member_id=ana)  # 600 + 400
    assert redeemed["member"] == {"balance": 200}

    clock.set("2027-04-01T10:00:00+00:00")  # the first lot's expiry has passed
    cancelled = await api.cancel(redeemed["redemption"]["id"])

    assert cancelled["userErrors"] == []
    assert cancelled["transaction"]["points"] == 1000
    assert cancelled["member"] == {"balance": 600}
    data = await api.gql(
        "query($id: ID!) { member(id: $id) { balance expiringPoints { amount expiresAt } "
        "transactions(first: 3) { nodes { kind points } } } }",
        {"id": ana},
        as_=api.admin(),
    )
    member = data["member"]
    assert member["expiringPoints"] == [{"amount": 600, "expiresAt": "2027-09-01T21:00:00+00:00"}]
    assert [(t["kind"], t["points"]) for t in member["transactions"]["nodes"]] == [
        ("EXPIRE", -600),
        ("CANCEL", 1000),
        ("REDEEM", -1000),
    ]
    # The jobs find nothing more to expire: nothing was renewed, nothing is left behind.
    report = await jobs.run_all(api.runtime.program, clock.now())
    assert (report.expired, report.failures) == (0, [])
    await assert_ledger_consistent()
