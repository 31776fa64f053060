"""recordPurchase through the API: points, idempotency, duplicates, what gets stored."""

from __future__ import annotations

from domain import sql
from tests.helpers import API, assert_ledger_consistent, new_key


async def test_a_purchase_earns_points_per_whole_unit_of_what_was_paid_for_goods(api: API):
    ana = await api.enroll("ana")
    # USD earns 4.5 points per unit: (129.99 - 10 shipping - 20.50 tax) * 4.5 = 447.705 -> 447
    payload = await api.purchase(ana, "129.99", "USD", shipping="10", tax="20.50")
    assert payload["userErrors"] == []
    assert payload["purchase"]["points"] == 447
    assert payload["transaction"]["kind"] == "EARN"
    assert payload["transaction"]["points"] == 447
    assert payload["transaction"]["balanceAfter"] == 447
    assert payload["member"] == {"balance": 447, "lifetimePoints": 447}
    await assert_ledger_consistent()


async def test_replaying_the_same_key_returns_the_same_result_and_earns_once(api: API):
    ana = await api.enroll("ana")
    first = await api.purchase(ana, "100", order_id="A-1", key="same")
    again = await api.purchase(ana, "100", order_id="A-1", key="same")
    assert again["transaction"]["id"] == first["transaction"]["id"]
    assert again["purchase"] == first["purchase"]
    assert await api.balance(ana) == 100
    await assert_ledger_consistent()


async def test_the_same_key_with_other_input_is_refused(api: API):
    ana = await api.enroll("ana")
    await api.purchase(ana, "100", order_id="A-1", key="k")
    other = await api.purchase(ana, "250", order_id="A-2", key="k")
    assert other["userErrors"][0]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert await api.balance(ana) == 100


async def test_an_order_id_counts_once_per_source_even_with_a_new_key(api: API):
    ana = await api.enroll("ana")
    await api.purchase(ana, "100", order_id="A-1")
    again = await api.purchase(ana, "100", order_id="A-1")
    assert again["userErrors"][0]["code"] == "DUPLICATE"
    assert again["userErrors"][0]["field"] == "orderId"
    assert await api.balance(ana) == 100
    # Another partner may have its own order A-1.
    other = await api.purchase(ana, "50", order_id="A-1", as_=await api.partner("beanery"))
    assert other["userErrors"] == []
    assert await api.balance(ana) == 150


async def test_lines_are_kept_for_offers_and_insights(api: API):
    ana = await api.enroll("ana")
    lines = [
        {"sku": "LATTE", "category": "coffee", "quantity": 2, "unitPrice": "12.50"},
        {"sku": "CROISSANT", "category": "bakery", "quantity": 1, "unitPrice": "9"},
    ]
    payload = await api.purchase(ana, "34", lines=lines, key=new_key())
    assert payload["userErrors"] == []
    rows = await sql.rows(
        sql.connection(),
        "SELECT sku, category, quantity, unit_price FROM purchase_line ORDER BY sku",
    )
    assert [(r["sku"], r["category"], r["quantity"]) for r in rows] == [
        ("CROISSANT", "bakery", 1),
        ("LATTE", "coffee", 2),
    ]


async def test_a_retry_may_write_the_same_amount_another_way(api: API):
    ana = await api.enroll("ana")
    first = await api.purchase(ana, "100", order_id="A-1", key="k", shipping="5")
    again = await api.purchase(ana, "100.00", order_id="A-1", key="k", shipping="5.0")
    assert again["userErrors"] == []
    assert again["transaction"]["id"] == first["transaction"]["id"]
    assert await api.balance(ana) == 95
