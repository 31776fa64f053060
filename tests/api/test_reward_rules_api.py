"""Rewards with rules: a minimum tier, a limit per member and period, and fulfilment.

The base test program gets four rewards of its own: one for silver members and above, and
three with limits (per day, per month, for a lifetime). Limits are calendar periods in the
program's time zone (Europe/Bucharest); cancelled redemptions do not count.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from domain import sql
from schema import ids
from tests.helpers import (
    API,
    BASE_PROGRAM,
    ManualClock,
    assert_ledger_consistent,
    new_key,
    reward_gid,
    table_counts,
)

BUCHAREST = ZoneInfo("Europe/Bucharest")

REWARDS = """
[[rewards]]
key = "silver-lounge"
name = { en = "Silver lounge", ro = "Salonul de argint" }
points_cost = 100
min_tier = "silver"
partner = "skyways"

[[rewards]]
key = "daily-treat"
name = "Daily treat"
points_cost = 10
partner = "beanery"
limit = { count = 2, period = "day" }

[[rewards]]
key = "monthly-gift"
name = "Monthly gift"
points_cost = 10
limit = { count = 1, period = "month" }

[[rewards]]
key = "welcome-tote"
name = "Welcome tote"
points_cost = 10
stock = 5
limit = { count = 1, period = "lifetime" }
"""

TEXT = BASE_PROGRAM.read_text() + REWARDS

REDEMPTION = "id status code points createdAt cancelledAt fulfilledAt reward { key }"


@pytest.fixture
def clock(api: API) -> ManualClock:
    return api.use_clock()


async def member_with(api: API, name: str, points: int) -> str:
    """A member whose lifetime points (and balance) are `points`: adjustments count."""
    member = await api.enroll(name)
    assert (await api.adjust(member, points))["userErrors"] == []
    return member


async def redeem(
    api: API, reward: str, member_id: str, as_: dict[str, str] | None = None
) -> dict[str, Any]:
    return await api.mutate(
        "redeemReward",
        {"memberId": member_id, "rewardId": reward_gid(reward), "idempotencyKey": new_key()},
        f"member {{ balance }} redemption {{ {REDEMPTION} }} transaction {{ id kind points }}",
        as_=as_ or api.admin(),
    )


async def redeemed(api: API, reward: str, member_id: str) -> dict[str, Any]:
    payload = await redeem(api, reward, member_id)
    assert payload["userErrors"] == [], payload
    assert payload["redemption"]["status"] == "ISSUED"
    return payload["redemption"]


async def refused(api: API, reward: str, member_id: str, code: str) -> dict[str, Any]:
    """Asserts the redemption is refused with `code` and writes nothing."""
    before = await table_counts()
    payload = await redeem(api, reward, member_id)
    assert payload["redemption"] is None, payload
    assert payload["transaction"] is None, payload
    assert len(payload["userErrors"]) == 1, payload
    error = payload["userErrors"][0]
    assert error["code"] == code, error
    assert error["field"] == "rewardId", error
    assert await table_counts() == before
    return error


async def fulfill(
    api: API, redemption_id: str, as_: dict[str, str] | None, name: str = "fulfillRedemption"
) -> dict[str, Any]:
    return await api.mutate(
        name,
        {"redemptionId": redemption_id},
        f"redemption {{ {REDEMPTION} }}",
        as_=as_,
    )


async def redemption_node(api: API, redemption_id: str) -> dict[str, Any]:
    data = await api.gql(
        f"query($id: ID!) {{ node(id: $id) {{ ... on Redemption {{ {REDEMPTION} }} }} }}",
        {"id": redemption_id},
        as_=api.admin(),
    )
    return data["node"]


# -- minimum tier -----------------------------------------------------------------------------


async def test_a_reward_for_silver_and_above_refuses_bronze_members_and_writes_nothing(api: API):
    await api.use_program(TEXT)
    bronze = await member_with(api, "bronze", 2499)
    error = await refused(api, "silver-lounge", bronze, "NOT_ELIGIBLE")
    assert error["message"] == "Silver lounge is for Silver members and above."
    # The member asking for itself is refused the same way.
    own = await api.mutate(
        "redeemReward",
        {"rewardId": reward_gid("silver-lounge"), "idempotencyKey": new_key()},
        "redemption { id }",
        as_=api.member("bronze"),
    )
    assert [e["code"] for e in own["userErrors"]] == ["NOT_ELIGIBLE"]
    assert await api.balance(bronze) == 2499
    # Unrestricted rewards are still open to it.
    await redeemed(api, "plant-a-tree", bronze)


async def test_a_reward_for_silver_and_above_accepts_silver_and_gold(api: API):
    await api.use_program(TEXT)
    silver = await member_with(api, "silver", 2500)  # the silver threshold exactly
    gold = await member_with(api, "gold", 10_000)
    assert (await redeemed(api, "silver-lounge", silver))["points"] == 100
    assert (await redeemed(api, "silver-lounge", gold))["points"] == 100
    # Once a bronze member's lifetime points reach silver, it may.
    climber = await member_with(api, "climber", 2400)
    await refused(api, "silver-lounge", climber, "NOT_ELIGIBLE")
    assert (await api.purchase(climber, "100"))["userErrors"] == []
    await redeemed(api, "silver-lounge", climber)
    assert await api.balance(climber) == 2400
    await assert_ledger_consistent()


# -- limits per member ------------------------------------------------------------------------


async def test_a_daily_limit_refuses_past_the_count_and_writes_nothing(api: API):
    await api.use_program(TEXT)
    ana = await member_with(api, "ana", 1000)
    await redeemed(api, "daily-treat", ana)
    await redeemed(api, "daily-treat", ana)
    error = await refused(api, "daily-treat", ana, "LIMIT_EXCEEDED")
    assert error["message"] == "Daily treat can be redeemed 2 times per day."
    assert await api.balance(ana) == 980
    # Per member: another member may still.
    bea = await member_with(api, "bea", 100)
    await redeemed(api, "daily-treat", bea)


async def test_a_daily_limit_starts_again_at_local_midnight(api: API, clock: ManualClock):
    await api.use_program(TEXT)
    ana = await member_with(api, "ana", 1000)
    clock.set("2026-03-10T21:50:00+00:00")  # 23:50 on 10 March in Bucharest
    await redeemed(api, "daily-treat", ana)
    await redeemed(api, "daily-treat", ana)
    await refused(api, "daily-treat", ana, "LIMIT_EXCEEDED")
    clock.set("2026-03-10T22:10:00+00:00")  # 00:10 on 11 March in Bucharest, 10 March in UTC
    await redeemed(api, "daily-treat", ana)
    await redeemed(api, "daily-treat", ana)
    await refused(api, "daily-treat", ana, "LIMIT_EXCEEDED")


async def test_a_monthly_limit_holds_for_the_month_and_starts_again_the_next(
    api: API, clock: ManualClock
):
    await api.use_program(TEXT)
    ana = await member_with(api, "ana", 1000)
    await redeemed(api, "monthly-gift", ana)
    error = await refused(api, "monthly-gift", ana, "LIMIT_EXCEEDED")
    assert error["message"] == "Monthly gift can be redeemed 1 time per month."
    # An hour into the first day of next month, in Bucharest.
    local = clock.now().astimezone(BUCHAREST)
    first = (local.replace(day=1) + timedelta(days=32)).replace(day=1)
    clock.set(datetime.combine(first.date(), time(1), BUCHAREST))
    await redeemed(api, "monthly-gift", ana)
    await refused(api, "monthly-gift", ana, "LIMIT_EXCEEDED")


async def test_cancelled_redemptions_do_not_count_towards_a_limit(api: API):
    await api.use_program(TEXT)
    ana = await member_with(api, "ana", 1000)
    tote = await redeemed(api, "welcome-tote", ana)
    error = await refused(api, "welcome-tote", ana, "LIMIT_EXCEEDED")
    assert error["message"] == "Welcome tote can be redeemed 1 time in all."
    assert (await api.cancel(tote["id"]))["userErrors"] == []
    await redeemed(api, "welcome-tote", ana)
    await refused(api, "welcome-tote", ana, "LIMIT_EXCEEDED")
    assert await api.balance(ana) == 990
    await assert_ledger_consistent()


async def test_simultaneous_redemptions_one_below_the_limit_give_exactly_one(api: API):
    await api.use_program(TEXT)
    ana = await member_with(api, "ana", 1000)
    await redeemed(api, "daily-treat", ana)
    payloads = await asyncio.gather(
        *(
            api.mutate(
                "redeemReward",
                {"rewardId": reward_gid("daily-treat"), "idempotencyKey": new_key()},
                "redemption { id status }",
                as_=api.member("ana"),
            )
            for _ in range(6)
        )
    )
    codes = sorted(p["userErrors"][0]["code"] if p["userErrors"] else "ok" for p in payloads)
    assert codes == ["LIMIT_EXCEEDED"] * 5 + ["ok"]
    found = await sql.row(
        sql.connection(),
        "SELECT COUNT(*) AS n FROM redemption WHERE reward_key = ?",
        ["daily-treat"],
    )
    assert found is not None
    assert int(found["n"]) == 2
    assert await api.balance(ana) == 980
    await assert_ledger_consistent()


# -- fulfilment -------------------------------------------------------------------------------


async def test_the_rewards_partner_fulfills_a_redemption_and_again_is_harmless(api: API):
    ana = await member_with(api, "ana", 1000)
    coffee = await redeemed(api, "coffee", ana)  # The Beanery's reward
    assert coffee["fulfilledAt"] is None
    done = await fulfill(api, coffee["id"], await api.partner("beanery"))
    assert done["userErrors"] == []
    assert done["redemption"]["status"] == "FULFILLED"
    fulfilled_at = done["redemption"]["fulfilledAt"]
    assert fulfilled_at is not None
    assert datetime.fromisoformat(fulfilled_at) >= datetime.fromisoformat(coffee["createdAt"])
    assert done["redemption"]["cancelledAt"] is None

    again = await fulfill(api, coffee["id"], api.admin())
    assert again["userErrors"] == []
    assert again["redemption"] == done["redemption"]
    again = await fulfill(api, coffee["id"], await api.partner("beanery"))
    assert again["redemption"]["fulfilledAt"] == fulfilled_at
    # The former spelling still works, for clients built before the rename.
    old = await fulfill(api, coffee["id"], api.admin(), name="fulfilRedemption")
    assert old == {"redemption": done["redemption"], "userErrors": []}
    assert await redemption_node(api, coffee["id"]) == done["redemption"]
    # The member sees it too, in its own redemptions.
    mine = await api.gql(
        "{ me { balance redemptions { nodes { id status fulfilledAt } } } }",
        as_=api.member("ana"),
    )
    assert mine["me"]["redemptions"]["nodes"] == [
        {"id": coffee["id"], "status": "FULFILLED", "fulfilledAt": fulfilled_at}
    ]
    assert mine["me"]["balance"] == 500


async def test_the_operator_fulfills_any_redemption(api: API):
    ana = await member_with(api, "ana", 1000)
    discount = await redeemed(api, "discount-10", ana)  # no partner's
    done = await fulfill(api, discount["id"], api.admin())
    assert done["userErrors"] == []
    assert done["redemption"]["status"] == "FULFILLED"
    assert done["redemption"]["fulfilledAt"] is not None


async def test_only_the_operator_and_the_rewards_partner_may_fulfilll(api: API):
    ana = await member_with(api, "ana", 2000)
    coffee = await redeemed(api, "coffee", ana)
    discount = await redeemed(api, "discount-10", ana)
    callers = {
        "another partner": await api.partner("skyways"),
        "the member": api.member("ana"),
        "anonymous": None,
    }
    for who, headers in callers.items():
        for redemption in (coffee, discount):
            payload = await fulfill(api, redemption["id"], headers)
            assert payload["redemption"] is None, who
            assert [e["code"] for e in payload["userErrors"]] == ["FORBIDDEN"], who
    # A partner may not fulfill a reward that is no partner's.
    payload = await fulfill(api, discount["id"], await api.partner("beanery"))
    assert [e["code"] for e in payload["userErrors"]] == ["FORBIDDEN"]
    for redemption in (coffee, discount):
        node = await redemption_node(api, redemption["id"])
        assert node["status"] == "ISSUED"
        assert node["fulfilledAt"] is None


async def test_a_fulfilled_redemption_can_no_longer_be_cancelled(api: API):
    ana = await member_with(api, "ana", 1000)
    coffee = await redeemed(api, "coffee", ana)
    assert (await fulfill(api, coffee["id"], api.admin()))["userErrors"] == []
    before = await table_counts()
    for headers in (api.member("ana"), api.admin()):
        payload = await api.cancel(coffee["id"], as_=headers)
        assert payload["transaction"] is None
        assert [e["code"] for e in payload["userErrors"]] == ["INVALID_STATE"]
        assert payload["userErrors"][0]["message"] == (
            "This redemption is fulfilled, so it cannot be cancelled."
        )
    assert await table_counts() == before
    assert await api.balance(ana) == 500
    assert (await redemption_node(api, coffee["id"]))["status"] == "FULFILLED"


async def test_a_cancelled_redemption_cannot_be_fulfilled(api: API):
    ana = await member_with(api, "ana", 1000)
    coffee = await redeemed(api, "coffee", ana)
    assert (await api.cancel(coffee["id"]))["userErrors"] == []
    for headers in (api.admin(), await api.partner("beanery")):
        payload = await fulfill(api, coffee["id"], headers)
        assert payload["redemption"] is None
        assert [e["code"] for e in payload["userErrors"]] == ["INVALID_STATE"]
    node = await redemption_node(api, coffee["id"])
    assert node["status"] == "CANCELLED"
    assert node["fulfilledAt"] is None
    assert node["cancelledAt"] is not None
    assert await api.balance(ana) == 1000


async def test_fulfilling_an_unknown_redemption_is_not_found(api: API):
    payload = await fulfill(api, ids.global_id("Redemption", 999_999), api.admin())
    assert [e["code"] for e in payload["userErrors"]] == ["NOT_FOUND"]
