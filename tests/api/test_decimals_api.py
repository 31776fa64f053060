"""Decimals through the API: money comes out in its currency's minor units, and goes in only as
a JSON string. A number is refused (INVALID_INPUT, a 400) whether it comes in the variables or
is written in the document, and nothing is written."""

from __future__ import annotations

from typing import Any

import pytest

from domain.money import minor_units
from schema.http_errors import GRAPHQL_RESPONSE
from tests.helpers import API, BASE_PROGRAM, new_key, table_counts

PURCHASE_FIELDS = "purchase { id amount currency eligibleAmount refundedAmount points }"

# The base program, earning on yen and dinars too (0 and 3 decimals).
WITH_YEN = BASE_PROGRAM.read_text().replace(
    'rates = { RON = 1, EUR = 5, USD = "4.5", PLN = "1.2", TRY = "0.15" }',
    'rates = { RON = 1, EUR = 5, USD = "4.5", PLN = "1.2", TRY = "0.15", JPY = "0.03", KWD = 10 }',
)


async def bought(api: API, member: str, amount: str, currency: str, **fields: Any) -> dict:
    payload = await api.mutate(
        "recordPurchase",
        {
            "memberId": member,
            "orderId": new_key(),
            "amount": amount,
            "currency": currency,
            "idempotencyKey": new_key(),
            **fields,
        },
        PURCHASE_FIELDS,
        as_=api.admin(),
    )
    assert payload["userErrors"] == [], payload
    return payload["purchase"]


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        ("42.5", "RON", "42.50"),
        ("10", "RON", "10.00"),
        ("10.0000", "EUR", "10.00"),
        ("0.5", "USD", "0.50"),
        ("12.345", "RON", "12.345"),  # more decimals than the cent: kept, never rounded
        ("1200", "JPY", "1200"),
        ("1200.50", "JPY", "1200.5"),
        ("3.1", "KWD", "3.100"),
    ],
)
async def test_money_comes_out_in_its_currencys_minor_units(
    api: API, amount: str, currency: str, shown: str
):
    await api.use_program(WITH_YEN)
    ana = await api.enroll("ana")
    purchase = await bought(api, ana, amount, currency)
    assert purchase["amount"] == shown
    assert purchase["currency"] == currency
    assert purchase["eligibleAmount"] == shown
    assert purchase["refundedAmount"] == {"JPY": "0", "KWD": "0.000"}.get(currency, "0.00")
    # Read back, the same.
    data = await api.gql(
        "query($id: ID!) { node(id: $id) { ... on Purchase { amount eligibleAmount } } }",
        {"id": purchase["id"]},
        as_=api.admin(),
    )
    assert data["node"] == {"amount": shown, "eligibleAmount": shown}


async def test_shipping_tax_and_refunds_are_money_too(api: API):
    ana = await api.enroll("ana")
    purchase = await bought(api, ana, "100", "RON", shipping="5", tax="15.5")
    assert (purchase["amount"], purchase["eligibleAmount"]) == ("100.00", "79.50")
    assert purchase["refundedAmount"] == "0.00"
    refund = await api.mutate(
        "refundPurchase",
        {"purchaseId": purchase["id"], "amount": "20", "idempotencyKey": new_key()},
        "purchase { amount refundedAmount }",
        as_=api.admin(),
    )
    assert refund["userErrors"] == [], refund
    assert refund["purchase"] == {"amount": "100.00", "refundedAmount": "20.00"}


def test_minor_units_are_iso_4217s():
    assert [minor_units(c) for c in ("RON", "EUR", "USD", "JPY", "KRW", "KWD", "BHD")] == [
        2,
        2,
        2,
        0,
        0,
        3,
        3,
    ]


# -- inputs ------------------------------------------------------------------------------------

PURCHASE = (
    "mutation($i: RecordPurchaseInput!) { recordPurchase(input: $i) { "
    "purchase { amount } userErrors { code field message } } }"
)


def purchase_input(member: str, **changes: Any) -> dict[str, Any]:
    return {
        "memberId": member,
        "orderId": new_key(),
        "amount": "12.50",
        "currency": "RON",
        "idempotencyKey": new_key(),
        **changes,
    }


def assert_refused_as_a_number(response: Any) -> dict[str, Any]:
    # A request error (GraphQL over HTTP): 400 in application/graphql-response+json, 200 in
    # application/json; no data either way.
    spec_type = response.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    assert response.status_code == (400 if spec_type else 200), response.text
    body = response.json()
    assert "data" not in body, body
    [error] = body["errors"]
    assert error["extensions"]["code"] == "INVALID_INPUT", error
    assert 'sent as a JSON string, like "12.50"' in error["message"], error
    return error


@pytest.mark.parametrize(
    ("field", "value", "written_as"),
    [
        ("amount", 12.5, "12.5"),
        ("amount", 40, "40"),
        ("amount", 0.1, "0.1"),
        ("amount", True, "true"),
        ("shipping", 5, "5"),
        ("tax", 1.5, "1.5"),
    ],
)
@pytest.mark.parametrize("accept", [GRAPHQL_RESPONSE, "application/json"])
async def test_a_json_number_for_a_decimal_is_refused_and_writes_nothing(
    api: API, field: str, value: Any, written_as: str, accept: str
):
    ana = await api.enroll("ana")
    before = await table_counts()
    response = await api.post(
        PURCHASE,
        {"i": purchase_input(ana, **{field: value})},
        as_={**api.admin(), "Accept": accept},
    )
    assert response.headers["content-type"].startswith(accept)
    error = assert_refused_as_a_number(response)
    assert f"got {written_as}." in error["message"], error
    assert f".{field}" in error["message"], error  # the variable coercion error names the path
    assert await table_counts() == before


async def test_a_json_number_for_a_line_price_or_a_refund_is_refused(api: API):
    ana = await api.enroll("ana")
    line = {"sku": "LATTE", "quantity": 1, "unitPrice": 12.5}
    response = await api.post(PURCHASE, {"i": purchase_input(ana, lines=[line])}, as_=api.admin())
    assert_refused_as_a_number(response)
    purchase = await bought(api, ana, "10", "RON")
    response = await api.post(
        "mutation($i: RefundPurchaseInput!) { refundPurchase(input: $i) { userErrors { code } } }",
        {"i": {"purchaseId": purchase["id"], "amount": 5, "idempotencyKey": new_key()}},
        as_=api.admin(),
    )
    assert_refused_as_a_number(response)
    assert (await api.balance(ana)) == 10


@pytest.mark.parametrize("literal", ["12.5", "40", "true"])
async def test_a_number_written_in_the_document_is_refused_by_validation(api: API, literal: str):
    ana = await api.enroll("ana")
    before = await table_counts()
    document = (
        f'mutation {{ recordPurchase(input: {{ memberId: "{ana}", orderId: "LIT-1", '
        f'amount: {literal}, currency: "RON", idempotencyKey: "lit-1" }}) '
        "{ purchase { amount } userErrors { code } } }"
    )
    response = await api.post(document, as_=api.admin())
    error = assert_refused_as_a_number(response)
    assert f"got {literal}." in error["message"], error
    assert error["locations"], error  # it points at the literal
    assert await table_counts() == before


async def test_strings_still_work_in_variables_and_in_the_document(api: API):
    ana = await api.enroll("ana")
    data = await api.gql(PURCHASE, {"i": purchase_input(ana, amount="12.5")}, as_=api.admin())
    assert data["recordPurchase"] == {"purchase": {"amount": "12.50"}, "userErrors": []}
    document = (
        f'mutation {{ recordPurchase(input: {{ memberId: "{ana}", orderId: "LIT-2", '
        'amount: "7", currency: "RON", idempotencyKey: "lit-2" }) '
        "{ purchase { amount } userErrors { code } } }"
    )
    data = await api.gql(document, as_=api.admin())
    assert data["recordPurchase"] == {"purchase": {"amount": "7.00"}, "userErrors": []}
    # A string that is no amount is still a typed userError naming the field, not a 400.
    data = await api.gql(PURCHASE, {"i": purchase_input(ana, amount="12,5")}, as_=api.admin())
    payload = data["recordPurchase"]
    assert payload["purchase"] is None
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [("INVALID_INPUT", "amount")]
    assert await api.balance(ana) == 19
