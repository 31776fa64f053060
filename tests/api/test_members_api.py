"""Members through the API: enrollment, reading members, paging, node(), history, expiring
points and tier status."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from domain import sql
from schema import ids
from tests.helpers import API, assert_ledger_consistent, member_gid, table_counts

MEMBER_FIELDS = (
    "id externalId displayName email birthday referralCode enrolledAt balance pendingPoints "
    "lifetimePoints tier { current { key } next { key } }"
)


async def enroll(api: API, fields: dict, as_: dict[str, str] | None = None) -> dict:
    return await api.mutate("enrollMember", fields, f"member {{ {MEMBER_FIELDS} }}", as_=as_)


async def member_row(external_id: str) -> dict:
    found = await sql.row(
        sql.connection(),
        "SELECT id, source, referred_by_id, referral_code FROM member WHERE external_id = ?",
        [external_id],
    )
    assert found is not None, external_id
    return found


# -- enrollment ---------------------------------------------------------------------------------


async def test_the_operator_enrolls_a_member_and_every_field_comes_back(api: API):
    started = datetime.now(UTC) - timedelta(seconds=1)
    payload = await enroll(
        api,
        {
            "externalId": "ana",
            "displayName": "Ana Popescu",
            "email": "ana@example.com",
            "birthday": "1990-04-17",
        },
        as_=api.admin(),
    )
    assert payload["userErrors"] == []
    member = payload["member"]
    assert ids.parse_global_id(member["id"]) == ("Member", str((await member_row("ana"))["id"]))
    assert member["externalId"] == "ana"
    assert member["displayName"] == "Ana Popescu"
    assert member["email"] == "ana@example.com"
    assert member["birthday"] == "1990-04-17"
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{10}", member["referralCode"])
    enrolled = datetime.fromisoformat(member["enrolledAt"])
    assert started <= enrolled <= datetime.now(UTC) + timedelta(seconds=1)
    assert (member["balance"], member["pendingPoints"], member["lifetimePoints"]) == (0, 0, 0)
    assert member["tier"] == {"current": {"key": "bronze"}, "next": {"key": "silver"}}
    assert (await member_row("ana"))["source"] == "admin"

    # And the same again when read back.
    data = await api.gql(
        f"query($id: ID!) {{ member(id: $id) {{ {MEMBER_FIELDS} }} }}",
        {"id": member["id"]},
        as_=api.admin(),
    )
    assert data["member"] == member


async def test_a_partner_enrolls_a_member_but_does_not_see_private_details(api: API):
    beanery = await api.partner("beanery")
    payload = await enroll(
        api,
        {"externalId": "bob", "email": "bob@example.com", "birthday": "1985-01-02"},
        as_=beanery,
    )
    assert payload["userErrors"] == []
    assert payload["member"]["externalId"] == "bob"
    assert payload["member"]["email"] is None
    assert payload["member"]["birthday"] is None
    assert payload["member"]["referralCode"] is None
    assert (await member_row("bob"))["source"] == "partner:beanery"
    # The operator sees what the partner gave.
    data = await api.gql('{ member(externalId: "bob") { email birthday } }', as_=api.admin())
    assert data["member"] == {"email": "bob@example.com", "birthday": "1985-01-02"}


async def test_a_member_enrolls_itself_with_its_token_and_only_itself(api: API):
    cara = api.member("cara")
    assert (await api.gql("{ me { id } }", as_=cara))["me"] is None

    payload = await enroll(api, {"externalId": "cara", "email": "cara@example.com"}, as_=cara)
    assert payload["userErrors"] == []
    assert payload["member"]["externalId"] == "cara"
    assert (await member_row("cara"))["source"] == "member:cara"
    me = (await api.gql("{ me { id externalId email referralCode } }", as_=cara))["me"]
    assert me == {
        "id": payload["member"]["id"],
        "externalId": "cara",
        "email": "cara@example.com",
        "referralCode": (await member_row("cara"))["referral_code"],
    }

    counts = await table_counts()
    other = await enroll(api, {"externalId": "dan"}, as_=api.member("cara"))
    assert [e["code"] for e in other["userErrors"]] == ["FORBIDDEN"]
    assert other["member"] is None
    anonymous = await enroll(api, {"externalId": "dan"}, as_=None)
    assert [e["code"] for e in anonymous["userErrors"]] == ["FORBIDDEN"]
    assert await table_counts() == counts


async def test_a_member_enrolling_itself_sees_its_own_private_details_in_the_payload(api: API):
    # Email, birthday and referral code are "seen by the member and the operator": the caller
    # who has just enrolled is that member, and `me` right after does show them.
    payload = await enroll(
        api,
        {"externalId": "cara", "email": "cara@example.com", "birthday": "2000-02-29"},
        as_=api.member("cara"),
    )
    assert payload["userErrors"] == []
    member = payload["member"]
    assert member["email"] == "cara@example.com"
    assert member["birthday"] == "2000-02-29"
    assert member["referralCode"] == (await member_row("cara"))["referral_code"]


async def test_me_is_null_for_anonymous_callers_and_the_operator(api: API):
    await api.enroll("ana")
    assert (await api.gql("{ me { id } }"))["me"] is None
    assert (await api.gql("{ me { id } }", as_=api.admin()))["me"] is None


async def test_an_external_id_enrolls_once(api: API):
    await api.enroll("ana")
    counts = await table_counts()
    again = await enroll(api, {"externalId": "ana", "displayName": "Other"}, as_=api.admin())
    assert again["member"] is None
    assert [(e["code"], e["field"]) for e in again["userErrors"]] == [("DUPLICATE", "externalId")]
    by_partner = await enroll(api, {"externalId": "ana"}, as_=await api.partner("skyways"))
    assert [e["code"] for e in by_partner["userErrors"]] == ["DUPLICATE"]
    counts["partner_api_key"] += 1
    assert await table_counts() == counts


async def test_malformed_enrollment_fields_are_invalid_input(api: API):
    counts = await table_counts()
    cases = [
        ({"externalId": ""}, "externalId"),
        ({"externalId": "has space"}, "externalId"),
        ({"externalId": "ana\n"}, "externalId"),
        ({"externalId": "x" * 129}, "externalId"),
        ({"externalId": "ana", "email": "not-an-address"}, "email"),
        ({"externalId": "ana", "email": "ana@example.com\n"}, "email"),
        ({"externalId": "ana", "birthday": "2999-01-01"}, "birthday"),
        ({"externalId": "ana", "referralCode": "AB"}, "referralCode"),
        ({"externalId": "ana", "referralCode": "ABC-123"}, "referralCode"),
        ({"externalId": "ana", "displayName": "x" * 201}, "displayName"),
    ]
    for fields, field in cases:
        payload = await enroll(api, fields, as_=api.admin())
        assert payload["member"] is None, fields
        assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
            ("INVALID_INPUT", field)
        ], fields
    assert await table_counts() == counts


async def test_a_referral_code_records_who_referred_the_new_member(api: API):
    payload = await enroll(api, {"externalId": "ana"}, as_=api.admin())
    code = payload["member"]["referralCode"]
    ana = await member_row("ana")

    bob = await enroll(api, {"externalId": "bob", "referralCode": code}, as_=api.admin())
    assert bob["userErrors"] == []
    # Codes are read the way people type them: case and surrounding spaces do not matter.
    cara = await enroll(
        api, {"externalId": "cara", "referralCode": f" {code.lower()} "}, as_=api.admin()
    )
    assert cara["userErrors"] == []

    assert (await member_row("bob"))["referred_by_id"] == ana["id"]
    assert (await member_row("cara"))["referred_by_id"] == ana["id"]
    assert ana["referred_by_id"] is None
    # Each member gets a code of its own.
    codes = {(await member_row(x))["referral_code"] for x in ("ana", "bob", "cara")}
    assert len(codes) == 3


async def test_an_unknown_referral_code_is_not_found_and_enrolls_nobody(api: API):
    await api.enroll("ana")
    counts = await table_counts()
    payload = await enroll(api, {"externalId": "bob", "referralCode": "ZZZZ9999"}, api.admin())
    assert payload["member"] is None
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
        ("NOT_FOUND", "referralCode")
    ]
    assert await table_counts() == counts


async def test_enrollment_with_an_idempotency_key_can_be_retried(api: API):
    fields = {"externalId": "ana", "displayName": "Ana", "idempotencyKey": "enroll-ana"}
    first = await enroll(api, fields, as_=api.admin())
    assert first["userErrors"] == []
    counts = await table_counts()

    again = await enroll(api, fields, as_=api.admin())
    assert again["userErrors"] == []
    assert again["member"] == first["member"]
    assert await table_counts() == counts

    other = await enroll(api, {**fields, "externalId": "bob"}, as_=api.admin())
    assert [e["code"] for e in other["userErrors"]] == ["IDEMPOTENCY_KEY_REUSED"]
    # Without the key, the retry is a duplicate.
    plain = await enroll(api, {"externalId": "ana", "displayName": "Ana"}, as_=api.admin())
    assert [e["code"] for e in plain["userErrors"]] == ["DUPLICATE"]
    assert await table_counts() == counts


# -- reading members ---------------------------------------------------------------------------


async def test_member_by_id_and_by_external_id(api: API):
    ana = await api.enroll("ana", displayName="Ana")
    await api.enroll("bob")
    by_id = await api.gql(
        "query($id: ID!) { member(id: $id) { id externalId displayName } }",
        {"id": ana},
        as_=api.admin(),
    )
    by_external = await api.gql(
        '{ member(externalId: "ana") { id externalId displayName } }', as_=api.admin()
    )
    assert (
        by_id["member"]
        == by_external["member"]
        == {
            "id": ana,
            "externalId": "ana",
            "displayName": "Ana",
        }
    )
    unknown = await api.gql(
        "query($id: ID!) { member(id: $id) { id } } ", {"id": member_gid(999999)}, api.admin()
    )
    assert unknown["member"] is None
    missing = await api.gql('{ member(externalId: "nobody") { id } }', as_=api.admin())
    assert missing["member"] is None


async def test_members_pages_oldest_first_without_overlap(api: API):
    enrolled = [await api.enroll(f"m{n}") for n in range(7)]
    query = (
        "query($first: Int, $after: String) { members(first: $first, after: $after) { "
        "edges { cursor node { id externalId } } "
        "pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }"
    )
    seen: list[str] = []
    after = None
    pages = []
    while True:
        page = (await api.gql(query, {"first": 3, "after": after}, as_=api.admin()))["members"]
        pages.append(page)
        edges = page["edges"]
        assert page["pageInfo"]["startCursor"] == edges[0]["cursor"]
        assert page["pageInfo"]["endCursor"] == edges[-1]["cursor"]
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        seen += [e["node"]["id"] for e in edges]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert [len(p["edges"]) for p in pages] == [3, 3, 1]
    assert seen == enrolled  # every member once, in enrollment order
    assert [e["node"]["externalId"] for e in pages[0]["edges"]] == ["m0", "m1", "m2"]

    exact = (await api.gql(query, {"first": 7}, as_=api.admin()))["members"]
    assert len(exact["edges"]) == 7
    assert exact["pageInfo"]["hasNextPage"] is False
    past = (
        await api.gql(query, {"first": 3, "after": exact["pageInfo"]["endCursor"]}, api.admin())
    )["members"]
    assert past["edges"] == []
    assert past["pageInfo"]["hasNextPage"] is False


@pytest.mark.parametrize("first", [0, -1, 101])
async def test_members_refuses_a_page_size_out_of_range(api: API, first: int):
    body = await api.result(
        "query($first: Int) { members(first: $first) { edges { cursor } } }",
        {"first": first},
        as_=api.admin(),
    )
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["INVALID_INPUT"]


async def test_members_accepts_a_page_of_a_hundred(api: API):
    body = await api.gql("{ members(first: 100) { edges { cursor } } }", as_=api.admin())
    assert body["members"]["edges"] == []


async def test_members_refuses_a_cursor_it_did_not_give_out(api: API):
    body = await api.result(
        '{ members(first: 2, after: "bm90LWEtY3Vyc29y") { edges { cursor } } }', as_=api.admin()
    )
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["INVALID_INPUT"]


# -- node() ------------------------------------------------------------------------------------


async def test_node_finds_every_kind_of_object(api: API):
    ana = await api.enroll("ana")
    earned = await api.purchase(ana, "1000")
    redeemed = await api.redeem("coffee", member_id=ana)
    query = (
        "query($id: ID!) { node(id: $id) { __typename id "
        "... on Member { externalId } ... on PointTransaction { kind points } "
        "... on Redemption { status points } ... on Tier { key } ... on Reward { key } "
        "... on Partner { key } } }"
    )
    expected = {
        ana: {"__typename": "Member", "externalId": "ana"},
        earned["transaction"]["id"]: {
            "__typename": "PointTransaction",
            "kind": "EARN",
            "points": 1000,
        },
        redeemed["redemption"]["id"]: {
            "__typename": "Redemption",
            "status": "ISSUED",
            "points": 500,
        },
        ids.global_id("Tier", "silver"): {"__typename": "Tier", "key": "silver"},
        ids.global_id("Reward", "coffee"): {"__typename": "Reward", "key": "coffee"},
        ids.global_id("Partner", "skyways"): {"__typename": "Partner", "key": "skyways"},
    }
    for global_id, fields in expected.items():
        node = (await api.gql(query, {"id": global_id}, as_=api.admin()))["node"]
        assert node == {"id": global_id, **fields}


GARBAGE_IDS = [
    "",
    "garbage",
    "!!!",
    "x" * 300,
    ids.global_id("Member", 999999),
    ids.global_id("Member", "abc"),
    ids.global_id("Member", "-1"),
    ids.global_id("Member", "9" * 40),
    ids.global_id("PointTransaction", 999999),
    ids.global_id("Redemption", 999999),
    ids.global_id("Tier", "platinum"),
    ids.global_id("Reward", "yacht"),
    ids.global_id("Partner", "nobody"),
    ids.global_id("Purchase", 1),
    ids.global_id("Spaceship", 1),
]


async def test_node_of_an_unknown_or_malformed_id_is_null(api: API):
    await api.enroll("ana")
    for garbage in GARBAGE_IDS:
        body = await api.result(
            "query($id: ID!) { node(id: $id) { id } }", {"id": garbage}, as_=api.admin()
        )
        assert body == {"data": {"node": None}}, garbage


# -- a member's history ------------------------------------------------------------------------


async def test_transactions_page_newest_first_with_a_running_balance(api: API):
    ana = await api.enroll("ana")
    movements = []
    for amount in ("100", "250", "40"):
        movements.append((await api.purchase(ana, amount))["transaction"])
    movements.append((await api.adjust(ana, -90, reason="correction"))["transaction"])
    movements.append((await api.redeem("plant-a-tree", member_id=ana))["transaction"])
    movements.append((await api.purchase(ana, "7"))["transaction"])
    running, balances = 0, []
    for movement in movements:
        running += movement["points"]
        balances.append(running)
    assert [m["points"] for m in movements] == [100, 250, 40, -90, -300, 7]
    assert balances == [100, 350, 390, 300, 0, 7]

    query = (
        "query($id: ID!, $after: String) { member(id: $id) { transactions(first: 4, "
        "after: $after) { edges { cursor node { id kind points balanceAfter description } } "
        "pageInfo { hasNextPage hasPreviousPage endCursor } } } }"
    )
    first = (await api.gql(query, {"id": ana}, as_=api.admin()))["member"]["transactions"]
    second = (
        await api.gql(query, {"id": ana, "after": first["pageInfo"]["endCursor"]}, as_=api.admin())
    )["member"]["transactions"]
    assert first["pageInfo"]["hasNextPage"] is True
    assert first["pageInfo"]["hasPreviousPage"] is False
    assert second["pageInfo"]["hasNextPage"] is False
    assert second["pageInfo"]["hasPreviousPage"] is True
    nodes = [e["node"] for e in first["edges"] + second["edges"]]
    assert len(first["edges"]) == 4
    assert [n["id"] for n in nodes] == [m["id"] for m in reversed(movements)]
    assert [n["balanceAfter"] for n in nodes] == list(reversed(balances))
    assert [n["kind"] for n in nodes] == ["EARN", "REDEEM", "ADJUST", "EARN", "EARN", "EARN"]
    assert nodes[2]["description"] == "correction"
    await assert_ledger_consistent()


async def test_each_member_in_a_list_gets_its_own_page_of_history(api: API):
    ana = await api.enroll("ana")
    bob = await api.enroll("bob")
    await api.enroll("cara")  # no history at all
    for amount in ("100", "200", "300"):
        await api.purchase(ana, amount)
    await api.purchase(bob, "1000")
    await api.redeem("coffee", member_id=bob)
    await api.redeem("plant-a-tree", member_id=bob)
    data = await api.gql(
        "{ members { nodes { externalId "
        "transactions(first: 2) { nodes { points balanceAfter } pageInfo { hasNextPage } } "
        "redemptions(first: 1) { nodes { reward { key } } pageInfo { hasNextPage } } "
        "expiringPoints { amount } } } }",
        as_=api.admin(),
    )
    by_member = {m["externalId"]: m for m in data["members"]["nodes"]}
    assert by_member["ana"]["transactions"] == {
        "nodes": [{"points": 300, "balanceAfter": 600}, {"points": 200, "balanceAfter": 300}],
        "pageInfo": {"hasNextPage": True},
    }
    assert by_member["bob"]["transactions"] == {
        "nodes": [{"points": -300, "balanceAfter": 200}, {"points": -500, "balanceAfter": 500}],
        "pageInfo": {"hasNextPage": True},
    }
    assert by_member["cara"]["transactions"] == {"nodes": [], "pageInfo": {"hasNextPage": False}}
    assert by_member["ana"]["redemptions"] == {"nodes": [], "pageInfo": {"hasNextPage": False}}
    assert by_member["bob"]["redemptions"] == {
        "nodes": [{"reward": {"key": "plant-a-tree"}}],
        "pageInfo": {"hasNextPage": True},
    }
    assert [e["amount"] for e in by_member["ana"]["expiringPoints"]] == [600]
    assert [e["amount"] for e in by_member["bob"]["expiringPoints"]] == [200]
    assert by_member["cara"]["expiringPoints"] == []


async def test_a_member_reads_its_own_history_through_me(api: API):
    ana = await api.enroll("ana")
    await api.enroll("bob")
    await api.purchase(ana, "100")
    me = (
        await api.gql(
            "{ me { balance transactions { edges { node { points balanceAfter } } } } }",
            as_=api.member("ana"),
        )
    )["me"]
    assert me == {
        "balance": 100,
        "transactions": {"edges": [{"node": {"points": 100, "balanceAfter": 100}}]},
    }
    bob_sees = await api.gql("{ me { transactions { edges { cursor } } } }", as_=api.member("bob"))
    assert bob_sees["me"]["transactions"]["edges"] == []


async def test_expiring_points_are_grouped_by_expiry_soonest_first(api: API):
    ana = await api.enroll("ana")
    for amount in ("100", "200", "300", "50"):
        await api.purchase(ana, amount)
    query = "query($id: ID!) { member(id: $id) { balance expiringPoints { amount expiresAt } } }"
    default = (await api.gql(query, {"id": ana}, as_=api.admin()))["member"]
    # Everything earned today expires together.
    assert [e["amount"] for e in default["expiringPoints"]] == [650]
    year_on = datetime.fromisoformat(default["expiringPoints"][0]["expiresAt"])

    conn = sql.connection()
    lots = [int(r["id"]) for r in await sql.rows(conn, "SELECT id FROM lot ORDER BY id")]
    soon = (datetime.now(UTC) + timedelta(days=10)).replace(microsecond=0)
    sooner = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    await sql.execute(conn, "UPDATE lot SET expires_at = ? WHERE id = ?", [soon, lots[0]])
    await sql.execute(conn, "UPDATE lot SET expires_at = ? WHERE id = ?", [sooner, lots[2]])

    member = (await api.gql(query, {"id": ana}, as_=api.admin()))["member"]
    assert [
        (e["amount"], datetime.fromisoformat(e["expiresAt"])) for e in member["expiringPoints"]
    ] == [(300, sooner), (100, soon), (250, year_on)]

    # Spending takes the soonest first, and a spent lot has nothing left to expire.
    await api.redeem("plant-a-tree", member_id=ana)  # 300
    member = (await api.gql(query, {"id": ana}, as_=api.admin()))["member"]
    assert [e["amount"] for e in member["expiringPoints"]] == [100, 250]

    # Points already past their expiry are not "expiring" any more.
    gone = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0)
    await sql.execute(conn, "UPDATE lot SET expires_at = ? WHERE id = ?", [gone, lots[3]])
    member = (await api.gql(query, {"id": ana}, as_=api.admin()))["member"]
    assert [e["amount"] for e in member["expiringPoints"]] == [100, 200]


async def test_tier_status_follows_lifetime_points(api: API):
    ana = await api.enroll("ana")
    query = (
        "query($id: ID!) { member(id: $id) { lifetimePoints tier { current { key name } "
        "next { key threshold } progress pointsToNext } } }"
    )

    async def status() -> dict:
        return (await api.gql(query, {"id": ana}, as_=api.admin()))["member"]

    assert await status() == {
        "lifetimePoints": 0,
        "tier": {
            "current": {"key": "bronze", "name": "Bronze"},
            "next": {"key": "silver", "threshold": 2500},
            "progress": 0.0,
            "pointsToNext": 2500,
        },
    }
    await api.purchase(ana, "1000")
    bronze = (await status())["tier"]
    assert bronze["current"]["key"] == "bronze"
    assert bronze["progress"] == pytest.approx(0.4)
    assert bronze["pointsToNext"] == 1500

    await api.purchase(ana, "1500")  # exactly 2500
    silver = (await status())["tier"]
    assert silver["current"]["key"] == "silver"
    assert silver["next"] == {"key": "gold", "threshold": 10000}
    assert silver["progress"] == 0.0
    assert silver["pointsToNext"] == 7500

    await api.purchase(ana, "4250")  # 6750: 4250 of the 7500 from silver to gold
    half = (await status())["tier"]
    assert half["current"]["key"] == "silver"
    assert half["progress"] == pytest.approx(4250 / 7500)
    assert half["pointsToNext"] == 3250

    await api.purchase(ana, "3250")  # 10000
    gold = await status()
    assert gold["lifetimePoints"] == 10000
    assert gold["tier"] == {
        "current": {"key": "gold", "name": "Gold"},
        "next": None,
        "progress": 1.0,
        "pointsToNext": None,
    }
    # Names follow the request's language.
    response = await api.client.post(
        "/graphql",
        json={"query": query, "variables": {"id": ana}},
        headers={**api.admin(), "Accept-Language": "ro-RO,ro;q=0.9"},
    )
    assert response.json()["data"]["member"]["tier"]["current"]["name"] == "Aur"
