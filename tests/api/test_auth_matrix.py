"""Who may do what, as one table: every principal against every query and mutation.

The rules are data (QUERY_RULES, MUTATION_RULES): one row per operation, one column per
principal, one expected outcome per cell. Emptying PostgreSQL costs a quarter of a second per
test, so the cells are run one principal's column per test case (`test_queries_as[<who>]`,
`test_mutations_as[<who>]`), each on a freshly built scenario; every cell is still checked
on its own and a failure lists each wrong cell as `<operation> as <who>: expected <outcome>`.
The scenario, built through the API:

- ana enrolled herself (member JWT) with an email, a birthday and a display name; bob too;
- carol holds a valid JWT but never enrolled;
- beanery has dealt with ana (it recorded a 3000 RON purchase for her); skyways has not;
- ana redeemed a coffee (500 points), so she has a redemption and a transaction.

A refused mutation must write nothing (table_counts() before and after) and must not echo
ana's data; a refused query answers null with a FORBIDDEN error and never leaks ana's data
anywhere in the body.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import jwt
import pytest

from schema import ids
from tests.helpers import API, new_key, partner_gid, reward_gid, table_counts


class Outcome(StrEnum):
    ALLOWED = "ALLOWED"  # the operation runs: data for queries, no userErrors for mutations
    FORBIDDEN = "FORBIDDEN"  # query: null + FORBIDDEN error; mutation: FORBIDDEN userError
    NULL = "NULL"  # query answers null without an error (`me` with no member)
    HIDDEN = "HIDDEN"  # the member is readable but this private field is null
    DUPLICATE = "DUPLICATE"  # allowed to try, refused as a duplicate (enrolling twice)


A, F, N, H = Outcome.ALLOWED, Outcome.FORBIDDEN, Outcome.NULL, Outcome.HIDDEN
DUP = Outcome.DUPLICATE
NA = None  # the cell makes no sense for this principal

ANON, ANA, BOB, CAROL, BEANERY, SKYWAYS, ADMIN = (
    "anonymous",
    "ana",
    "bob",
    "carol",
    "beanery",
    "skyways",
    "admin",
)
# The columns of the tables below, in this order.
PRINCIPALS = (ANON, ANA, BOB, CAROL, BEANERY, SKYWAYS, ADMIN)

ANA_NAME = "Ana Zzq-Private-Name"
ANA_EMAIL = "ana.private.zzq@example.com"
ANA_BIRTHDAY = "1991-02-03"
BOB_EMAIL = "bob.private@example.com"
CAROL_EMAIL = "carol.private@example.com"


@dataclass
class Scenario:
    api: API
    headers: dict[str, dict[str, str] | None]
    ana: str  # global ids
    bob: str
    ana_transaction: str
    ana_redemption: str
    ana_voucher: str  # the redemption's code
    ana_referral_code: str

    @property
    def secrets(self) -> tuple[str, ...]:
        """ana's data that no one but ana, the operator and her partners may see."""
        return (ANA_NAME, ANA_EMAIL, ANA_BIRTHDAY, self.ana_voucher, self.ana_referral_code)

    @property
    def private(self) -> tuple[str, ...]:
        """ana's data that even her partners may not see."""
        return (ANA_EMAIL, ANA_BIRTHDAY, self.ana_referral_code)

    def member_id_of(self, principal: str) -> str | None:
        return {ANA: self.ana, BOB: self.bob}.get(principal)


async def enroll_self(api: API, external_id: str, **fields: Any) -> str:
    payload = await api.mutate(
        "enrollMember",
        {"externalId": external_id, **fields},
        "member { id }",
        as_=api.member(external_id),
    )
    assert payload["userErrors"] == [], payload
    return payload["member"]["id"]


async def build_scenario(api: API) -> Scenario:
    beanery = await api.partner("beanery")
    skyways = await api.partner("skyways")
    ana = await enroll_self(
        api, "ana", displayName=ANA_NAME, email=ANA_EMAIL, birthday=ANA_BIRTHDAY
    )
    bob = await enroll_self(api, "bob", displayName="Bob", email=BOB_EMAIL)
    bought = await api.purchase(ana, "3000", "RON", as_=beanery)
    assert bought["userErrors"] == [], bought
    redeemed = await api.mutate(
        "redeemReward",
        {"memberId": ana, "rewardId": reward_gid("coffee"), "idempotencyKey": new_key()},
        "member { referralCode } redemption { id code }",
        as_=api.member("ana"),
    )
    assert redeemed["userErrors"] == [], redeemed
    assert redeemed["member"]["referralCode"], redeemed
    return Scenario(
        api=api,
        headers={
            ANON: None,
            ANA: api.member("ana"),
            BOB: api.member("bob"),
            CAROL: api.member("carol"),
            BEANERY: beanery,
            SKYWAYS: skyways,
            ADMIN: api.admin(),
        },
        ana=ana,
        bob=bob,
        ana_transaction=bought["transaction"]["id"],
        ana_redemption=redeemed["redemption"]["id"],
        ana_voucher=redeemed["redemption"]["code"],
        ana_referral_code=redeemed["member"]["referralCode"],
    )


# -- queries ------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueryOp:
    field: str  # the root field
    query: str
    variables: Callable[[Scenario], dict[str, Any]]
    # Checks the root field's value of an ALLOWED (or HIDDEN) answer.
    check: Callable[[Any, Scenario, str], None]
    private: str | None = None  # the private Member field this row is about


def _is_ana(value: Any, scn: Scenario, principal: str) -> None:
    assert (value or {}).get("id") == scn.ana, value


def _is_node(gid: Callable[[Scenario], str]) -> Callable[[Any, Scenario, str], None]:
    def check(value: Any, scn: Scenario, principal: str) -> None:
        assert (value or {}).get("id") == gid(scn), value

    return check


def _is_self(value: Any, scn: Scenario, principal: str) -> None:
    assert value is not None, value
    assert value["id"] == scn.member_id_of(principal), value
    assert value["externalId"] == principal, value
    # The member itself sees its own private details.
    assert value["email"] == {ANA: ANA_EMAIL, BOB: BOB_EMAIL}[principal], value


def _keys(expected: list[str], path: str | None = None) -> Callable[[Any, Scenario, str], None]:
    def check(value: Any, scn: Scenario, principal: str) -> None:
        items = value[path] if path else value
        assert [item["key"] for item in items] == expected, value

    return check


def _all_members(value: Any, scn: Scenario, principal: str) -> None:
    assert [m["externalId"] for m in value["nodes"]] == ["ana", "bob"], value
    assert value["nodes"][0]["email"] == ANA_EMAIL, value


def _private(name: str, expected: Callable[[Scenario], str]) -> QueryOp:
    def check(value: Any, scn: Scenario, principal: str) -> None:
        assert (value or {}).get("id") == scn.ana, value
        assert value[name] == expected(scn), value

    return QueryOp(
        "member",
        f"query($id: ID) {{ member(id: $id) {{ id displayName {name} }} }}",
        lambda scn: {"id": scn.ana},
        check,
        private=name,
    )


NODE = "query($id: ID!) {{ node(id: $id) {{ id ... on {type} {{ {fields} }} }} }}"

QUERIES: dict[str, QueryOp] = {
    "me": QueryOp("me", "{ me { id externalId email } }", lambda scn: {}, _is_self),
    "member(id)": QueryOp(
        "member",
        "query($id: ID) { member(id: $id) { id externalId displayName balance } }",
        lambda scn: {"id": scn.ana},
        _is_ana,
    ),
    "member(externalId)": QueryOp(
        "member",
        "query($x: String) { member(externalId: $x) { id externalId displayName balance } }",
        lambda scn: {"x": "ana"},
        _is_ana,
    ),
    "members": QueryOp(
        "members",
        "{ members(first: 100) { nodes { id externalId displayName email } } }",
        lambda scn: {},
        _all_members,
    ),
    "node(Member)": QueryOp(
        "node",
        NODE.format(type="Member", fields="externalId displayName balance"),
        lambda scn: {"id": scn.ana},
        _is_ana,
    ),
    "node(PointTransaction)": QueryOp(
        "node",
        NODE.format(type="PointTransaction", fields="kind points balanceAfter description"),
        lambda scn: {"id": scn.ana_transaction},
        _is_node(lambda scn: scn.ana_transaction),
    ),
    "node(Redemption)": QueryOp(
        "node",
        NODE.format(type="Redemption", fields="code status points"),
        lambda scn: {"id": scn.ana_redemption},
        _is_node(lambda scn: scn.ana_redemption),
    ),
    "node(Reward)": QueryOp(
        "node",
        NODE.format(type="Reward", fields="key pointsCost"),
        lambda scn: {"id": reward_gid("coffee")},
        _is_node(lambda scn: reward_gid("coffee")),
    ),
    "node(Tier)": QueryOp(
        "node",
        NODE.format(type="Tier", fields="key threshold"),
        lambda scn: {"id": ids.global_id("Tier", "silver")},
        _is_node(lambda scn: ids.global_id("Tier", "silver")),
    ),
    "node(Partner)": QueryOp(
        "node",
        NODE.format(type="Partner", fields="key name"),
        lambda scn: {"id": partner_gid("skyways")},
        _is_node(lambda scn: partner_gid("skyways")),
    ),
    "tiers": QueryOp(
        "tiers", "{ tiers { key } }", lambda scn: {}, _keys(["bronze", "silver", "gold"])
    ),
    "rewards": QueryOp(
        "rewards",
        "{ rewards(first: 100) { nodes { key } } }",
        lambda scn: {},
        _keys(
            [
                "coffee",
                "discount-10",
                "plant-a-tree",
                "book-voucher",
                "lounge-pass",
                "limited-tote",
            ],
            "nodes",
        ),
    ),
    "partners": QueryOp(
        "partners",
        "{ partners { key } }",
        lambda scn: {},
        _keys(["skyways", "beanery", "paper-lantern"]),
    ),
    "ana.email": _private("email", lambda scn: ANA_EMAIL),
    "ana.birthday": _private("birthday", lambda scn: ANA_BIRTHDAY),
    "ana.referralCode": _private("referralCode", lambda scn: scn.ana_referral_code),
}

# fmt: off
QUERY_RULES: dict[str, tuple[Outcome | None, ...]] = {
    #                          anon ana bob carol beanery skyways admin
    "me":                      (N,  A,  A,  N,    N,      N,      N),
    "member(id)":              (F,  A,  F,  F,    A,      F,      A),
    "member(externalId)":      (F,  A,  F,  F,    A,      F,      A),
    "members":                 (F,  F,  F,  F,    F,      F,      A),
    "node(Member)":            (F,  A,  F,  F,    A,      F,      A),
    "node(PointTransaction)":  (F,  A,  F,  F,    A,      F,      A),
    "node(Redemption)":        (F,  A,  F,  F,    A,      F,      A),
    "node(Reward)":            (A,  A,  A,  A,    A,      A,      A),
    "node(Tier)":              (A,  A,  A,  A,    A,      A,      A),
    "node(Partner)":           (A,  A,  A,  A,    A,      A,      A),
    "tiers":                   (A,  A,  A,  A,    A,      A,      A),
    "rewards":                 (A,  A,  A,  A,    A,      A,      A),
    "partners":                (A,  A,  A,  A,    A,      A,      A),
    "ana.email":               (F,  A,  F,  F,    H,      F,      A),
    "ana.birthday":            (F,  A,  F,  F,    H,      F,      A),
    "ana.referralCode":        (F,  A,  F,  F,    H,      F,      A),
}
# fmt: on


def row_of(rules: dict[str, tuple[Outcome | None, ...]], principal: str) -> list[Any]:
    """The (operation, outcome) cells of one principal's column, in table order."""
    column = PRINCIPALS.index(principal)
    assert all(len(row) == len(PRINCIPALS) for row in rules.values())
    return [(op, row[column]) for op, row in rules.items() if row[column] is not None]


async def check_cells(
    principal: str,
    cells: list[Any],
    check: Callable[[str, Outcome], Awaitable[None]],
) -> None:
    """Runs every cell and reports each wrong one on its own line: `<operation> as <who>`."""
    wrong = []
    for op_name, outcome in cells:
        try:
            await check(op_name, outcome)
        except Exception as error:  # every cell is reported
            detail = f"{type(error).__name__}: {error}".replace("\n", "\n    ")
            wrong.append(f"- {op_name} as {principal}: expected {outcome.value}\n    {detail}")
    if wrong:
        summary = f"{len(wrong)} of {len(cells)} cells wrong:\n" + "\n".join(wrong)
        pytest.fail(summary, pytrace=False)


async def check_query(scn: Scenario, op_name: str, principal: str, outcome: Outcome) -> None:
    op = QUERIES[op_name]
    response = await scn.api.post(op.query, op.variables(scn), as_=scn.headers[principal])
    assert response.status_code == 200, response.text
    body = response.json()
    errors = body.get("errors") or []
    data = body.get("data")
    value = None if data is None else data[op.field]

    if outcome is F:
        assert value is None, body
        assert [e.get("extensions", {}).get("code") for e in errors] == ["FORBIDDEN"], body
        assert errors[0]["path"] == [op.field], body
        if op.field == "members":  # non-null: the null spreads to the whole of data
            assert data is None, body
        leaked = [s for s in scn.secrets if s in response.text]
        assert leaked == [], f"refused, yet the body shows {leaked}: {response.text}"
        return

    assert errors == [], body
    if outcome is N:
        assert value is None, body
    elif outcome is A:
        op.check(value, scn, principal)
    elif outcome is H:
        assert op.private is not None
        assert (value or {}).get("id") == scn.ana, body
        assert value["displayName"] == ANA_NAME, body  # the member itself is readable
        assert value[op.private] is None, body
        leaked = [s for s in scn.private if s in response.text]
        assert leaked == [], f"private details in the body: {leaked}: {response.text}"
    else:
        raise AssertionError(f"no such outcome for a query: {outcome}")


# One test per principal (one scenario each: the suite stays fast on PostgreSQL); a failure
# lists every wrong cell of that principal's column.
@pytest.mark.parametrize("principal", PRINCIPALS)
async def test_queries_as(api: API, principal: str):
    scn = await build_scenario(api)
    await check_cells(
        principal,
        row_of(QUERY_RULES, principal),
        lambda op_name, outcome: check_query(scn, op_name, principal, outcome),
    )


# -- mutations ----------------------------------------------------------------------------

MEMBER_FIELDS = "member { id externalId email birthday referralCode }"


def own_partner(principal: str) -> str:
    return {BEANERY: "beanery", SKYWAYS: "skyways", ADMIN: "paper-lantern"}.get(
        principal, "beanery"
    )


def other_partner(principal: str) -> str:
    return {BEANERY: "skyways", SKYWAYS: "beanery"}.get(principal, "skyways")


def private_seen(principal: str, owner: str, value: str) -> str | None:
    """What a payload shows this principal of `owner`'s private field: only the operator and
    the member itself see it."""
    return value if principal in (ADMIN, owner) else None


@dataclass(frozen=True)
class MutationOp:
    name: str
    input: Callable[[Scenario, str], dict[str, Any]]
    selection: str
    check: Callable[[dict[str, Any], Scenario, str], None]


def _enrolled(external_id: str, email: str) -> Callable[[dict[str, Any], Scenario, str], None]:
    def check(payload: dict[str, Any], scn: Scenario, principal: str) -> None:
        member = payload["member"]
        assert (member or {}).get("externalId") == external_id, payload
        # A partner never sees the email, even of a member it enrolls itself; the operator
        # and the member itself do.
        assert member["email"] == private_seen(principal, external_id, email), payload

    return check


def _enroll_self_input(scn: Scenario, principal: str) -> dict[str, Any]:
    return {
        "externalId": principal,
        "email": {ANA: ANA_EMAIL, BOB: BOB_EMAIL, CAROL: CAROL_EMAIL}[principal],
        "idempotencyKey": new_key(),
    }


def _on_ana(payload: dict[str, Any], scn: Scenario, principal: str) -> None:
    member = payload["member"]
    assert (member or {}).get("id") == scn.ana, payload
    assert member["email"] == private_seen(principal, ANA, ANA_EMAIL), payload
    assert member["referralCode"] == private_seen(principal, ANA, scn.ana_referral_code), payload


def _then(
    *checks: Callable[[dict[str, Any], Scenario, str], None],
) -> Callable[[dict[str, Any], Scenario, str], None]:
    def check(payload: dict[str, Any], scn: Scenario, principal: str) -> None:
        for one in checks:
            one(payload, scn, principal)

    return check


def _expect(path: str, expected: Any) -> Callable[[dict[str, Any], Scenario, str], None]:
    def check(payload: dict[str, Any], scn: Scenario, principal: str) -> None:
        value: Any = payload
        for part in path.split("."):
            value = value[part]
        assert value == expected, (path, payload)

    return check


def _linked(partner_key: Callable[[str], str]) -> Callable[[dict[str, Any], Scenario, str], None]:
    def check(payload: dict[str, Any], scn: Scenario, principal: str) -> None:
        assert payload["partner"]["key"] == partner_key(principal), payload
        assert payload["partnerMemberId"] == f"{principal}-ana", payload

    return _then(_on_ana, check)


def _api_key(payload: dict[str, Any], scn: Scenario, principal: str) -> None:
    assert str(payload["apiKey"]).startswith("cpk_"), payload
    assert payload["partner"]["key"] == "paper-lantern", payload


MUTATIONS: dict[str, MutationOp] = {
    "enrollMember(new externalId)": MutationOp(
        "enrollMember",
        lambda scn, p: {"externalId": "dave", "email": "dave@example.com"},
        MEMBER_FIELDS,
        _enrolled("dave", "dave@example.com"),
    ),
    "enrollMember(own externalId)": MutationOp(
        "enrollMember",
        _enroll_self_input,
        MEMBER_FIELDS,
        _enrolled(CAROL, CAROL_EMAIL),
    ),
    "recordPurchase(ana)": MutationOp(
        "recordPurchase",
        lambda scn, p: {
            "memberId": scn.ana,
            "orderId": new_key(),
            "amount": "100",
            "currency": "RON",
            "idempotencyKey": new_key(),
        },
        f"{MEMBER_FIELDS} purchase {{ points }} transaction {{ id points }}",
        _then(_on_ana, _expect("purchase.points", 100), _expect("transaction.points", 100)),
    ),
    "recordAction(ana)": MutationOp(
        "recordAction",
        lambda scn, p: {"memberId": scn.ana, "action": "REVIEW", "idempotencyKey": new_key()},
        f"{MEMBER_FIELDS} transaction {{ id points }}",
        _then(_on_ana, _expect("transaction.points", 50)),
    ),
    "redeemReward(ana)": MutationOp(
        "redeemReward",
        lambda scn, p: {
            "memberId": scn.ana,
            "rewardId": reward_gid("plant-a-tree"),
            "idempotencyKey": new_key(),
        },
        f"{MEMBER_FIELDS} redemption {{ id points status }} transaction {{ id points }}",
        _then(_on_ana, _expect("redemption.points", 300), _expect("transaction.points", -300)),
    ),
    "cancelRedemption(ana's)": MutationOp(
        "cancelRedemption",
        lambda scn, p: {"redemptionId": scn.ana_redemption, "idempotencyKey": new_key()},
        f"{MEMBER_FIELDS} redemption {{ id code status }} transaction {{ id points }}",
        _then(
            _on_ana, _expect("redemption.status", "CANCELLED"), _expect("transaction.points", 500)
        ),
    ),
    "adjustPoints(ana)": MutationOp(
        "adjustPoints",
        lambda scn, p: {
            "memberId": scn.ana,
            "points": 10,
            "reason": "goodwill",
            "idempotencyKey": new_key(),
        },
        f"{MEMBER_FIELDS} transaction {{ id points }}",
        _then(_on_ana, _expect("transaction.points", 10)),
    ),
    "createPartnerApiKey": MutationOp(
        "createPartnerApiKey",
        lambda scn, p: {"partnerId": partner_gid("paper-lantern")},
        "apiKey partner { key }",
        _api_key,
    ),
    "linkPartnerAccount(own partner)": MutationOp(
        "linkPartnerAccount",
        lambda scn, p: {
            "memberId": scn.ana,
            "partnerId": partner_gid(own_partner(p)),
            "partnerMemberId": f"{p}-ana",
        },
        f"{MEMBER_FIELDS} partner {{ key }} partnerMemberId",
        _linked(own_partner),
    ),
    "linkPartnerAccount(another partner)": MutationOp(
        "linkPartnerAccount",
        lambda scn, p: {
            "memberId": scn.ana,
            "partnerId": partner_gid(other_partner(p)),
            "partnerMemberId": f"{p}-ana",
        },
        f"{MEMBER_FIELDS} partner {{ key }} partnerMemberId",
        _linked(other_partner),
    ),
}

# fmt: off
MUTATION_RULES: dict[str, tuple[Outcome | None, ...]] = {
    #                                       anon ana  bob  carol beanery skyways admin
    "enrollMember(new externalId)":         (F,  F,   F,   F,    A,      A,      A),
    "recordPurchase(ana)":                  (F,  F,   F,   F,    A,      A,      A),
    "recordAction(ana)":                    (F,  F,   F,   F,    A,      A,      A),
    "redeemReward(ana)":                    (F,  A,   F,   F,    F,      F,      A),
    "cancelRedemption(ana's)":              (F,  A,   F,   F,    F,      F,      A),
    "adjustPoints(ana)":                    (F,  F,   F,   F,    F,      F,      A),
    "createPartnerApiKey":                  (F,  F,   F,   F,    F,      F,      A),
    "linkPartnerAccount(own partner)":      (F,  F,   F,   F,    A,      A,      A),
    "linkPartnerAccount(another partner)":  (F,  F,   F,   F,    F,      F,      A),
    # Last: once carol is enrolled she is no longer a member without a member.
    "enrollMember(own externalId)":         (NA, DUP, DUP, A,    NA,     NA,     NA),
}
# fmt: on


async def check_mutation(scn: Scenario, op_name: str, principal: str, outcome: Outcome) -> None:
    op = MUTATIONS[op_name]
    before = await table_counts()
    payload = await scn.api.mutate(
        op.name, op.input(scn, principal), op.selection, as_=scn.headers[principal]
    )
    after = await table_counts()

    if outcome is A:
        assert payload["userErrors"] == [], payload
        op.check(payload, scn, principal)
        assert after != before, "allowed, yet nothing was written"
        return

    assert [e["code"] for e in payload["userErrors"]] == [outcome.value], payload
    assert {k: v for k, v in payload.items() if k != "userErrors" and v is not None} == {}, payload
    changed = {t: (before[t], after[t]) for t in before if before[t] != after[t]}
    assert changed == {}, f"refused, yet rows were written: {changed}"
    text = json.dumps(payload)
    leaked = [s for s in scn.secrets if s in text]
    assert leaked == [], f"refused, yet the payload shows {leaked}: {text}"


# One scenario per principal, its column's mutations in table order. The cells do not depend
# on one another: a refused one writes nothing (checked), and the allowed ones touch
# different things (except carol's own enrollment, which is why it comes last).
@pytest.mark.parametrize("principal", PRINCIPALS)
async def test_mutations_as(api: API, principal: str):
    scn = await build_scenario(api)
    await check_cells(
        principal,
        row_of(MUTATION_RULES, principal),
        lambda op_name, outcome: check_mutation(scn, op_name, principal, outcome),
    )


# -- a partner's reach grows with what it does --------------------------------------------

READ_ANA = "query($id: ID) { member(id: $id) { id displayName email birthday referralCode } }"


async def _partner_reads_ana(scn: Scenario, partner: str) -> dict[str, Any]:
    return await scn.api.result(READ_ANA, {"id": scn.ana}, as_=scn.headers[partner])


def _assert_forbidden(body: dict[str, Any], scn: Scenario) -> None:
    assert body["data"] == {"member": None}, body
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"], body
    text = json.dumps(body)
    assert [s for s in scn.secrets if s in text] == [], body


def _assert_sees_ana_without_private(body: dict[str, Any], scn: Scenario) -> None:
    assert body.get("errors") is None, body
    assert body["data"]["member"] == {
        "id": scn.ana,
        "displayName": ANA_NAME,
        "email": None,
        "birthday": None,
        "referralCode": None,
    }, body


async def test_a_partner_reads_a_member_only_after_linking_them(api: API):
    scn = await build_scenario(api)
    _assert_forbidden(await _partner_reads_ana(scn, SKYWAYS), scn)

    # Vouching for ana under another partner's name is refused and earns skyways nothing.
    refused = await api.mutate(
        "linkPartnerAccount",
        {"memberId": scn.ana, "partnerId": partner_gid("beanery"), "partnerMemberId": "SKY-1"},
        "partnerMemberId",
        as_=scn.headers[SKYWAYS],
    )
    assert [e["code"] for e in refused["userErrors"]] == ["FORBIDDEN"], refused
    _assert_forbidden(await _partner_reads_ana(scn, SKYWAYS), scn)

    linked = await api.mutate(
        "linkPartnerAccount",
        {"memberId": scn.ana, "partnerId": partner_gid("skyways"), "partnerMemberId": "SKY-1"},
        "partnerMemberId",
        as_=scn.headers[SKYWAYS],
    )
    assert linked["userErrors"] == [], linked
    _assert_sees_ana_without_private(await _partner_reads_ana(scn, SKYWAYS), scn)
    # ...but not her dealings with The Beanery (its purchase, her coffee), through node().
    body = await api.result(
        "query($t: ID!, $r: ID!) { t: node(id: $t) { id } r: node(id: $r) { id } }",
        {"t": scn.ana_transaction, "r": scn.ana_redemption},
        as_=scn.headers[SKYWAYS],
    )
    assert body["data"] == {"t": None, "r": None}, body
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN", "FORBIDDEN"]
    # Still not bob, whom skyways has not dealt with.
    body = await api.result(READ_ANA, {"id": scn.bob}, as_=scn.headers[SKYWAYS])
    assert body["data"] == {"member": None}, body
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"], body


@pytest.mark.parametrize("dealing", ["purchase", "action", "link by externalId"])
async def test_a_partner_that_deals_with_a_member_may_read_them(api: API, dealing: str):
    scn = await build_scenario(api)
    skyways = scn.headers[SKYWAYS]
    _assert_forbidden(await _partner_reads_ana(scn, SKYWAYS), scn)
    if dealing == "purchase":
        done = await api.purchase(scn.ana, "10", "EUR", as_=skyways)
    elif dealing == "action":
        done = await api.mutate(
            "recordAction",
            {"externalId": "ana", "action": "SURVEY", "idempotencyKey": new_key()},
            "transaction { id }",
            as_=skyways,
        )
    else:
        done = await api.mutate(
            "linkPartnerAccount",
            {"externalId": "ana", "partnerId": partner_gid("skyways"), "partnerMemberId": "S-9"},
            "partnerMemberId",
            as_=skyways,
        )
    assert done["userErrors"] == [], done
    _assert_sees_ana_without_private(await _partner_reads_ana(scn, SKYWAYS), scn)
    # Another partner's dealings do not widen beanery's or skyways' view of bob.
    for partner in (BEANERY, SKYWAYS):
        body = await api.result(READ_ANA, {"id": scn.bob}, as_=scn.headers[partner])
        assert body["data"] == {"member": None}, (partner, body)


async def test_a_partner_may_read_the_members_it_enrolled(api: API):
    scn = await build_scenario(api)
    dave = await api.enroll("dave", as_=scn.headers[SKYWAYS], email="dave@example.com")
    body = await api.result(
        "query($id: ID) { member(id: $id) { externalId email } }",
        {"id": dave},
        as_=scn.headers[SKYWAYS],
    )
    assert body.get("errors") is None, body
    assert body["data"]["member"] == {"externalId": "dave", "email": None}
    body = await api.result(
        "query($id: ID) { member(id: $id) { externalId } }", {"id": dave}, as_=scn.headers[BEANERY]
    )
    assert body["data"] == {"member": None}, body
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"], body


# -- bad credentials are a 401, never anonymous access ------------------------------------

OTHER_SECRET = "another-secret-that-is-also-long-enough-for-hs256"


def _token(secret: str, **claims: Any) -> str:
    now = int(time.time())
    body = {"sub": "ana", "iat": now, "exp": now + 3600, **claims}
    return jwt.encode(body, secret, algorithm="HS256")


def _bad_credentials(api: API, case: str) -> dict[str, str]:
    secret = api.settings.jwt_secret
    now = int(time.time())
    return {
        "unknown partner key": {"X-API-Key": "cpk_" + "x" * 43},
        "unknown key without prefix": {"X-API-Key": "not-a-key"},
        "JWT signed with another secret": {"Authorization": f"Bearer {_token(OTHER_SECRET)}"},
        "expired JWT": {
            "Authorization": f"Bearer {_token(secret, iat=now - 7200, exp=now - 3600)}"
        },
        "JWT without sub": {
            "Authorization": "Bearer "
            + jwt.encode({"iat": now, "exp": now + 3600}, secret, algorithm="HS256")
        },
        "unsigned JWT (alg none)": {
            "Authorization": "Bearer "
            + jwt.encode({"sub": "ana", "exp": now + 3600}, None, algorithm="none")
        },
        "Bearer without token": {"Authorization": "Bearer"},
        "Bearer and a space": {"Authorization": "Bearer "},
        "another scheme": {"Authorization": f"Basic {_token(secret)}"},
        "both X-API-Key and Authorization": {
            "X-API-Key": api.settings.admin_api_key,
            "Authorization": f"Bearer {_token(secret)}",
        },
    }[case]


BAD_CREDENTIALS = [
    "unknown partner key",
    "unknown key without prefix",
    "JWT signed with another secret",
    "expired JWT",
    "JWT without sub",
    "unsigned JWT (alg none)",
    "Bearer without token",
    "Bearer and a space",
    "another scheme",
    "both X-API-Key and Authorization",
]


@pytest.mark.parametrize("case", BAD_CREDENTIALS)
async def test_bad_credentials_get_401_even_for_public_data_and_write_nothing(api: API, case: str):
    headers = _bad_credentials(api, case)
    response = await api.post("{ tiers { key } }", as_=headers)
    assert response.status_code == 401, (response.status_code, response.text)

    ana = await api.enroll("ana")
    before = await table_counts()
    response = await api.post(
        "mutation($i: RecordPurchaseInput!) { recordPurchase(input: $i) { userErrors { code } } }",
        {
            "i": {
                "memberId": ana,
                "orderId": "X-1",
                "amount": "100",
                "currency": "RON",
                "idempotencyKey": new_key(),
            }
        },
        as_=headers,
    )
    assert response.status_code == 401, (response.status_code, response.text)
    assert await table_counts() == before
    assert await api.balance(ana) == 0
