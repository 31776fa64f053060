"""Challenges through the API: the public list, a member's progress in the current window, the
completion the consumer posts, who sees what, and a fixed number of statements."""

from __future__ import annotations

from app.consumers import consumers
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
