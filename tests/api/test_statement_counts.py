"""A query costs the same number of SQL statements however long the history or the list."""

from __future__ import annotations

from tests.helpers import API, BASE_PROGRAM, count_statements

# Purchase points wait 14 days: a member's history holds pending and spendable lots.
HELD = BASE_PROGRAM.read_text().replace("[purchases]\n", "[purchases]\npending_days = 14\n")

DASHBOARD = """
{ me { displayName balance pendingPoints lifetimePoints
       tier { current { name } next { name } progress pointsToNext }
       expiringPoints { amount expiresAt }
       pendingReleases { amount availableAt }
       transactions(first: 10) { edges { node { kind points balanceAfter description
                                                  partner { key name } breakdown { description } } }
                                  pageInfo { hasNextPage endCursor } }
       redemptions(first: 5) { nodes { code status reward { name } transaction { points } } } } }
"""

MEMBER_LIST = """
{ members(first: 50) { nodes { externalId balance tier { current { key } }
                              expiringPoints { amount } pendingReleases { amount }
                              transactions(first: 3) { nodes { kind points } } } } }
"""


async def _history(api: API, member_id: str, purchases: int, redemptions: int) -> None:
    if redemptions:
        assert (await api.adjust(member_id, 300 * redemptions + 100))["userErrors"] == []
    for n in range(purchases):
        payload = await api.purchase(member_id, str(1000 + n))
        assert payload["userErrors"] == []
    for _ in range(redemptions):
        payload = await api.redeem("plant-a-tree", member_id=member_id)
        assert payload["userErrors"] == []


async def _dashboard_statements(api: API) -> int:
    with count_statements() as statements:
        data = await api.gql(DASHBOARD, as_=api.member("ana"))
    assert data["me"]["displayName"] == "Ana"
    return len(statements)


async def test_the_dashboard_does_not_grow_with_history(api: API):
    await api.use_program(HELD)
    ana = await api.enroll("ana", displayName="Ana")
    await _history(api, ana, purchases=1, redemptions=1)
    short = await _dashboard_statements(api)
    await _history(api, ana, purchases=40, redemptions=12)
    long = await _dashboard_statements(api)
    assert long == short
    # Token lookup with the wallet, transactions, expiring points, pending releases,
    # redemptions (ids, rows), their transactions: one statement each, whatever the counts.
    assert short <= 7
    me = (await api.gql(DASHBOARD, as_=api.member("ana")))["me"]
    assert me["pendingReleases"]
    assert me["expiringPoints"]


async def test_a_page_of_members_costs_the_same_as_one(api: API):
    first = await api.enroll("m0")
    await _history(api, first, purchases=2, redemptions=0)
    with count_statements() as one:
        await api.gql(MEMBER_LIST, as_=api.admin())
    for n in range(1, 30):
        member = await api.enroll(f"m{n}")
        await _history(api, member, purchases=2, redemptions=0)
    with count_statements() as many:
        data = await api.gql(MEMBER_LIST, as_=api.admin())
    assert len(data["members"]["nodes"]) == 30
    assert all(len(m["transactions"]["nodes"]) == 2 for m in data["members"]["nodes"])
    assert len(many) == len(one)


PURCHASE = """mutation($i: RecordPurchaseInput!) { recordPurchase(input: $i) {
  member { externalId balance lifetimePoints } transaction { id kind points balanceAfter }
  purchase { points } userErrors { code } } }"""


async def test_a_purchase_answers_from_what_it_wrote(api: API):
    ana = await api.enroll("ana")
    partner = await api.partner("beanery")
    await api.gql("{ tiers { key } }", as_=partner)  # the key is looked up once, then cached
    variables = {
        "i": {
            "memberId": ana,
            "orderId": "A-1",
            "amount": "120",
            "currency": "RON",
            "idempotencyKey": "k-1",
        }
    }
    with count_statements() as first:
        data = await api.gql(PURCHASE, variables, as_=partner)
    payload = data["recordPurchase"]
    assert payload["member"] == {"externalId": "ana", "balance": 120, "lifetimePoints": 120}
    assert payload["transaction"]["balanceAfter"] == 120
    # The idempotency key, the member, the wallet update, the transaction, its entries, the
    # lot, the purchase, the idempotency record and the outbox events: nothing is read back.
    writes = [s for s in first if not s.lstrip().upper().startswith("SELECT")]
    assert len(first) == 9, first
    assert len(writes) == 7, first

    # A replay answers with the stored result, the member as the first answer showed it, in
    # one statement: the key's lookup.
    await api.purchase(ana, "30", order_id="A-2")
    with count_statements() as replay:
        again = (await api.gql(PURCHASE, variables, as_=partner))["recordPurchase"]
    assert again == payload
    assert len(replay) == 1, replay
