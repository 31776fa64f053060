"""Challenges through the API: the public list, a member's progress in the current window, the
completion the consumer posts, who sees what, a fixed number of statements, and where members
stand (challenge and tier percentiles, null when Redis is down)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.asgi import create_app
from app.consumers import consumers
from app.runtime import Runtime
from domain.consumers import Runner
from tests.helpers import API, BASE_PROGRAM, ManualClock, count_statements
from tests.integration.test_challenge_engine import CHALLENGES, local

PROGRAM = BASE_PROGRAM.read_text() + CHALLENGES
NOW = local(2026, 12, 2, 12)  # Wednesday, in the week from Monday 30 November

PROGRESS = """
{ me { challenges { challenge { key name points recurrence weekStarts first }
                    startsAt endsAt progress completedAt slotsLeft
                    goals { goal { metric target currency action }
                            current target progress met } } } }
"""


async def drain(api: API) -> None:
    """What the server's runners do: every consumer handles the events committed so far."""
    for consumer in consumers(api.runtime):
        runner = Runner(consumer, api.runtime.clock)
        try:
            await runner.drain()
        finally:
            await runner.stop()


async def test_the_public_list_shows_each_challenge_with_its_current_window(api: API):
    await api.use_program(PROGRAM)
    api.use_clock(ManualClock(NOW))
    data = await api.gql(
        "{ challenges { id key name description points recurrence weekStarts first startsAt "
        "endsAt goals { metric target currency action } } }",
        as_=None,
    )
    explorer, reviewers = data["challenges"]
    assert explorer["key"] == "explorer"
    assert explorer["recurrence"] == "WEEK"
    assert explorer["weekStarts"] == "MONDAY"
    assert explorer["first"] is None
    assert explorer["startsAt"] == local(2026, 11, 30).isoformat()
    assert explorer["endsAt"] == local(2026, 12, 7).isoformat()
    assert explorer["goals"] == [
        {"metric": "PURCHASES", "target": "3", "currency": None, "action": None},
        {"metric": "PARTNERS", "target": "2", "currency": None, "action": None},
    ]
    assert reviewers["recurrence"] == "MONTH"
    assert reviewers["weekStarts"] is None
    assert reviewers["first"] == 2
    assert reviewers["goals"][0]["action"] == "REVIEW"
    assert reviewers["startsAt"] == local(2026, 12, 1).isoformat()
    found = await api.gql(
        "query($id: ID!) { node(id: $id) { ... on Challenge { key endsAt } } }",
        {"id": explorer["id"]},
    )
    assert found["node"] == {"key": "explorer", "endsAt": explorer["endsAt"]}


async def test_a_member_follows_its_progress_and_sees_the_completion(api: API):
    await api.use_program(PROGRAM)
    api.use_clock(ManualClock(NOW))
    ana = await api.enroll("ana")
    empty = (await api.gql(PROGRESS, as_=api.member("ana")))["me"]["challenges"]
    assert [c["progress"] for c in empty] == [0.0, 0.0]
    for partner in ("beanery", "beanery"):
        assert (await api.purchase(ana, "40", as_=await api.partner(partner)))["userErrors"] == []
    explorer = (await api.gql(PROGRESS, as_=api.member("ana")))["me"]["challenges"][0]
    assert [(g["current"], g["target"], g["met"]) for g in explorer["goals"]] == [
        ("2", "3", False),
        ("1", "2", False),
    ]
    assert explorer["progress"] == (2 / 3 + 1 / 2) / 2
    assert explorer["completedAt"] is None
    assert explorer["slotsLeft"] is None
    assert explorer["endsAt"] == local(2026, 12, 7).isoformat()

    assert (await api.purchase(ana, "40", as_=await api.partner("skyways")))["userErrors"] == []
    await drain(api)
    explorer = (await api.gql(PROGRESS, as_=api.member("ana")))["me"]["challenges"][0]
    assert explorer["progress"] == 1.0
    assert explorer["completedAt"] == NOW.isoformat()
    history = await api.gql(
        "{ me { transactions(first: 10) { nodes { kind points description "
        "breakdown { description } } } } }",
        as_={**api.member("ana"), "Accept-Language": "ro"},
    )
    bonus = [t for t in history["me"]["transactions"]["nodes"] if t["kind"] == "CHALLENGE"]
    assert bonus == [
        {
            "kind": "CHALLENGE",
            "points": 200,
            "description": "Challenge completed: Săptămâna exploratorului",
            "breakdown": [{"description": "Challenge completed: Săptămâna exploratorului"}],
        }
    ]


async def test_only_the_member_and_the_operator_see_its_challenges(api: API):
    await api.use_program(PROGRAM)
    api.use_clock(ManualClock(NOW))
    ana = await api.enroll("ana")
    assert (await api.purchase(ana, "40", as_=await api.partner("beanery")))["userErrors"] == []
    query = "query($id: ID!) { node(id: $id) { ... on Member { challenges { progress } } } }"
    operator = await api.gql(query, {"id": ana}, as_=api.admin())
    assert len(operator["node"]["challenges"]) == 2
    partner = await api.gql(query, {"id": ana}, as_=await api.partner("beanery"))
    assert partner["node"]["challenges"] == []


async def test_challenges_cost_the_same_statements_for_one_member_or_many(api: API):
    await api.use_program(PROGRAM)
    api.use_clock(ManualClock(NOW))
    listing = "{ members(first: 50) { nodes { challenges { progress completedAt slotsLeft } } } }"

    async def statements() -> int:
        with count_statements() as seen:
            await api.gql(listing, as_=api.admin())
        return len(seen)

    first = await api.enroll("m-0")
    assert (await api.purchase(first, "40", as_=await api.partner("beanery")))["userErrors"] == []
    one = await statements()
    for n in range(1, 12):
        member = await api.enroll(f"m-{n}")
        payload = await api.purchase(member, "40", as_=await api.partner("skyways"))
        assert payload["userErrors"] == []
    await drain(api)
    assert await statements() == one
    # The caller, the page of members, their purchases and actions in the window, the
    # completions and the slots: one statement each.
    assert one <= 6


# -- where members stand: percentiles from the challenge windows' sets ------------------------

STANDING = "challenges { challenge { key } progress percentile }"


async def standing(api: API, external_id: str, as_: dict[str, str] | None = None) -> dict:
    data = await api.gql(
        f"{{ me {{ {STANDING} tier {{ qualifyingAmount percentile }} }} }}",
        as_=as_ or api.member(external_id),
    )
    return {
        **{
            c["challenge"]["key"]: (c["progress"], c["percentile"])
            for c in data["me"]["challenges"]
        },
        "tier": (data["me"]["tier"]["qualifyingAmount"], data["me"]["tier"]["percentile"]),
    }


async def test_challenge_and_tier_percentiles_say_where_each_member_stands(api: API):
    await api.use_program(PROGRAM)
    api.use_clock(ManualClock(NOW))
    ana, bob = await api.enroll("ana"), await api.enroll("bob")
    await api.enroll("cid")
    beanery = await api.partner("beanery")
    for member, amounts in ((ana, ["40", "40"]), (bob, ["100"])):
        for amount in amounts:
            assert (await api.purchase(member, amount, as_=beanery))["userErrors"] == []
    await drain(api)
    # Ana's two purchases of three are ahead of Bob's one and Cid's none; Bob's 100 points
    # are ahead of Ana's 80 and Cid's none. Nobody has reviewed anything: ahead of nobody.
    assert await standing(api, "ana") == {
        "explorer": ((2 / 3 + 1 / 2) / 2, 100 * 2 / 3),
        "first-reviewers": (0.0, 0.0),
        "tier": (80, 100 / 3),
    }
    assert await standing(api, "bob") == {
        "explorer": ((1 / 3 + 1 / 2) / 2, 100 / 3),
        "first-reviewers": (0.0, 0.0),
        "tier": (100, 100 * 2 / 3),
    }
    assert (await standing(api, "cid"))["explorer"] == (0.0, 0.0)
    # The member's own progress is fresh from SQL at once: Cid's three purchases at two
    # partners finish the week, ahead of both, before the projector has them.
    skyways = await api.partner("skyways")
    cid = await api.gql("{ me { id } }", as_=api.member("cid"))
    for partner in (beanery, beanery, skyways):
        payload = await api.purchase(cid["me"]["id"], "10", as_=partner)
        assert payload["userErrors"] == []
    assert (await standing(api, "cid"))["explorer"] == (1.0, 100 * 2 / 3)
    # The others see it once the projector has it.
    await drain(api)
    assert (await standing(api, "ana"))["explorer"] == ((2 / 3 + 1 / 2) / 2, 100 / 3)


async def test_redis_down_leaves_challenge_and_tier_percentiles_null(
    api: API, stopped_redis: Any, caplog: pytest.LogCaptureFixture
):
    await api.use_program(PROGRAM)
    api.use_clock(ManualClock(NOW))
    ana = await api.enroll("ana")
    await api.enroll("bob")
    assert (await api.purchase(ana, "40", as_=await api.partner("beanery")))["userErrors"] == []
    await drain(api)
    up = await standing(api, "ana")
    assert up["explorer"][1] == 50.0
    assert up["tier"] == (40, 50.0)
    runtime = Runtime(api.runtime.program, stopped_redis, api.runtime.clock)
    app = create_app(api.settings, runtime)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://coalition.test"
    ) as client:
        down = API(client, api.settings, api.stores, runtime)
        query = f"{{ me {{ {STANDING} tier {{ qualifyingAmount percentile }} }} }}"
        response = await down.post(query, as_=down.member("ana"))
    assert response.status_code == 200
    answer = response.json()
    assert "errors" not in answer
    me = answer["data"]["me"]
    assert [(c["progress"], c["percentile"]) for c in me["challenges"]] == [
        (up["explorer"][0], None),
        (0.0, None),
    ]
    assert me["tier"] == {"qualifyingAmount": 40, "percentile": None}
    assert "percentiles left out" in caplog.text


async def test_percentiles_cost_one_redis_round_trip_and_none_unasked(api: API):
    await api.use_program(PROGRAM)
    api.use_clock(ManualClock(NOW))
    for n in range(5):
        member = await api.enroll(f"m-{n}")
        for _ in range(n % 3):
            assert (await api.purchase(member, "20"))["userErrors"] == []
    await drain(api)
    redis = api.runtime.redis
    asked = f"{{ members(first: 20) {{ nodes {{ {STANDING} tier {{ percentile }} }} }} }}"
    plain = (
        "{ members(first: 20) { nodes { challenges { progress } tier { progressTo: progress } } } }"
    )
    await redis.config_resetstat()
    await api.gql(plain, as_=api.admin())
    assert "cmdstat_exec" not in await redis.info("commandstats")
    await redis.config_resetstat()
    data = await api.gql(asked, as_=api.admin())
    stats = await redis.info("commandstats")
    # One MULTI ... EXEC for the challenges of every member on the page, one for their tiers
    # (each follows its own SQL), whatever the number of members.
    assert stats["cmdstat_exec"]["calls"] == 2
    assert stats["cmdstat_zcount"]["calls"] == 5 * 3
    nodes = data["members"]["nodes"]
    assert all(c["percentile"] is not None for m in nodes for c in m["challenges"])
    assert all(m["tier"]["percentile"] is not None for m in nodes)
