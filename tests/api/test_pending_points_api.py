"""Pending points on a member's dashboard: when they arrive (pendingReleases), that what expires
counts only spendable points (expiringPoints), and that tiers wait for the release.

The base program holds purchase points for 14 days here (its return window), and has a reward
and a campaign kept for silver members (2,500 qualifying points) and above.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from domain import jobs
from tests.helpers import API, BASE_PROGRAM, ManualClock, new_key, reward_gid

HOLD_DAYS = 14
TEXT = (
    BASE_PROGRAM.read_text().replace("[purchases]\n", f"[purchases]\npending_days = {HOLD_DAYS}\n")
    + """
[[rewards]]
key = "silver-lounge"
name = "Silver lounge"
points_cost = 100
min_tier = "silver"

[[campaigns]]
key = "silver-thanks"
name = "Thanks, silver members"
kind = "bonus"
points = 7
tiers = ["silver", "gold"]
starts = 2026-01-01T00:00:00Z
ends = 2030-01-01T00:00:00Z
"""
)

DASHBOARD = """{ me { balance pendingPoints lifetimePoints
  pendingReleases { amount availableAt } expiringPoints { amount expiresAt }
  tier { current { key } next { key } progress pointsToNext } } }"""


@pytest.fixture
async def clock(api: API) -> ManualClock:
    await api.use_program(TEXT)
    return api.use_clock(ManualClock("2026-03-02T10:00:00+00:00"))


async def dashboard(api: API, external_id: str = "ana") -> dict[str, Any]:
    me = (await api.gql(DASHBOARD, as_=api.member(external_id)))["me"]
    for entry in me["pendingReleases"]:
        entry["availableAt"] = datetime.fromisoformat(entry["availableAt"])
    for entry in me["expiringPoints"]:
        entry["expiresAt"] = datetime.fromisoformat(entry["expiresAt"])
    # What is listed adds up: every pending point, and no more expiring than spendable.
    assert sum(e["amount"] for e in me["pendingReleases"]) == me["pendingPoints"]
    assert sum(e["amount"] for e in me["expiringPoints"]) <= me["balance"]
    return me


async def release(api: API, clock: ManualClock) -> None:
    await jobs.run_all(api.runtime.program, clock.now())


async def test_pending_releases_say_when_points_arrive_and_add_up(api: API, clock: ManualClock):
    ana = await api.enroll("ana")
    assert (await api.adjust(ana, 300))["userErrors"] == []  # spendable at once
    first = clock.now()
    assert (await api.purchase(ana, "100"))["userErrors"] == []
    clock.advance(days=1, hours=3)
    second = clock.now()
    assert (await api.purchase(ana, "250"))["userErrors"] == []
    assert (await api.purchase(ana, "50", occurredAt=first.isoformat()))["userErrors"] == []

    me = await dashboard(api)
    assert (me["balance"], me["pendingPoints"]) == (300, 400)
    # Soonest first; the two recorded at the same moment arrive together.
    assert me["pendingReleases"] == [
        {"amount": 100, "availableAt": first + timedelta(days=HOLD_DAYS)},
        {"amount": 300, "availableAt": second + timedelta(days=HOLD_DAYS)},
    ]
    # Only the spendable 300 can expire: before the fix the pending 400 were listed too.
    [expiring] = me["expiringPoints"]
    assert expiring["amount"] == 300

    clock.set(first + timedelta(days=HOLD_DAYS, minutes=1))
    await release(api, clock)
    me = await dashboard(api)
    assert (me["balance"], me["pendingPoints"]) == (400, 300)
    assert me["pendingReleases"] == [
        {"amount": 300, "availableAt": second + timedelta(days=HOLD_DAYS)},
    ]
    # Credited on the same local day, the adjustment and the purchase expire together.
    assert [e["amount"] for e in me["expiringPoints"]] == [400]

    clock.set(second + timedelta(days=HOLD_DAYS))
    await release(api, clock)
    me = await dashboard(api)
    assert (me["balance"], me["pendingPoints"], me["pendingReleases"]) == (700, 0, [])
    assert sum(e["amount"] for e in me["expiringPoints"]) == 700


async def test_a_pending_release_that_is_due_stays_listed_until_the_job_runs(
    api: API, clock: ManualClock
):
    ana = await api.enroll("ana")
    assert (await api.purchase(ana, "80"))["userErrors"] == []
    due = clock.now() + timedelta(days=HOLD_DAYS)
    clock.set(due + timedelta(seconds=30))
    me = await dashboard(api)
    assert me["pendingReleases"] == [{"amount": 80, "availableAt": due}]
    assert me["expiringPoints"] == []
    await release(api, clock)
    me = await dashboard(api)
    assert (me["balance"], me["pendingReleases"]) == (80, [])


async def test_a_refunded_pending_purchase_leaves_no_pending_release(api: API, clock: ManualClock):
    ana = await api.enroll("ana")
    bought = await api.purchase(ana, "120")
    assert (await api.purchase(ana, "30"))["userErrors"] == []
    refund = await api.mutate(
        "refundPurchase",
        {"purchaseId": bought["purchase"]["id"], "amount": "20", "idempotencyKey": new_key()},
        "purchase { id }",
        as_=api.admin(),
    )
    assert refund["userErrors"] == []
    me = await dashboard(api)
    assert me["pendingReleases"] == [
        {"amount": 130, "availableAt": clock.now() + timedelta(days=HOLD_DAYS)}
    ]


# -- tiers wait for the release -----------------------------------------------------------------


async def redeem_lounge(api: API, member: str) -> list[str]:
    payload = await api.mutate(
        "redeemReward",
        {"memberId": member, "rewardId": reward_gid("silver-lounge"), "idempotencyKey": new_key()},
        "redemption { id }",
        as_=api.admin(),
    )
    return [e["code"] for e in payload["userErrors"]]


async def test_a_purchase_whose_points_are_pending_lifts_no_tier_until_released(
    api: API, clock: ManualClock
):
    ana = await api.enroll("ana")
    assert (await api.adjust(ana, 2400))["userErrors"] == []
    bronze = (await dashboard(api))["tier"]
    assert bronze == {
        "current": {"key": "bronze"},
        "next": {"key": "silver"},
        "progress": 0.96,
        "pointsToNext": 100,
    }

    # 200 points on their way: lifetime points count them, the tier does not.
    assert (await api.purchase(ana, "200"))["userErrors"] == []
    me = await dashboard(api)
    assert (me["lifetimePoints"], me["pendingPoints"]) == (2600, 200)
    assert me["tier"] == bronze
    # Nor do the reward and the campaign kept for silver members.
    assert await redeem_lounge(api, ana) == ["NOT_ELIGIBLE"]
    again = await api.purchase(ana, "10")
    assert again["purchase"]["points"] == 10  # no silver bonus

    # Released, the 200 count: silver, with the reward and the campaign.
    clock.advance(days=HOLD_DAYS, minutes=1)
    await release(api, clock)
    me = await dashboard(api)
    assert (me["balance"], me["pendingPoints"]) == (2610, 0)
    assert me["tier"]["current"] == {"key": "silver"}
    assert me["tier"]["pointsToNext"] == 10_000 - 2610
    assert await redeem_lounge(api, ana) == []
    assert (await api.purchase(ana, "10"))["purchase"]["points"] == 17


async def test_a_returned_purchase_never_lifts_a_tier(api: API, clock: ManualClock):
    ana = await api.enroll("ana")
    bought = await api.purchase(ana, "5000")
    assert (await dashboard(api))["tier"]["current"] == {"key": "bronze"}
    refund = await api.mutate(
        "refundPurchase",
        {"purchaseId": bought["purchase"]["id"], "idempotencyKey": new_key()},
        "purchase { id }",
        as_=api.admin(),
    )
    assert refund["userErrors"] == []
    clock.advance(days=HOLD_DAYS, minutes=1)
    await release(api, clock)
    me = await dashboard(api)
    assert (me["balance"], me["pendingPoints"], me["lifetimePoints"]) == (0, 0, 0)
    assert me["tier"]["current"] == {"key": "bronze"}


# -- who sees pending releases --------------------------------------------------------------------


async def test_pending_releases_are_seen_by_whoever_may_see_the_member(
    api: API, clock: ManualClock
):
    ana = await api.enroll("ana")
    beanery = await api.partner("beanery")
    assert (await api.purchase(ana, "40", as_=beanery))["userErrors"] == []
    query = "query($id: ID!) { member(id: $id) { pendingReleases { amount } } }"
    expected = {"member": {"pendingReleases": [{"amount": 40}]}}
    assert await api.gql(query, {"id": ana}, as_=api.admin()) == expected
    assert await api.gql(query, {"id": ana}, as_=beanery) == expected
    assert await api.gql(query, {"id": ana}, as_=api.member("ana")) == expected
    for stranger in (None, await api.partner("skyways")):
        body = await api.result(query, {"id": ana}, as_=stranger)
        assert body["data"] == {"member": None}
        assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
