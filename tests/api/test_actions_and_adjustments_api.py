"""recordAction and adjustPoints through the API: points per action, references that count
once per source, unknown actions, and the operator's signed corrections."""

from __future__ import annotations

from typing import Any

from domain import jobs, sql
from tests.helpers import API, ManualClock, assert_ledger_consistent, new_key, table_counts

ACTION_POINTS = {
    "REVIEW": 50,
    "REFERRAL": 500,
    "SOCIAL_SHARE": 20,
    "EVENT_ATTENDANCE": 200,
    "NEWSLETTER_SIGNUP": 100,
    "BIRTHDAY": 250,
    "APP_INSTALL": 100,
    "SURVEY": 75,
}

ACTION = (
    "member { balance lifetimePoints } "
    "transaction { id kind points balanceAfter description reference }"
)
ADJUST = (
    "member { balance lifetimePoints } "
    "transaction { id kind points balanceAfter description reference }"
)


async def record(
    api: API,
    member_id: str,
    action: str,
    reference: str | None = None,
    as_: dict[str, str] | None = None,
    **fields: Any,
) -> dict:
    body: dict[str, Any] = {
        "memberId": member_id,
        "action": action,
        "idempotencyKey": new_key(),
        **fields,
    }
    if reference is not None:
        body["reference"] = reference
    return await api.mutate("recordAction", body, ACTION, as_=as_ or api.admin())


async def adjust(api: API, member_id: str, points: int, reason: str) -> dict:
    return await api.mutate(
        "adjustPoints",
        {"memberId": member_id, "points": points, "reason": reason, "idempotencyKey": new_key()},
        ADJUST,
        as_=api.admin(),
    )


# -- actions -----------------------------------------------------------------------------------


async def test_each_action_earns_its_points(api: API):
    assert {k: a.points for k, a in api.stores.program.actions.items()} == ACTION_POINTS
    ana = await api.enroll("ana")
    total = 0
    for action, points in ACTION_POINTS.items():
        payload = await record(api, ana, action, reference=f"{action}-1")
        assert payload["userErrors"] == [], action
        total += points
        transaction = payload["transaction"]
        assert transaction["kind"] == "EARN"
        assert transaction["points"] == points, action
        assert transaction["balanceAfter"] == total
        assert transaction["reference"] == f"{action}-1"
        assert transaction["description"] == api.stores.program.actions[action].name.get()
        assert payload["member"] == {"balance": total, "lifetimePoints": total}
    assert await api.balance(ana) == sum(ACTION_POINTS.values())
    stored = await sql.rows(
        sql.connection(), "SELECT action, source, reference FROM action_record ORDER BY id"
    )
    assert [(r["action"], r["source"], r["reference"]) for r in stored] == [
        (action, "admin", f"{action}-1") for action in ACTION_POINTS
    ]
    await assert_ledger_consistent()


async def test_an_action_can_name_its_member_by_external_id(api: API):
    await api.enroll("ana")
    payload = await api.mutate(
        "recordAction",
        {"externalId": "ana", "action": "SURVEY", "idempotencyKey": new_key()},
        ACTION,
        as_=await api.partner("skyways"),
    )
    assert payload["userErrors"] == []
    assert payload["member"]["balance"] == 75


async def test_a_reference_counts_once_per_source(api: API):
    ana = await api.enroll("ana")
    first = await record(api, ana, "REVIEW", reference="review-42")
    assert first["userErrors"] == []
    counts = await table_counts()

    again = await record(api, ana, "REVIEW", reference="review-42")
    assert again["transaction"] is None
    assert [(e["code"], e["field"]) for e in again["userErrors"]] == [("DUPLICATE", "reference")]
    assert await table_counts() == counts
    assert await api.balance(ana) == 50

    # Another action with the same reference is another thing.
    other_action = await record(api, ana, "SURVEY", reference="review-42")
    assert other_action["userErrors"] == []
    # Two partners may each have a review 42.
    beanery = await api.partner("beanery")
    skyways = await api.partner("skyways")
    by_beanery = await record(api, ana, "REVIEW", reference="review-42", as_=beanery)
    by_skyways = await record(api, ana, "REVIEW", reference="review-42", as_=skyways)
    assert by_beanery["userErrors"] == by_skyways["userErrors"] == []
    # ... but each only once.
    beanery_again = await record(api, ana, "REVIEW", reference="review-42", as_=beanery)
    assert [e["code"] for e in beanery_again["userErrors"]] == ["DUPLICATE"]
    assert await api.balance(ana) == 50 + 75 + 50 + 50
    sources = await sql.rows(
        sql.connection(),
        "SELECT source FROM action_record WHERE action = 'REVIEW' ORDER BY id",
    )
    assert [r["source"] for r in sources] == ["admin", "partner:beanery", "partner:skyways"]
    await assert_ledger_consistent()


async def test_the_same_reference_for_another_member_is_still_a_duplicate(api: API):
    # The reference is the action's own id at the source (the review's): one award each,
    # whoever it is credited to.
    ana = await api.enroll("ana")
    bob = await api.enroll("bob")
    assert (await record(api, ana, "REVIEW", reference="r-1"))["userErrors"] == []
    other = await record(api, bob, "REVIEW", reference="r-1")
    assert [e["code"] for e in other["userErrors"]] == ["DUPLICATE"]
    assert await api.balance(bob) == 0


async def test_without_a_reference_an_action_can_be_recorded_again(api: API):
    ana = await api.enroll("ana")
    for _ in range(3):
        payload = await record(api, ana, "SOCIAL_SHARE")
        assert payload["userErrors"] == []
        assert payload["transaction"]["reference"] is None
    assert await api.balance(ana) == 60
    stored = await sql.row(
        sql.connection(), "SELECT COUNT(*) AS n FROM action_record WHERE reference IS NULL"
    )
    assert stored is not None
    assert int(stored["n"]) == 3


async def test_an_unknown_action_is_invalid_input_naming_the_known_ones(api: API):
    ana = await api.enroll("ana")
    counts = await table_counts()
    for unknown in ("DANCE", "review", ""):
        payload = await record(api, ana, unknown, reference="x")
        assert payload["transaction"] is None
        [error] = payload["userErrors"]
        assert (error["code"], error["field"]) == ("INVALID_INPUT", "action")
        for known in ACTION_POINTS:
            assert known in error["message"], (unknown, error["message"])
    assert await table_counts() == counts


async def test_members_cannot_record_actions(api: API):
    ana = await api.enroll("ana")
    counts = await table_counts()
    payload = await api.mutate(
        "recordAction",
        {"memberId": ana, "action": "REVIEW", "idempotencyKey": new_key()},
        ACTION,
        as_=api.member("ana"),
    )
    assert [e["code"] for e in payload["userErrors"]] == ["FORBIDDEN"]
    assert await table_counts() == counts


# -- adjustments -------------------------------------------------------------------------------


async def test_a_positive_adjustment_credits_points_with_its_reason(api: API):
    ana = await api.enroll("ana")
    payload = await adjust(api, ana, 300, "Compensation for a lost order")
    assert payload["userErrors"] == []
    assert payload["member"] == {"balance": 300, "lifetimePoints": 300}
    transaction = payload["transaction"]
    assert transaction["kind"] == "ADJUST"
    assert transaction["points"] == 300
    assert transaction["balanceAfter"] == 300
    assert transaction["description"] == "Compensation for a lost order"
    history = await api.gql(
        "query($id: ID!) { member(id: $id) { transactions { nodes { kind points description "
        "} } } }",
        {"id": ana},
        as_=api.admin(),
    )
    assert history["member"]["transactions"]["nodes"] == [
        {"kind": "ADJUST", "points": 300, "description": "Compensation for a lost order"}
    ]
    await assert_ledger_consistent()


async def test_an_adjustment_names_its_member_by_external_id_like_every_other_input(api: API):
    await api.enroll("ana")
    body = {"externalId": "ana", "points": 40, "reason": "Goodwill", "idempotencyKey": new_key()}
    payload = await api.mutate("adjustPoints", body, ADJUST, as_=api.admin())
    assert payload["userErrors"] == []
    assert payload["member"]["balance"] == 40
    unknown = await api.mutate(
        "adjustPoints", {**body, "externalId": "nobody", "idempotencyKey": new_key()}, ADJUST,
        as_=api.admin(),
    )  # fmt: skip
    assert [(e["code"], e["field"]) for e in unknown["userErrors"]] == [("NOT_FOUND", "externalId")]
    neither = {"points": 1, "reason": "?", "idempotencyKey": new_key()}
    refused = await api.mutate("adjustPoints", neither, ADJUST, as_=api.admin())
    assert [e["code"] for e in refused["userErrors"]] == ["INVALID_INPUT"]
    await assert_ledger_consistent()


async def test_a_negative_adjustment_takes_points_and_lifetime_away(api: API):
    ana = await api.enroll("ana")
    await api.purchase(ana, "1000")
    payload = await adjust(api, ana, -400, "Order 17 was returned")
    assert payload["userErrors"] == []
    assert payload["member"] == {"balance": 600, "lifetimePoints": 600}
    assert payload["transaction"]["points"] == -400
    assert payload["transaction"]["balanceAfter"] == 600
    assert payload["transaction"]["description"] == "Order 17 was returned"
    await assert_ledger_consistent()


async def test_a_redemption_does_not_reduce_lifetime_but_a_negative_adjustment_does(api: API):
    clock = api.use_clock(ManualClock("2026-03-15T10:00:00+00:00"))
    ana = await api.enroll("ana")
    await api.purchase(ana, "3000")  # silver
    await api.redeem("discount-10", member_id=ana)
    query = (
        "query($id: ID!) { member(id: $id) { balance lifetimePoints tier { current { key } } } }"
    )
    after_redeem = (await api.gql(query, {"id": ana}, as_=api.admin()))["member"]
    assert after_redeem == {
        "balance": 2000,
        "lifetimePoints": 3000,
        "tier": {"current": {"key": "silver"}},
    }
    await adjust(api, ana, -1000, "fraudulent purchase")
    after_adjust = (await api.gql(query, {"id": ana}, as_=api.admin()))["member"]
    # The tier is stored: it stays until the review on the 1st finds 2000 below silver's 2500.
    assert after_adjust == {
        "balance": 1000,
        "lifetimePoints": 2000,
        "tier": {"current": {"key": "silver"}},
    }
    clock.set("2026-04-01T00:00:00+03:00")
    assert (await jobs.run_all(api.runtime.program, clock.now())).tiers_changed == 1
    reviewed = (await api.gql(query, {"id": ana}, as_=api.admin()))["member"]
    assert reviewed["tier"] == {"current": {"key": "bronze"}}


async def test_an_adjustment_below_zero_is_insufficient_points_and_writes_nothing(api: API):
    ana = await api.enroll("ana")
    await api.purchase(ana, "100")
    counts = await table_counts()
    payload = await adjust(api, ana, -101, "too much")
    assert payload["transaction"] is None
    assert [e["code"] for e in payload["userErrors"]] == ["INSUFFICIENT_POINTS"]
    assert payload["userErrors"][0]["message"] == "Not enough points: this takes 101 points."
    assert await table_counts() == counts
    bea = await api.enroll("bea")
    (one,) = (await adjust(api, bea, -1, "one too many"))["userErrors"]
    assert one["message"] == "Not enough points: this takes 1 point."
    assert await api.balance(ana) == 100
    # Exactly the balance is fine.
    exact = await adjust(api, ana, -100, "all of it")
    assert exact["userErrors"] == []
    assert exact["member"] == {"balance": 0, "lifetimePoints": 0}


async def test_adjustments_refuse_zero_and_an_empty_reason(api: API):
    ana = await api.enroll("ana")
    counts = await table_counts()
    zero = await adjust(api, ana, 0, "nothing")
    assert [(e["code"], e["field"]) for e in zero["userErrors"]] == [("INVALID_INPUT", "points")]
    blank = await adjust(api, ana, 10, "   ")
    assert [(e["code"], e["field"]) for e in blank["userErrors"]] == [("INVALID_INPUT", "reason")]
    assert await table_counts() == counts


async def test_only_the_operator_adjusts(api: API):
    ana = await api.enroll("ana")
    body = {"memberId": ana, "points": 10, "reason": "r", "idempotencyKey": new_key()}
    for caller in (api.member("ana"), await api.partner("beanery"), None):
        payload = await api.mutate("adjustPoints", body, ADJUST, as_=caller)
        assert [e["code"] for e in payload["userErrors"]] == ["FORBIDDEN"]
    assert await api.balance(ana) == 0
