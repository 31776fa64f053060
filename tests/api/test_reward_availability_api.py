"""Reward.availability: what redeeming would answer now, for the calling member.

The base program gets rewards with every rule redeem applies: a minimum tier, a per-member limit
per day and for a lifetime, a small stock; and purchase points wait 14 days, so that a member
can have points that count for nothing yet. Each reason is tried on its own and against the
others (redeem reports the tier first, then the points, the member's own limit, the stock); a
property test then walks random states and checks, before every redemption, that availability
said exactly what redeemReward went on to answer.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from domain import jobs, sql
from tests.helpers import (
    API,
    BASE_PROGRAM,
    ManualClock,
    count_statements,
    new_key,
    reward_gid,
)

T = TypeVar("T")

HOLD_DAYS = 14
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
key = "last-few"
name = "The last few"
points_cost = 50
stock = 2
limit = { count = 1, period = "lifetime" }

[[rewards]]
key = "gold-suite"
name = "Gold suite"
points_cost = 20000
min_tier = "gold"
stock = 1
"""
TEXT = (
    BASE_PROGRAM.read_text().replace("[purchases]\n", f"[purchases]\npending_days = {HOLD_DAYS}\n")
    + REWARDS
)
COSTS = {
    "coffee": 500,
    "discount-10": 1000,
    "plant-a-tree": 300,
    "book-voucher": 2500,
    "lounge-pass": 8000,
    "limited-tote": 1500,
    "silver-lounge": 100,
    "daily-treat": 10,
    "last-few": 50,
    "gold-suite": 20000,
}

CATALOG = """{ rewards(first: 100) { nodes { key pointsCost
  availability { canRedeem reason pointsShort } } } }"""


@pytest.fixture
async def clock(api: API) -> ManualClock:
    await api.use_program(TEXT)
    return api.use_clock(ManualClock("2026-03-02T10:00:00+00:00"))


async def availability(api: API, external_id: str) -> dict[str, dict[str, Any]]:
    data = await api.gql(CATALOG, as_=api.member(external_id))
    found = {n["key"]: n["availability"] for n in data["rewards"]["nodes"]}
    for key, seen in found.items():
        assert (seen["reason"] is None) == seen["canRedeem"], (key, seen)
    return found


async def redeem(api: API, external_id: str, reward: str) -> dict[str, Any]:
    return await api.mutate(
        "redeemReward",
        {"rewardId": reward_gid(reward), "idempotencyKey": new_key()},
        "redemption { id }",
        as_=api.member(external_id),
    )


async def outcome(api: API, external_id: str, reward: str) -> str | None:
    """What redeeming answers: None for a success, else its userError code."""
    payload = await redeem(api, external_id, reward)
    return payload["userErrors"][0]["code"] if payload["userErrors"] else None


async def member_with(api: API, external_id: str, points: int) -> str:
    member = await api.enroll(external_id)
    if points:
        assert (await api.adjust(member, points))["userErrors"] == []
    return member


def said(can: bool, reason: str | None, short: int) -> dict[str, Any]:
    return {"canRedeem": can, "reason": reason, "pointsShort": short}


async def assert_foretold(api: API, external_id: str, reward: str, expected: dict) -> None:
    """Availability says `expected`, and redeeming then answers just that."""
    assert (await availability(api, external_id))[reward] == expected
    assert await outcome(api, external_id, reward) == expected["reason"]


# -- each reason --------------------------------------------------------------------------------


async def test_enough_points_and_nothing_in_the_way(api: API, clock: ManualClock):
    await member_with(api, "ana", 600)
    await assert_foretold(api, "ana", "plant-a-tree", said(True, None, 0))
    # 300 left: the coffee is 200 short, and redeem says so.
    await assert_foretold(api, "ana", "coffee", said(False, "INSUFFICIENT_POINTS", 200))
    await assert_foretold(api, "ana", "discount-10", said(False, "INSUFFICIENT_POINTS", 700))
    await assert_foretold(api, "ana", "plant-a-tree", said(True, None, 0))
    assert (await availability(api, "ana"))["daily-treat"] == said(False, "INSUFFICIENT_POINTS", 10)


async def test_below_the_minimum_tier_is_not_eligible_before_anything_else(
    api: API, clock: ManualClock
):
    ana = await member_with(api, "ana", 2400)  # bronze, with points enough for the lounge
    await assert_foretold(api, "ana", "silver-lounge", said(False, "NOT_ELIGIBLE", 0))
    # Short of points too: the tier is what redeem reports, and the shortfall is still told.
    await assert_foretold(api, "ana", "gold-suite", said(False, "NOT_ELIGIBLE", 17_600))
    # 100 more make silver.
    assert (await api.adjust(ana, 100))["userErrors"] == []
    await assert_foretold(api, "ana", "silver-lounge", said(True, None, 0))


async def test_pending_points_open_no_tier_and_spend_nothing(api: API, clock: ManualClock):
    ana = await member_with(api, "ana", 2400)
    assert (await api.purchase(ana, "200"))["userErrors"] == []  # 200 pending
    seen = await availability(api, "ana")
    assert seen["silver-lounge"] == said(False, "NOT_ELIGIBLE", 0)
    # 2,400 spendable, whatever is on its way.
    assert seen["book-voucher"] == said(False, "INSUFFICIENT_POINTS", 100)
    assert await outcome(api, "ana", "book-voucher") == "INSUFFICIENT_POINTS"
    clock.advance(days=HOLD_DAYS, minutes=1)
    await jobs.run_all(api.runtime.program, clock.now())
    await assert_foretold(api, "ana", "silver-lounge", said(True, None, 0))
    await assert_foretold(api, "ana", "book-voucher", said(True, None, 0))


async def test_a_limit_already_used_up_is_limit_exceeded_until_its_period_ends(
    api: API, clock: ManualClock
):
    await member_with(api, "ana", 1000)
    await assert_foretold(api, "ana", "daily-treat", said(True, None, 0))
    await assert_foretold(api, "ana", "daily-treat", said(True, None, 0))
    await assert_foretold(api, "ana", "daily-treat", said(False, "LIMIT_EXCEEDED", 0))
    # Another member's limit is its own.
    await member_with(api, "bea", 100)
    assert (await availability(api, "bea"))["daily-treat"] == said(True, None, 0)
    clock.advance(days=1)
    await assert_foretold(api, "ana", "daily-treat", said(True, None, 0))


async def test_points_come_before_the_limit(api: API, clock: ManualClock):
    await member_with(api, "ana", 20)
    assert await outcome(api, "ana", "daily-treat") is None
    assert await outcome(api, "ana", "daily-treat") is None
    # Used up and no points left: redeem reports the points first.
    await assert_foretold(api, "ana", "daily-treat", said(False, "INSUFFICIENT_POINTS", 10))


async def test_a_stock_gone_is_out_of_stock_after_the_members_own_limit(
    api: API, clock: ManualClock
):
    await member_with(api, "ana", 1000)
    await member_with(api, "bea", 1000)
    await member_with(api, "cara", 1000)
    await assert_foretold(api, "ana", "last-few", said(True, None, 0))
    await assert_foretold(api, "bea", "last-few", said(True, None, 0))
    # Two units, both out: cara cannot; ana already had hers, which redeem reports first.
    await assert_foretold(api, "cara", "last-few", said(False, "OUT_OF_STOCK", 0))
    await assert_foretold(api, "ana", "last-few", said(False, "LIMIT_EXCEEDED", 0))
    # A cancelled redemption gives its unit back, and counts no more against bea's limit.
    bea = (await api.gql("{ me { redemptions { nodes { id } } } }", as_=api.member("bea")))["me"]
    [redemption] = bea["redemptions"]["nodes"]
    assert (await api.cancel(redemption["id"], as_=api.member("bea")))["userErrors"] == []
    assert (await availability(api, "bea"))["last-few"] == said(True, None, 0)
    await assert_foretold(api, "cara", "last-few", said(True, None, 0))
    assert (await availability(api, "bea"))["last-few"] == said(False, "OUT_OF_STOCK", 0)


# -- who gets an answer -------------------------------------------------------------------------


async def test_only_the_calling_member_gets_an_availability(api: API, clock: ManualClock):
    ana = await member_with(api, "ana", 600)
    callers = {
        "anonymous": None,
        "partner": await api.partner("beanery"),
        "operator": api.admin(),
        "a member not enrolled yet": api.member("nobody-yet"),
    }
    node = "query($id: ID!) { node(id: $id) { ... on Reward { availability { canRedeem } } } }"
    for caller, headers in callers.items():
        data = await api.gql(CATALOG, as_=headers)
        assert {n["availability"] is None for n in data["rewards"]["nodes"]} == {True}, caller
        one = await api.gql(node, {"id": reward_gid("coffee")}, as_=headers)
        assert one["node"] == {"availability": None}, caller
    one = await api.gql(node, {"id": reward_gid("coffee")}, as_=api.member("ana"))
    assert one["node"] == {"availability": {"canRedeem": True}}
    # The operator redeeming for ana is told nothing of ana's standing in the payload.
    done = await api.mutate(
        "redeemReward",
        {"memberId": ana, "rewardId": reward_gid("plant-a-tree"), "idempotencyKey": new_key()},
        "redemption { reward { availability { canRedeem } } }",
        as_=api.admin(),
    )
    assert done["redemption"] == {"reward": {"availability": None}}
    # The member redeeming for itself is told what it can do next: 300 left, not enough again
    # for the coffee.
    done = await api.mutate(
        "redeemReward",
        {"rewardId": reward_gid("plant-a-tree"), "idempotencyKey": new_key()},
        "redemption { reward { availability { canRedeem reason pointsShort } } }",
        as_=api.member("ana"),
    )
    assert done["redemption"]["reward"]["availability"] == said(False, "INSUFFICIENT_POINTS", 300)


# -- a fixed number of statements ---------------------------------------------------------------


def catalogue_of(extra: int) -> str:
    """The program with `extra` more rewards, each with a stock, a limit and a minimum tier."""
    more = "".join(
        f'\n[[rewards]]\nkey = "extra-{n}"\nname = "Extra {n}"\npoints_cost = {10 + n}\n'
        f'stock = 5\nlimit = {{ count = 1, period = "month" }}\nmin_tier = "silver"\n'
        for n in range(extra)
    )
    return TEXT + more


async def catalogue_statements(api: API, extra: int) -> int:
    await api.use_program(catalogue_of(extra))
    with count_statements() as statements:
        data = await api.gql(CATALOG, as_=api.member("ana"))
    nodes = data["rewards"]["nodes"]
    assert len(nodes) == 10 + extra
    assert all(n["availability"] is not None for n in nodes)
    return len(statements)


async def test_a_page_of_rewards_costs_the_same_few_statements_as_one(api: API, clock: ManualClock):
    ana = await member_with(api, "ana", 5000)
    few = await catalogue_statements(api, 1)
    for _ in range(3):
        assert await outcome(api, "ana", "daily-treat") in (None, "LIMIT_EXCEEDED")
        assert await outcome(api, "ana", "last-few") in (None, "LIMIT_EXCEEDED")
    assert (await api.purchase(ana, "100"))["userErrors"] == []
    many = await catalogue_statements(api, 60)
    assert many == few
    # The caller with its wallet, redemptions in each limit's period, stock left.
    assert few <= 3


# -- availability foretells redeemReward, whatever the state -------------------------------------

REDEEM = st.tuples(st.just("redeem"), st.sampled_from(sorted(COSTS)))
LIMITED = st.tuples(st.just("redeem"), st.sampled_from(["daily-treat", "last-few", "gold-suite"]))
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("earn"), st.integers(1, 3000)),
        st.tuples(st.just("spend"), st.integers(1, 3000)),
        st.tuples(st.just("pending"), st.integers(1, 3000)),
        st.tuples(st.just("release"), st.just("")),
        st.tuples(st.just("next day"), st.just("")),
        st.tuples(st.just("cancel"), st.just("")),
        st.tuples(st.just("taken by another"), st.sampled_from(["last-few", "gold-suite"])),
        REDEEM,
        REDEEM,
        LIMITED,
        LIMITED,
    ),
    min_size=1,
    max_size=16,
)
START = st.fixed_dictionaries(
    {
        "points": st.integers(0, 25_000),
        "last-few": st.integers(0, 2),  # units already gone
        "gold-suite": st.integers(0, 1),
    }
)


async def _walk(
    api: API, clock: ManualClock, start: dict[str, int], steps: list[tuple[str, Any]], n: int
) -> set[str]:
    """Plays `steps` for a new member starting with `start`; before every redemption, checks
    that availability said what redeemReward answered. Returns the answers seen."""
    # The stock counters as `start` says (nothing else reads them here).
    for reward in ("last-few", "gold-suite"):
        await sql.execute(
            sql.connection(),
            "UPDATE reward_stock SET issued = ? WHERE reward_key = ?",
            [start[reward], reward],
        )
    name = f"walker-{n}"
    member = await member_with(api, name, start["points"])
    other = await member_with(api, f"other-{n}", 100_000)
    redeemed: list[str] = []
    seen: set[str] = set()
    for step, arg in steps:
        if step == "earn":
            assert (await api.adjust(member, arg))["userErrors"] == []
        elif step == "spend":
            balance = await api.balance(member)
            if balance:
                assert (await api.adjust(member, -min(arg, balance)))["userErrors"] == []
        elif step == "pending":
            assert (await api.purchase(member, str(arg)))["userErrors"] == []
        elif step == "release":
            clock.advance(days=HOLD_DAYS, minutes=1)
            await jobs.run_all(api.runtime.program, clock.now())
        elif step == "next day":
            clock.advance(days=1)
        elif step == "cancel":
            if redeemed:
                assert (await api.cancel(redeemed.pop(), as_=api.member(name)))["userErrors"] == []
        elif step == "taken by another":
            await api.redeem(arg, member_id=other)
        else:
            told = (await availability(api, name))[arg]
            balance = await api.balance(member)
            assert told["pointsShort"] == max(COSTS[arg] - balance, 0), (arg, told, balance)
            payload = await redeem(api, name, arg)
            answer = payload["userErrors"][0]["code"] if payload["userErrors"] else None
            assert answer == told["reason"], (arg, told, payload)
            seen.add(answer or "REDEEMED")
            if answer is None:
                redeemed.append(payload["redemption"]["id"])
    return seen


async def test_availability_says_what_redeem_then_answers_in_any_state(
    api: API, clock: ManualClock
):
    loop = asyncio.get_running_loop()
    counter = itertools.count()
    answers: set[str] = set()

    def run(coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

    @settings(
        max_examples=60,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(start=START, steps=STEPS)
    # Walks that surely meet several answers, whatever the random ones meet: a redemption, a
    # daily limit, stock gone, and 10 points short.
    @example(
        start={"points": 30, "last-few": 2, "gold-suite": 0},
        steps=[("redeem", "daily-treat")] * 3 + [("redeem", "last-few")] * 2,
    )
    def walk(start: dict[str, int], steps: list[tuple[str, Any]]) -> None:
        answers.update(run(_walk(api, clock, start, steps, next(counter))))

    await asyncio.to_thread(walk)
    # The walks met several kinds of answer (the tests above try each one on purpose).
    assert len(answers) >= 3, answers
