"""Bad values in every mutation input: each is a typed userError naming the field (or a 400 for
a GraphQL type error), never a 500 or an INTERNAL error, and nothing at all is written."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from app.asgi import create_app
from app.runtime import Runtime, prepare, read_program
from app.settings import Settings
from domain import sql
from schema import ids
from tests.conftest import _empty as empty_stores
from tests.helpers import (
    API,
    BASE_PROGRAM,
    WRITTEN_TABLES,
    Stores,
    assert_ledger_consistent,
    member_gid,
    new_key,
    partner_gid,
    reward_gid,
    table_counts,
)

INVALID = "INVALID_INPUT"
NOT_FOUND = "NOT_FOUND"
# Expected: a GraphQL variable coercion error, not a userError: INVALID_INPUT with no data, a 400
# in application/graphql-response+json (which these requests accept).
BAD_REQUEST = None
DROP = object()  # removes the field from the valid input
CHANGED = object()  # the expected userError's field is the (first) field the case changes

BIG = "x" * 100_000  # 100 kB: far over every limit, far under the 1 MiB body limit

SELECTIONS = {
    "enrollMember": "member { id }",
    "recordPurchase": "member { id balance } purchase { id points } transaction { id points }",
    "recordAction": "member { id balance } transaction { id points }",
    "redeemReward": "member { id balance } redemption { id } transaction { id points }",
    "cancelRedemption": "member { id balance } redemption { id } transaction { id points }",
    "adjustPoints": "member { id balance } transaction { id points }",
    "createPartnerApiKey": "apiKey partner { id }",
    "linkPartnerAccount": "member { id } partner { id } partnerMemberId",
}


@dataclass(frozen=True)
class World:
    """What every case starts from: ana (member 1) with 2500 points and one coffee redeemed."""

    ana: str
    redemption: str


async def build_world(api: API) -> World:
    ana = await api.enroll("ana", displayName="Ana", email="ana@example.com")
    assert (await api.adjust(ana, 3000))["userErrors"] == []
    redeemed = await api.redeem("coffee", member_id=ana)
    assert redeemed["userErrors"] == []
    assert ids.parse_global_id(ana) == ("Member", "1")
    return World(ana=ana, redemption=redeemed["redemption"]["id"])


@pytest.fixture
async def world(api: API) -> World:
    """A world of its own, for tests that write."""
    return await build_world(api)


@dataclass
class Shared:
    api: API
    world: World
    counts: dict[str, int]
    balances: dict[int, int]


async def _fingerprint() -> tuple[object, ...]:
    """Two queries that tell whether the database still holds the shared world exactly."""
    conn = sql.connection()
    counts = await sql.row(
        conn, "SELECT " + ", ".join(f"(SELECT COUNT(*) FROM {t}) AS {t}" for t in WRITTEN_TABLES)
    )
    assert counts is not None
    accounts = await sql.rows(
        conn,
        "SELECT a.id, a.balance, a.pending, m.id AS member, m.external_id FROM account a "
        "LEFT JOIN member m ON m.account_id = a.id ORDER BY a.id",
    )
    return tuple(int(counts[t]) for t in WRITTEN_TABLES), tuple(tuple(a.values()) for a in accounts)


_built: dict[str, tuple[Shared, tuple[object, ...]]] = {}


@pytest.fixture
async def shared(stores: Stores, settings: Settings) -> AsyncIterator[Shared]:
    """The world the refusal cases share. Refusals write nothing, so it is built once per
    backend and reused for as long as the database still holds exactly it; a case that did
    write (or a test of another module) makes the next case build it afresh."""
    runtime = Runtime(stores.program, stores.redis)
    app = create_app(settings, runtime)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://coalition.test") as client:
        api = API(client, settings, stores, runtime)
        built = _built.get(stores.backend)
        if built is None or await _fingerprint() != built[1]:
            await empty_stores(stores)
            stores.program = runtime.program = await prepare(read_program(BASE_PROGRAM))
            world = await build_world(api)
            state = Shared(api, world, await table_counts(), await assert_ledger_consistent())
            built = _built[stores.backend] = (state, await _fingerprint())
        yield Shared(api, built[0].world, built[0].counts, built[0].balances)


def valid_input(name: str, world: World) -> dict[str, Any]:
    """An input the API accepts; each case spoils one part of it."""
    return {
        "enrollMember": lambda: {
            "externalId": "bob",
            "displayName": "Bob",
            "email": "bob@example.com",
            "birthday": "1990-05-01",
            "idempotencyKey": new_key(),
        },
        "recordPurchase": lambda: {
            "memberId": world.ana,
            "orderId": new_key(),
            "amount": "100",
            "currency": "RON",
            "shipping": "5",
            "tax": "15",
            # 2 x 47.50 and 5 of shipping are the 100 paid (the prices include the tax).
            "lines": [{"sku": "LATTE", "category": "coffee", "quantity": 2, "unitPrice": "47.50"}],
            "occurredAt": datetime.now(UTC).isoformat(),
            "idempotencyKey": new_key(),
        },
        "recordAction": lambda: {
            "memberId": world.ana,
            "action": "REVIEW",
            "reference": "review-1",
            "idempotencyKey": new_key(),
        },
        "redeemReward": lambda: {
            "memberId": world.ana,
            "rewardId": reward_gid("plant-a-tree"),
            "idempotencyKey": new_key(),
        },
        "cancelRedemption": lambda: {
            "redemptionId": world.redemption,
            "idempotencyKey": new_key(),
        },
        "adjustPoints": lambda: {
            "memberId": world.ana,
            "points": 10,
            "reason": "goodwill",
            "idempotencyKey": new_key(),
        },
        "createPartnerApiKey": lambda: {"partnerId": partner_gid("beanery")},
        "linkPartnerAccount": lambda: {
            "memberId": world.ana,
            "partnerId": partner_gid("beanery"),
            "partnerMemberId": "BEAN-7",
        },
    }[name]()


async def send(api: API, name: str, input: dict[str, Any]) -> httpx.Response:
    """As the operator. The body is encoded here (ASCII escapes, NaN allowed) so that any
    string, lone surrogates included, reaches the server as the JSON a client could send."""
    input_type = name[0].upper() + name[1:] + "Input"
    query = (
        f"mutation($i: {input_type}!) {{ {name}(input: $i) {{ {SELECTIONS[name]} "
        "userErrors { code field message } } }"
    )
    return await api.client.post(
        "/graphql",
        content=json.dumps({"query": query, "variables": {"i": input}}),
        headers={
            "content-type": "application/json",
            "accept": "application/graphql-response+json",
            **api.admin(),
        },
    )


def spoil(base: dict[str, Any], changes: dict[str, Any], world: World) -> dict[str, Any]:
    spoilt = dict(base)
    for field, value in changes.items():
        if callable(value):
            value = value(world)
        if value is DROP:
            spoilt.pop(field, None)
        else:
            spoilt[field] = value
    return spoilt


async def assert_refused(
    shared: Shared,
    caplog: pytest.LogCaptureFixture,
    name: str,
    changes: dict[str, Any],
    code: str | tuple[str, ...] | None,
    field: str | None,
) -> None:
    """`shared` has just checked that the database holds its world, counts and balances."""
    caplog.set_level(logging.ERROR)
    world = shared.world

    response = await send(shared.api, name, spoil(valid_input(name, world), changes, world))

    body = response.json()
    if code is BAD_REQUEST:
        assert response.status_code == 400, (response.status_code, body)
        assert "data" not in body, body
        assert body["errors"], body
        assert {e.get("extensions", {}).get("code") for e in body["errors"]} == {INVALID}, body
    else:
        assert response.status_code == 200, (response.status_code, body)
        assert body.get("errors") is None, body  # no INTERNAL (or any) top-level error
        payload = body["data"][name]
        errors = payload.pop("userErrors")
        assert errors, f"accepted: {payload}"
        assert len(errors) == 1, errors
        codes = code if isinstance(code, tuple) else (code,)
        assert errors[0]["code"] in codes, errors
        assert errors[0]["field"] == field, errors
        assert errors[0]["message"].strip()
        assert all(value is None for value in payload.values()), payload
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert await table_counts() == shared.counts, "a refused request wrote something"
    assert await assert_ledger_consistent() == shared.balances


def case(
    id: str,
    changes: dict[str, Any],
    code: str | tuple[str, ...] | None = INVALID,
    field: object = CHANGED,
) -> Any:
    if field is CHANGED:
        field = None if code is BAD_REQUEST else next(iter(changes))
    return pytest.param(changes, code, field, id=id)


def soon(**delta: float) -> Callable[[World], str]:
    """A timestamp worked out when the case runs, not when the module is imported."""
    return lambda _: (datetime.now(UTC) + timedelta(**delta)).isoformat()


def line(**changes: Any) -> list[dict[str, Any]]:
    return [{"sku": "LATTE", "category": "coffee", "quantity": 1, "unitPrice": "10", **changes}]


# ARABIC-INDIC DIGIT ONE: str.isdigit() says yes and int() reads it as 1, ana's id.
ANA_BY_ARABIC_DIGIT = ids.global_id("Member", "\u0661")
SUPERSCRIPT_TWO = "\u00b2"  # "²": str.isdigit() says yes, int() says no

MEMBER_ID_CASES = [
    case("memberId unknown", {"memberId": member_gid(999_999)}, NOT_FOUND),
    case("memberId abc", {"memberId": "abc"}),
    case("memberId empty", {"memberId": ""}),
    case("memberId a Reward id", {"memberId": reward_gid("coffee")}),
    case("memberId non-numeric key", {"memberId": ids.global_id("Member", "ana")}),
    case("memberId negative key", {"memberId": ids.global_id("Member", "-1")}),
    case("memberId 19 digits", {"memberId": ids.global_id("Member", "9" * 19)}),
    case("memberId superscript digit", {"memberId": ids.global_id("Member", SUPERSCRIPT_TWO)}),
    case("memberId arabic-indic digit", {"memberId": ANA_BY_ARABIC_DIGIT}),
    case("memberId 100kB", {"memberId": BIG}),
]

IDEMPOTENCY_KEY_CASES = [
    case("idempotencyKey empty", {"idempotencyKey": ""}),
    case("idempotencyKey with spaces", {"idempotencyKey": "till 7 order 1"}),
    case("idempotencyKey 256 chars", {"idempotencyKey": "k" * 256}),
    case("idempotencyKey 100kB", {"idempotencyKey": BIG}),
    case("idempotencyKey trailing newline", {"idempotencyKey": "till-7\n"}),
    case("idempotencyKey non-ascii", {"idempotencyKey": "cheie-\u0219"}),
    case("idempotencyKey number", {"idempotencyKey": 42}, BAD_REQUEST),
]

AMOUNT_CASES = [
    case(
        f"amount {value!r}" if len(value) < 20 else f"amount of {len(value)} digits",
        {"amount": value},
    )
    for value in [
        "-5",
        "0",
        "0.00",
        "-0",
        "1e40",
        "1E5",
        "NaN",
        "Infinity",
        "-Infinity",
        "abc",
        "",
        " ",
        "12.345678",
        "1,50",
        "1.5.0",
        "12.",
        ".5",
        "+5",
        "0x10",
        "1_000",
        "5 5",
        "\u0661\u0662",  # Arabic-Indic digits
        "\uff11\uff12",  # full-width digits
        "9" * 13,
        "1" + "0" * 40,
        "9" * 100_000,
    ]
] + [
    # A Decimal is a JSON string: any other JSON value is refused before anything runs.
    case("amount JSON 1e40", {"amount": 1e40}, BAD_REQUEST),
    case("amount JSON 10**40", {"amount": 10**40}, BAD_REQUEST),
    case("amount JSON -5", {"amount": -5}, BAD_REQUEST),
    case("amount JSON 0", {"amount": 0}, BAD_REQUEST),
    case("amount JSON 12.5", {"amount": 12.5}, BAD_REQUEST),
    case("amount JSON 100", {"amount": 100}, BAD_REQUEST),
    case("amount JSON 12.345678", {"amount": 12.345678}, BAD_REQUEST),
    case("amount JSON true", {"amount": True}, BAD_REQUEST),
    case("amount JSON list", {"amount": ["100"]}, BAD_REQUEST),
    case("amount JSON object", {"amount": {"value": "100"}}, BAD_REQUEST),
    case("shipping JSON 5", {"shipping": 5}, BAD_REQUEST),
    case("tax JSON 15.0", {"tax": 15.0}, BAD_REQUEST),
    case("lines unitPrice JSON 47.5", {"lines": line(unitPrice=47.5)}, BAD_REQUEST),
]

PURCHASE_CASES = [
    *AMOUNT_CASES,
    # Well-formed amounts whose points (2**31 and ~1.5e11) no GraphQL Int can carry: the API
    # could never show the member's balance again, so the purchase must be refused.
    case(
        "amount earning 2**31 points",
        {"amount": "2147483648", "shipping": DROP, "tax": DROP, "lines": DROP},
        (INVALID, "LIMIT_EXCEEDED"),
        "amount",
    ),
    case(
        "amount at its largest",
        {
            "amount": "999999999999.9999",
            "currency": "TRY",
            "shipping": DROP,
            "tax": DROP,
            "lines": DROP,
        },
        (INVALID, "LIMIT_EXCEEDED"),
        "amount",
    ),
    case("shipping negative", {"shipping": "-1"}),
    case("shipping abc", {"shipping": "abc"}),
    case("shipping 1e2", {"shipping": "1e2"}),
    case("shipping empty", {"shipping": ""}),
    case("shipping over amount", {"shipping": "101", "tax": DROP}, field="amount"),
    case("tax negative", {"tax": "-0.01"}),
    case("tax NaN", {"tax": "NaN"}),
    case("tax over amount", {"tax": "100.01", "shipping": DROP}, field="amount"),
    case("shipping plus tax over amount", {"shipping": "60", "tax": "40.01"}, field="amount"),
    case("currency usd", {"currency": "usd"}),
    case("currency XXX", {"currency": "XXX"}),
    case("currency GBP (not in the program)", {"currency": "GBP"}),
    case("currency empty", {"currency": ""}),
    case("currency EURO", {"currency": "EURO"}),
    case("currency padded", {"currency": " RON"}),
    case("currency trailing newline", {"currency": "RON\n"}),
    case("currency number", {"currency": 946}, BAD_REQUEST),
    case("currency null", {"currency": None}, BAD_REQUEST),
    case("orderId empty", {"orderId": ""}),
    case("orderId whitespace", {"orderId": "   "}),
    case("orderId 129 chars", {"orderId": "o" * 129}),
    case("orderId 100kB", {"orderId": BIG}),
    case("orderId NUL", {"orderId": "A-\x00-1"}),
    case("orderId lone surrogate", {"orderId": "A-\ud800"}),
    case("orderId null", {"orderId": None}, BAD_REQUEST),
    case("lines quantity 0", {"lines": line(quantity=0)}, field="lines[0].quantity"),
    case("lines quantity -1", {"lines": line(quantity=-1)}, field="lines[0].quantity"),
    case("lines quantity 10**7", {"lines": line(quantity=10**7)}, field="lines[0].quantity"),
    case("lines quantity 2**31", {"lines": line(quantity=2**31)}, BAD_REQUEST),
    case("lines quantity 1.5", {"lines": line(quantity=1.5)}, BAD_REQUEST),
    case("lines quantity '2'", {"lines": line(quantity="2")}, BAD_REQUEST),
    case("lines unitPrice -1", {"lines": line(unitPrice="-1")}, field="lines[0].unitPrice"),
    case("lines unitPrice abc", {"lines": line(unitPrice="abc")}, field="lines[0].unitPrice"),
    case("lines sku 101 chars", {"lines": line(sku="s" * 101)}, field="lines[0].sku"),
    case("lines sku empty", {"lines": line(sku="")}, field="lines[0].sku"),
    case("lines sku NUL", {"lines": line(sku="LAT\x00TE")}, field="lines[0].sku"),
    case("lines sku 100kB", {"lines": line(sku=BIG)}, field="lines[0].sku"),
    case("lines category 101", {"lines": line(category="c" * 101)}, field="lines[0].category"),
    case(
        "lines second line bad",
        {"lines": line() + line(quantity=0)},
        field="lines[1].quantity",
    ),
    case("lines 501 of them", {"lines": line() * 501}),
    case("occurredAt in a day", {"occurredAt": soon(days=1)}),
    case("occurredAt in 11 minutes", {"occurredAt": soon(minutes=11)}),
    case("occurredAt year 9999", {"occurredAt": "9999-12-31T23:59:59-14:00"}),
    case("occurredAt year 1, east of UTC", {"occurredAt": "0001-01-01T00:00:00+14:00"}),
    case("occurredAt without timezone", {"occurredAt": "2024-05-01T10:00:00"}),
    case("occurredAt date only", {"occurredAt": "2024-05-01"}),
    case("occurredAt garbage", {"occurredAt": "yesterday"}, BAD_REQUEST),
    case("occurredAt month 13", {"occurredAt": "2024-13-01T00:00:00Z"}, BAD_REQUEST),
    case("occurredAt number", {"occurredAt": 1714557600}, BAD_REQUEST),
    *MEMBER_ID_CASES,
    case("externalId unknown", {"memberId": DROP, "externalId": "nobody"}, NOT_FOUND, "externalId"),
    case("externalId with space", {"memberId": DROP, "externalId": "an a"}, field="externalId"),
    case("externalId empty", {"memberId": DROP, "externalId": ""}, field="externalId"),
    case("externalId 100kB", {"memberId": DROP, "externalId": BIG}, field="externalId"),
    case("neither memberId nor externalId", {"memberId": DROP}, field="memberId"),
    *IDEMPOTENCY_KEY_CASES,
]


@pytest.mark.parametrize(("changes", "code", "field"), PURCHASE_CASES)
async def test_record_purchase_refuses(shared, caplog, changes, code, field):
    await assert_refused(shared, caplog, "recordPurchase", changes, code, field)


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        case("action unknown", {"action": "UNKNOWN"}),
        case("action lowercase", {"action": "review"}),
        case("action empty", {"action": ""}),
        case("action 100kB", {"action": BIG}),
        case("action null", {"action": None}, BAD_REQUEST),
        case("reference 201 chars", {"reference": "r" * 201}),
        case("reference empty", {"reference": ""}),
        case("reference whitespace", {"reference": "  "}),
        case("reference 100kB", {"reference": BIG}),
        case("reference NUL", {"reference": "review\x00-1"}),
        case("reference number", {"reference": 7}, BAD_REQUEST),
        *MEMBER_ID_CASES,
        case(
            "externalId unknown",
            {"memberId": DROP, "externalId": "nobody"},
            NOT_FOUND,
            "externalId",
        ),
        case(
            "externalId 129 chars", {"memberId": DROP, "externalId": "e" * 129}, field="externalId"
        ),
        case("neither memberId nor externalId", {"memberId": DROP}, field="memberId"),
        *IDEMPOTENCY_KEY_CASES,
    ],
)
async def test_record_action_refuses(shared, caplog, changes, code, field):
    await assert_refused(shared, caplog, "recordAction", changes, code, field)


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        case("rewardId unknown", {"rewardId": reward_gid("yacht")}, NOT_FOUND),
        case("rewardId abc", {"rewardId": "abc"}),
        case("rewardId empty", {"rewardId": ""}),
        case("rewardId a Member id", {"rewardId": member_gid(1)}),
        case("rewardId empty key", {"rewardId": ids.global_id("Reward", "")}),
        case("rewardId 100kB", {"rewardId": BIG}),
        case("rewardId null", {"rewardId": None}, BAD_REQUEST),
        *MEMBER_ID_CASES,
        *IDEMPOTENCY_KEY_CASES,
    ],
)
async def test_redeem_reward_refuses(shared, caplog, changes, code, field):
    await assert_refused(shared, caplog, "redeemReward", changes, code, field)


def redemption_gid(key: object) -> str:
    return ids.global_id("Redemption", key)


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        case("redemptionId unknown", {"redemptionId": redemption_gid(999_999)}, NOT_FOUND),
        case("redemptionId abc", {"redemptionId": "abc"}),
        case("redemptionId empty", {"redemptionId": ""}),
        case("redemptionId a Member id", {"redemptionId": member_gid(1)}),
        case("redemptionId non-numeric", {"redemptionId": redemption_gid("first")}),
        case("redemptionId 19 digits", {"redemptionId": redemption_gid("9" * 19)}),
        case("redemptionId superscript", {"redemptionId": redemption_gid(SUPERSCRIPT_TWO)}),
        case("redemptionId 100kB", {"redemptionId": BIG}),
        *IDEMPOTENCY_KEY_CASES,
    ],
)
async def test_cancel_redemption_refuses(shared, caplog, changes, code, field):
    await assert_refused(shared, caplog, "cancelRedemption", changes, code, field)


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        case("points 0", {"points": 0}),
        case("points 10**9+1", {"points": 10**9 + 1}),
        case("points -(10**9+1)", {"points": -(10**9 + 1)}),
        case("points 2**31", {"points": 2**31}, BAD_REQUEST),
        case("points -(2**31)-1", {"points": -(2**31) - 1}, BAD_REQUEST),
        case("points 1.5", {"points": 1.5}, BAD_REQUEST),
        case("points '10'", {"points": "10"}, BAD_REQUEST),
        case("points null", {"points": None}, BAD_REQUEST),
        case("points more than the balance", {"points": -2501}, "INSUFFICIENT_POINTS", None),
        case("reason empty", {"reason": ""}),
        case("reason whitespace", {"reason": " \t "}),
        case("reason 501 chars", {"reason": "r" * 501}),
        case("reason 100kB", {"reason": BIG}),
        case("reason NUL", {"reason": "typo\x00"}),
        *MEMBER_ID_CASES,
        *IDEMPOTENCY_KEY_CASES,
    ],
)
async def test_adjust_points_refuses(shared, caplog, changes, code, field):
    await assert_refused(shared, caplog, "adjustPoints", changes, code, field)


def days_from_today(days: int) -> Callable[[World], str]:
    return lambda _: (date.today() + timedelta(days=days)).isoformat()


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        case("externalId empty", {"externalId": ""}),
        case("externalId with a space", {"externalId": "bo b"}),
        case("externalId 129 chars", {"externalId": "b" * 129}),
        case("externalId 100kB", {"externalId": BIG}),
        case("externalId NUL", {"externalId": "bob\x00"}),
        case("externalId control char", {"externalId": "b\x01ob"}),
        case("externalId DEL", {"externalId": "bob\x7f"}),
        case("externalId tab", {"externalId": "\tbob"}),
        case("externalId trailing newline", {"externalId": "bob\n"}),
        case("externalId no-break space", {"externalId": "bo\u00a0b"}),
        case("externalId lone surrogate", {"externalId": "bob\udfff"}),
        case("externalId null", {"externalId": None}, BAD_REQUEST),
        case("externalId already enrolled", {"externalId": "ana"}, "DUPLICATE"),
        case("displayName 201 chars", {"displayName": "d" * 201}),
        case("displayName 100kB", {"displayName": BIG}),
        case("displayName NUL", {"displayName": "Bob\x00"}),
        case("email not-an-email", {"email": "not-an-email"}),
        case("email no domain dot", {"email": "bob@example"}),
        case("email with a space", {"email": "b ob@example.com"}),
        case("email two @", {"email": "bob@@example.com"}),
        case("email 255 chars", {"email": "b" * 64 + "@" + "e" * 186 + ".com"}),
        case("email trailing newline", {"email": "bob@example.com\n"}),
        case("email NUL", {"email": "bob\x00@example.com"}),
        case("email 100kB", {"email": BIG}),
        case("birthday in the future", {"birthday": days_from_today(2)}),
        case("birthday 1850-01-01", {"birthday": "1850-01-01"}),
        case("birthday 2020-02-30", {"birthday": "2020-02-30"}, BAD_REQUEST),
        case("birthday not a date", {"birthday": "May 1st"}, BAD_REQUEST),
        case("birthday with a time", {"birthday": "1990-05-01T00:00:00"}, BAD_REQUEST),
        case("referralCode of nobody", {"referralCode": "ZZZZZZZZZZ"}, NOT_FOUND),
        case("referralCode punctuation", {"referralCode": "!!!!"}),
        case("referralCode empty", {"referralCode": ""}),
        case("referralCode too short", {"referralCode": "AB1"}),
        case("referralCode 17 chars", {"referralCode": "A" * 17}),
        case("referralCode 100kB", {"referralCode": BIG}),
        case("idempotencyKey empty", {"idempotencyKey": ""}),
        case("idempotencyKey with spaces", {"idempotencyKey": "enroll bob"}),
        case("idempotencyKey 256 chars", {"idempotencyKey": "k" * 256}),
    ],
)
async def test_enroll_member_refuses(shared, caplog, changes, code, field):
    await assert_refused(shared, caplog, "enrollMember", changes, code, field)


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        case("partnerId unknown", {"partnerId": partner_gid("acme")}, NOT_FOUND),
        case("partnerId abc", {"partnerId": "abc"}),
        case("partnerId a Reward id", {"partnerId": reward_gid("coffee")}),
        case("partnerId 100kB", {"partnerId": BIG}),
    ],
)
async def test_create_partner_api_key_refuses(shared, caplog, changes, code, field):
    await assert_refused(shared, caplog, "createPartnerApiKey", changes, code, field)


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        case("partnerId unknown", {"partnerId": partner_gid("acme")}, NOT_FOUND),
        case("partnerId abc", {"partnerId": "abc"}),
        case("partnerMemberId empty", {"partnerMemberId": ""}),
        case("partnerMemberId with a space", {"partnerMemberId": "BEAN 7"}),
        case("partnerMemberId 129 chars", {"partnerMemberId": "p" * 129}),
        case("partnerMemberId 100kB", {"partnerMemberId": BIG}),
        case("partnerMemberId NUL", {"partnerMemberId": "BEAN\x00"}),
        case("partnerMemberId trailing newline", {"partnerMemberId": "BEAN-7\n"}),
        *MEMBER_ID_CASES,
        case(
            "externalId unknown",
            {"memberId": DROP, "externalId": "nobody"},
            NOT_FOUND,
            "externalId",
        ),
        case("neither memberId nor externalId", {"memberId": DROP}, field="memberId"),
    ],
)
async def test_link_partner_account_refuses(shared, caplog, changes, code, field):
    await assert_refused(shared, caplog, "linkPartnerAccount", changes, code, field)


# -- the controls: what the cases spoil is accepted as it is ---------------------------------


@pytest.mark.parametrize("name", list(SELECTIONS))
async def test_the_valid_input_every_case_starts_from_is_accepted(api, world, name):
    counts = await table_counts()
    response = await send(api, name, valid_input(name, world))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body.get("errors") is None, body
    assert body["data"][name]["userErrors"] == []
    assert await table_counts() != counts
    await assert_ledger_consistent()


async def test_the_limits_themselves_are_accepted(api, world):
    """The longest values the rules allow get through (so the refusals above are the limits,
    not something stricter), and the database keeps them whole."""
    payload = await api.purchase(
        world.ana,
        "12345.6789",
        "TRY",
        order_id="o" * 128,
        key="k" * 255,
        lines=[
            {"sku": "s" * 100, "category": "c" * 100, "quantity": 10**6, "unitPrice": "0.0123"},
            {"sku": "REST", "quantity": 1, "unitPrice": "45.6789"},
        ],
        occurredAt=(datetime.now(UTC) + timedelta(minutes=5)).isoformat(),
    )
    assert payload["userErrors"] == [], payload
    member = await api.mutate(
        "enrollMember",
        {
            "externalId": "b" * 128,
            "displayName": "d" * 200,
            "email": "b" * 64 + "@" + "e" * 185 + ".com",
            "birthday": "1900-01-01",
        },
        "member { externalId displayName email birthday }",
        as_=api.admin(),
    )
    assert member["userErrors"] == [], member
    assert member["member"] == {
        "externalId": "b" * 128,
        "displayName": "d" * 200,
        "email": "b" * 64 + "@" + "e" * 185 + ".com",
        "birthday": "1900-01-01",
    }
    adjusted = await api.adjust(world.ana, -2500, reason="r" * 500)
    assert adjusted["userErrors"] == [], adjusted
    action = await api.mutate(
        "recordAction",
        {
            "memberId": world.ana,
            "action": "SURVEY",
            "reference": "r" * 200,
            "idempotencyKey": new_key(),
        },
        "transaction { reference }",
        as_=api.admin(),
    )
    assert action["userErrors"] == [], action
    assert action["transaction"]["reference"] == "r" * 200
    await assert_ledger_consistent()
