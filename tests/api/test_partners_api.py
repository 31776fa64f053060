"""Partners through the API: API keys shown once and stored as digests, keys that authenticate
as their partner, account links, and the partners list."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from domain import sql
from tests.helpers import API, partner_gid, table_counts

CREATE = "apiKey partner { id key name currency }"
LINK = "member { id externalId } partner { key } partnerMemberId"


async def create_key(api: API, partner_id: str, as_: dict[str, str] | None = None) -> dict:
    return await api.mutate(
        "createPartnerApiKey", {"partnerId": partner_id}, CREATE, as_=as_ or api.admin()
    )


async def link(
    api: API,
    member: dict[str, str],
    partner: str,
    partner_member_id: str,
    as_: dict[str, str] | None = None,
) -> dict:
    return await api.mutate(
        "linkPartnerAccount",
        {**member, "partnerId": partner_gid(partner), "partnerMemberId": partner_member_id},
        LINK,
        as_=as_ or api.admin(),
    )


async def every_stored_value() -> list[Any]:
    conn = sql.connection()
    if sql.is_postgres(conn):
        names = await sql.rows(
            conn, "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'"
        )
    else:
        names = await sql.rows(
            conn, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    values: list[Any] = []
    for table in (r["name"] for r in names):
        for row in await sql.rows(conn, f'SELECT * FROM "{table}"'):
            values += list(row.values())
    return values


async def links() -> list[tuple[str, int, str]]:
    found = await sql.rows(
        sql.connection(),
        "SELECT p.key, l.member_id, l.partner_member_id FROM partner_link l "
        "JOIN partner p ON p.id = l.partner_id ORDER BY l.id",
    )
    return [(r["key"], int(r["member_id"]), r["partner_member_id"]) for r in found]


async def member_id(external_id: str) -> int:
    found = await sql.row(
        sql.connection(), "SELECT id FROM member WHERE external_id = ?", [external_id]
    )
    assert found is not None
    return int(found["id"])


# -- API keys ----------------------------------------------------------------------------------


async def test_a_key_is_shown_once_and_only_its_digest_is_kept(api: API):
    payload = await create_key(api, partner_gid("beanery"))
    assert payload["userErrors"] == []
    raw = payload["apiKey"]
    assert raw.startswith("cpk_")
    assert len(raw) >= 4 + 40  # 256 random bits, url-safe base64
    assert re.fullmatch(r"cpk_[A-Za-z0-9_-]+", raw)
    assert payload["partner"] == {
        "id": partner_gid("beanery"),
        "key": "beanery",
        "name": "The Beanery",
        "currency": "BEAN",
    }

    stored = await sql.rows(
        sql.connection(),
        "SELECT k.key_hash, k.prefix, k.revoked_at, p.key FROM partner_api_key k "
        "JOIN partner p ON p.id = k.partner_id",
    )
    assert stored == [
        {
            "key_hash": hashlib.sha256(raw.encode()).hexdigest(),
            "prefix": raw[:10],
            "revoked_at": None,
            "key": "beanery",
        }
    ]
    secret = raw[len("cpk_") :]
    for value in await every_stored_value():
        text = str(value)
        assert raw not in text
        assert secret not in text

    # A second key is another key; both work.
    second = (await create_key(api, partner_gid("beanery")))["apiKey"]
    assert second != raw
    ana = await api.enroll("ana")
    for key in (raw, second):
        done = await api.purchase(ana, "10", as_={"X-API-Key": key})
        assert done["userErrors"] == []


async def test_a_key_authenticates_as_its_partner(api: API):
    raw = (await create_key(api, partner_gid("skyways")))["apiKey"]
    as_skyways = {"X-API-Key": raw}
    ana = await api.enroll("ana")

    payload = await api.purchase(ana, "200", order_id="SKY-1", as_=as_skyways)
    assert payload["userErrors"] == []
    enrolled = await api.mutate(
        "enrollMember", {"externalId": "bob"}, "member { id }", as_=as_skyways
    )
    assert enrolled["userErrors"] == []

    purchase = await sql.row(
        sql.connection(), "SELECT source FROM purchase WHERE order_id = 'SKY-1'"
    )
    transaction = await sql.row(
        sql.connection(), "SELECT source FROM ledger_transaction WHERE reference = 'SKY-1'"
    )
    bob = await sql.row(sql.connection(), "SELECT source FROM member WHERE external_id = 'bob'")
    assert purchase == transaction == bob == {"source": "partner:skyways"}


async def test_a_wrong_key_is_refused_with_401(api: API):
    raw = (await create_key(api, partner_gid("skyways")))["apiKey"]
    for wrong in (raw + "x", "cpk_" + "A" * 43, raw[:-1]):
        response = await api.post("{ partners { key } }", as_={"X-API-Key": wrong})
        assert response.status_code == 401, wrong


async def test_an_unknown_partner_gets_no_key(api: API):
    counts = await table_counts()
    unknown = await create_key(api, partner_gid("acme"))
    assert unknown["apiKey"] is None
    assert [(e["code"], e["field"]) for e in unknown["userErrors"]] == [("NOT_FOUND", "partnerId")]
    not_a_partner = await create_key(api, "garbage")
    assert not_a_partner["apiKey"] is None
    assert [e["code"] for e in not_a_partner["userErrors"]] == ["INVALID_INPUT"]
    assert await table_counts() == counts


async def test_only_the_operator_creates_keys(api: API):
    await api.enroll("ana")
    beanery = await api.partner("beanery")
    counts = await table_counts()
    for caller in (beanery, api.member("ana"), None):
        refused = await api.mutate(
            "createPartnerApiKey", {"partnerId": partner_gid("beanery")}, CREATE, as_=caller
        )
        assert refused["apiKey"] is None
        assert [e["code"] for e in refused["userErrors"]] == ["FORBIDDEN"]
    assert await table_counts() == counts


# -- account links -----------------------------------------------------------------------------


async def test_a_partner_links_a_member_to_its_own_account_id(api: API):
    ana = await api.enroll("ana")
    beanery = await api.partner("beanery")

    payload = await link(api, {"memberId": ana}, "beanery", "BEAN-CARD-1", as_=beanery)

    assert payload["userErrors"] == []
    assert payload["member"] == {"id": ana, "externalId": "ana"}
    assert payload["partner"] == {"key": "beanery"}
    assert payload["partnerMemberId"] == "BEAN-CARD-1"
    assert await links() == [("beanery", await member_id("ana"), "BEAN-CARD-1")]
    # Having linked, the partner may read the member.
    seen = await api.gql("query($id: ID!) { member(id: $id) { externalId } }", {"id": ana}, beanery)
    assert seen["member"] == {"externalId": "ana"}


async def test_a_link_is_dated_by_the_app_s_clock(api: API):
    clock = api.use_clock()
    clock.set("2026-03-10T10:00:00+00:00")
    await api.enroll("ana")
    assert (await link(api, {"externalId": "ana"}, "skyways", "SKY-77"))["userErrors"] == []
    (row,) = await sql.rows(sql.connection(), "SELECT linked_at FROM partner_link")
    assert sql.to_datetime(row["linked_at"]) == clock.now()


async def test_linking_again_is_idempotent(api: API):
    await api.enroll("ana")
    first = await link(api, {"externalId": "ana"}, "skyways", "SKY-77")
    counts = await table_counts()
    again = await link(api, {"externalId": "ana"}, "skyways", "SKY-77")
    assert again["userErrors"] == []
    assert again == first
    assert await table_counts() == counts
    assert await links() == [("skyways", await member_id("ana"), "SKY-77")]


async def test_relinking_a_member_to_a_new_partner_account_updates_the_link(api: API):
    ana = await api.enroll("ana")
    await link(api, {"memberId": ana}, "skyways", "SKY-1")
    moved = await link(api, {"memberId": ana}, "skyways", "SKY-2")
    assert moved["userErrors"] == []
    assert moved["partnerMemberId"] == "SKY-2"
    assert await links() == [("skyways", await member_id("ana"), "SKY-2")]
    # The old account id is free again.
    bob = await api.enroll("bob")
    taken_over = await link(api, {"memberId": bob}, "skyways", "SKY-1")
    assert taken_over["userErrors"] == []


async def test_a_partner_account_already_linked_to_another_member_is_a_duplicate(api: API):
    ana = await api.enroll("ana")
    bob = await api.enroll("bob")
    await link(api, {"memberId": ana}, "beanery", "CARD-9")
    counts = await table_counts()

    clash = await link(api, {"memberId": bob}, "beanery", "CARD-9")

    assert clash["member"] is None
    assert [(e["code"], e["field"]) for e in clash["userErrors"]] == [
        ("DUPLICATE", "partnerMemberId")
    ]
    assert await table_counts() == counts
    # The same account id at another partner is another account.
    elsewhere = await link(api, {"memberId": bob}, "paper-lantern", "CARD-9")
    assert elsewhere["userErrors"] == []
    assert len(await links()) == 2


async def test_a_partner_links_only_its_own_accounts(api: API):
    ana = await api.enroll("ana")
    beanery = await api.partner("beanery")
    counts = await table_counts()
    refused = await link(api, {"memberId": ana}, "skyways", "SKY-1", as_=beanery)
    assert [e["code"] for e in refused["userErrors"]] == ["FORBIDDEN"]
    as_member = await link(api, {"memberId": ana}, "skyways", "SKY-1", as_=api.member("ana"))
    assert [e["code"] for e in as_member["userErrors"]] == ["FORBIDDEN"]
    assert await table_counts() == counts


async def test_a_malformed_partner_member_id_is_invalid_input(api: API):
    ana = await api.enroll("ana")
    for bad in ("", "has space", "x" * 129, "CARD-1\n"):
        refused = await link(api, {"memberId": ana}, "skyways", bad)
        assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [
            ("INVALID_INPUT", "partnerMemberId")
        ], bad
    assert await links() == []


async def test_linking_an_unknown_member_or_partner_is_not_found(api: API):
    await api.enroll("ana")
    nobody = await link(api, {"externalId": "nobody"}, "skyways", "SKY-1")
    assert [e["code"] for e in nobody["userErrors"]] == ["NOT_FOUND"]
    no_partner = await link(api, {"externalId": "ana"}, "acme", "A-1")
    assert [(e["code"], e["field"]) for e in no_partner["userErrors"]] == [
        ("NOT_FOUND", "partnerId")
    ]
    assert await links() == []


# -- the partners list -------------------------------------------------------------------------


async def test_partners_lists_the_programs_partners_with_their_currencies(api: API):
    data = await api.gql("{ partners { id key name currency } }")
    assert data["partners"] == [
        {
            "id": partner_gid("skyways"),
            "key": "skyways",
            "name": "SkyWays Airlines",
            "currency": "MILE",
        },
        {
            "id": partner_gid("beanery"),
            "key": "beanery",
            "name": "The Beanery",
            "currency": "BEAN",
        },
        {
            "id": partner_gid("paper-lantern"),
            "key": "paper-lantern",
            "name": "Paper Lantern Books",
            "currency": "LEAF",
        },
    ]
    # Each has its database row, for keys and links to point at.
    rows = await sql.rows(sql.connection(), "SELECT key FROM partner ORDER BY key")
    assert [r["key"] for r in rows] == ["beanery", "paper-lantern", "skyways"]
