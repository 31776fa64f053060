"""Leaderboards through the API: ranks, ties, windows, privacy, opt-out, periods, Redis down."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import httpx
import pytest

from app.asgi import create_app
from app.runtime import Runtime, rebuild_lost_leaderboards
from domain import consumers, sql
from domain.program import BoardPeriod
from gamification import scores
from gamification.fanout import member_channel
from gamification.leaderboards import Projector
from tests.helpers import API, ManualClock, new_key
from tests.leaderboard_helpers import BOARDS_PROGRAM, dump, project, replay

BOARD = """query($b: String!, $p: LeaderboardPeriod, $f: Int, $a: ID, $s: DateTime) {
  leaderboard(board: $b, period: $p, first: $f, around: $a, periodStart: $s) {
    board period size archived periodStart
    entries { rank score percentile member { id displayName } }
  }
}"""
RANK = """query($id: ID!, $b: String!, $p: LeaderboardPeriod) {
  member(id: $id) { rank(board: $b, period: $p) { rank score percentile member { id } } }
}"""
MY_RANK = "{ me { leaderboardOptOut rank { rank score } week: rank(period: WEEK) { rank } } }"

# A Wednesday in week 48 of 2026, in the program's zone (Europe/Bucharest).
START = "2026-11-25T10:00:00+00:00"


async def setup(api: API) -> ManualClock:
    await api.use_program(BOARDS_PROGRAM)
    return api.use_clock(ManualClock(START))


async def board(api: API, name: str = "points", as_: dict[str, str] | None = None, **v: Any):
    data = await api.gql(BOARD, {"b": name, **v}, as_=as_ if as_ is not None else api.admin())
    return data["leaderboard"]


def ranking(found: dict[str, Any]) -> list[tuple[int, str, int]]:
    return [(e["rank"], e["member"]["displayName"], e["score"]) for e in found["entries"]]


async def test_the_earliest_to_reach_a_score_ranks_first(api: API):
    clock = await setup(api)
    ann, bob, cid = [await api.enroll(n, displayName=n.title()) for n in ("ann", "bob", "cid")]
    await api.adjust(bob, 100)
    clock.advance(hours=1)
    await api.adjust(ann, 100)
    clock.advance(hours=1)
    await api.adjust(cid, 300)
    await project(api.runtime.leaderboards, clock.now())

    for period in ("ALL_TIME", "WEEK", "MONTH"):
        found = await board(api, p=period)
        assert found["size"] == 3
        assert ranking(found) == [(1, "Cid", 300), (2, "Bob", 100), (3, "Ann", 100)], period
        assert [e["percentile"] for e in found["entries"]] == pytest.approx([200 / 3, 100 / 3, 0])

    # Ann passes Bob; a tie reached later still ranks after.
    clock.advance(hours=1)
    await api.adjust(ann, 50)
    await api.adjust(bob, 250)
    await project(api.runtime.leaderboards, clock.now())
    assert ranking(await board(api)) == [(1, "Bob", 350), (2, "Cid", 300), (3, "Ann", 150)]
    clock.advance(hours=1)
    await api.adjust(ann, 150)
    await project(api.runtime.leaderboards, clock.now())
    assert ranking(await board(api)) == [(1, "Bob", 350), (2, "Cid", 300), (3, "Ann", 300)]


async def test_a_member_sees_its_own_rank_at_once(api: API):
    """Read-your-writes: no projector has run, yet the member's next query counts it."""
    clock = await setup(api)
    others = [await api.enroll(f"other-{n}") for n in range(3)]
    for points, member in zip((500, 300, 100), others, strict=True):
        await api.adjust(member, points)
    await project(api.runtime.leaderboards, clock.now())
    me = await api.enroll("me", displayName="Me")
    await api.adjust(me, 400)

    mine = (await api.gql(MY_RANK, as_=api.member("me")))["me"]
    assert mine == {
        "leaderboardOptOut": False,
        "rank": {"rank": 2, "score": 400},
        "week": {"rank": 2},
    }
    found = await api.gql(RANK, {"id": me, "b": "points"}, as_=api.admin())
    assert found["member"]["rank"] == {
        "rank": 2,
        "score": 400,
        "percentile": 50.0,
        "member": {"id": me},
    }
    await api.adjust(me, 200)
    top = await board(api, as_=api.member("me"), f=1)
    assert ranking(top) == [(1, "Me", 600)]


async def test_around_a_member(api: API):
    clock = await setup(api)
    members = [await api.enroll(f"m{n}", displayName=f"M{n}") for n in range(7)]
    for n, member in enumerate(members):
        await api.adjust(member, 1000 - n * 100)
    await project(api.runtime.leaderboards, clock.now())
    found = await board(api, f=3, a=members[3])
    assert ranking(found) == [(3, "M2", 800), (4, "M3", 700), (5, "M4", 600)]
    assert found["size"] == 7
    assert ranking(await board(api, f=4, a=members[0])) == [
        (1, "M0", 1000),
        (2, "M1", 900),
        (3, "M2", 800),
    ]
    assert ranking(await board(api, f=3, a=members[6])) == [(6, "M5", 500), (7, "M6", 400)]
    nobody = await api.enroll("nobody")
    found = await board(api, f=3, a=nobody)
    assert found["entries"] == []
    assert found["size"] == 7


async def test_a_board_shows_public_fields_only(api: API):
    clock = await setup(api)
    ann = await api.enroll("ann-secret-id", displayName="Ann", email="ann@example.com")
    await api.adjust(ann, 10)
    await project(api.runtime.leaderboards, clock.now())

    found = await board(api, as_={})
    assert found["entries"][0]["member"] == {"id": ann, "displayName": "Ann"}
    partner = await api.partner("beanery")
    for caller in ({}, api.member("ann-secret-id"), partner):
        for fields in ("externalId", "email", "balance", "... on Member { externalId }"):
            body = await api.result(
                '{ leaderboard(board: "points") { entries { member { id ' + fields + " } } } }",
                as_=caller,
            )
            assert body["data"] is None
            assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", body
            assert "ann-secret-id" not in json.dumps(body)
    # Fragments are looked into too.
    body = await api.result(
        'query { leaderboard(board: "points") { entries { member { ...M } } } } '
        "fragment M on Member { displayName externalId }",
        as_={},
    )
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # The operator sees everyone whole.
    data = await api.gql(
        '{ leaderboard(board: "points") { entries { member { externalId } } } }', as_=api.admin()
    )
    assert data["leaderboard"]["entries"] == [{"member": {"externalId": "ann-secret-id"}}]


@pytest.mark.parametrize(
    ("variables", "field"),
    [
        ({"b": "nope"}, "board"),
        ({"b": "reviewers", "p": "WEEK"}, "period"),
        ({"b": "points", "f": 0}, "first"),
        ({"b": "points", "f": 101}, "first"),
        ({"b": "points", "p": "WEEK", "s": "2026-11-25T00:00:00+02:00"}, "periodStart"),
        ({"b": "points", "p": "WEEK", "s": "2027-01-04T00:00:00+02:00"}, "periodStart"),
        ({"b": "points", "s": "2026-11-23T00:00:00+02:00"}, "periodStart"),
    ],
)
async def test_what_is_not_kept_is_a_clear_error(api: API, variables: dict[str, Any], field: str):
    await setup(api)
    body = await api.result(BOARD, variables, as_={})
    assert body["data"] is None
    error = body["errors"][0]
    assert error["extensions"] == {"code": "INVALID_INPUT", "field": field}, error


async def test_an_unknown_board_on_a_member_is_a_clear_error(api: API):
    await setup(api)
    ann = await api.enroll("ann")
    body = await api.result(RANK, {"id": ann, "b": "nope"}, as_=api.admin())
    assert body["data"] == {"member": {"rank": None}}
    assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


async def test_opted_out_members_never_appear(api: API):
    clock = await setup(api)
    ann = await api.enroll("ann", displayName="Ann")
    bob = await api.enroll("bob", displayName="Bob")
    await api.adjust(ann, 100)
    await api.adjust(bob, 50)
    await project(api.runtime.leaderboards, clock.now())
    assert [e[1] for e in ranking(await board(api))] == ["Ann", "Bob"]

    done = await api.mutate(
        "setLeaderboardOptOut",
        {"optOut": True},
        "member { id leaderboardOptOut }",
        as_=api.member("ann"),
    )
    assert done == {"member": {"id": ann, "leaderboardOptOut": True}, "userErrors": []}
    # Removed at once, before any projector ran, from every board and period.
    assert ranking(await board(api)) == [(1, "Bob", 50)]
    assert ranking(await board(api, p="WEEK")) == [(1, "Bob", 50)]
    assert (await api.gql(MY_RANK, as_=api.member("ann")))["me"]["rank"] is None
    # Earning more, or replaying every event, does not bring Ann back.
    await api.adjust(ann, 1000)
    await project(api.runtime.leaderboards, clock.now())
    await replay(api.runtime.leaderboards, clock.now())
    assert ranking(await board(api)) == [(1, "Bob", 50)]
    assert await api.runtime.redis.zscore("{c}:lb:points:all", await _member_id("ann")) is None
    # Nor does another member's view of Ann.
    assert (await api.gql(MY_RANK, as_=api.member("ann")))["me"]["rank"] is None

    # Others cannot choose for her; the operator can.
    refused = await api.mutate(
        "setLeaderboardOptOut",
        {"memberId": ann, "optOut": False},
        "member { id }",
        as_=api.member("bob"),
    )
    assert refused["userErrors"][0]["code"] == "FORBIDDEN"
    back = await api.mutate(
        "setLeaderboardOptOut",
        {"memberId": ann, "optOut": False},
        "member { leaderboardOptOut }",
        as_=api.admin(),
    )
    assert back["member"] == {"leaderboardOptOut": False}
    assert ranking(await board(api)) == [(1, "Ann", 1100), (2, "Bob", 50)]
    # A partner that has dealt with Ann is not told her preference.
    skyways = await api.partner("skyways")
    assert (await api.purchase(ann, "10.00", as_=skyways))["userErrors"] == []
    seen = await api.gql(
        "query($id: ID!) { member(id: $id) { leaderboardOptOut } }", {"id": ann}, as_=skyways
    )
    assert seen == {"member": {"leaderboardOptOut": None}}


async def test_partner_and_action_boards(api: API):
    clock = await setup(api)
    ann = await api.enroll("ann", displayName="Ann")
    bob = await api.enroll("bob", displayName="Bob")
    skyways, beanery = await api.partner("skyways"), await api.partner("beanery")
    assert (await api.purchase(ann, "120.00", as_=skyways))["userErrors"] == []
    assert (await api.purchase(bob, "500.00", as_=beanery))["userErrors"] == []
    await api.adjust(bob, 10)
    for member, times in ((ann, 1), (bob, 2)):
        for _ in range(times):
            done = await api.mutate(
                "recordAction",
                {
                    "memberId": member,
                    "action": "REVIEW",
                    "reference": new_key(),
                    "idempotencyKey": new_key(),
                },
                "transaction { id }",
                as_=api.admin(),
            )
            assert done["userErrors"] == [], done
    await project(api.runtime.leaderboards, clock.now())

    assert ranking(await board(api, "skyways")) == [(1, "Ann", 120)]
    assert ranking(await board(api, "reviewers", p="MONTH")) == [(1, "Bob", 2), (2, "Ann", 1)]
    # Points: purchases, the adjustment and the reviews' points (50 each).
    assert ranking(await board(api)) == [(1, "Bob", 610), (2, "Ann", 170)]


async def test_spending_does_not_move_points_earned(api: API):
    clock = await setup(api)
    ann = await api.enroll("ann", displayName="Ann")
    await api.adjust(ann, 1000)
    redeemed = await api.redeem("coffee", member_id=ann)
    assert redeemed["userErrors"] == [], redeemed
    await api.adjust(ann, -100)
    await project(api.runtime.leaderboards, clock.now())
    assert ranking(await board(api)) == [(1, "Ann", 900)]


async def _member_id(external_id: str) -> int:
    found = await sql.row(
        sql.connection(), "SELECT id FROM member WHERE external_id = ?", [external_id]
    )
    assert found is not None
    return int(found["id"])


async def test_a_rank_that_moves_is_published_on_the_members_channel(api: API):
    clock = await setup(api)
    ann = await api.enroll("ann")
    bob = await api.enroll("bob")
    await api.adjust(ann, 100)
    await project(api.runtime.leaderboards, clock.now())
    bob_id = await _member_id("bob")
    pubsub = api.runtime.redis.pubsub()
    await pubsub.subscribe(member_channel("{c}", bob_id))
    await pubsub.get_message(timeout=1)  # the subscription's confirmation
    await api.adjust(bob, 200)
    await project(api.runtime.leaderboards, clock.now())
    got = []
    for _ in range(10):
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
        if message is None:
            break
        got.append(json.loads(message["data"]))
    await pubsub.aclose()
    assert {
        "id": None,
        "type": "rank.changed",
        "memberId": bob_id,
        "transactionId": None,
        "payload": {"board": "points", "period": "ALL_TIME", "rank": 1, "previousRank": None},
    } in got
    assert {m["payload"]["period"] for m in got} == {"ALL_TIME", "WEEK", "MONTH"}


async def test_rank_moves_are_published_only_to_members_someone_watches(api: API):
    # A pattern subscriber sees every message published, but is not counted as watching any
    # one member's channel: it sees the moves of the member watched, and nobody else's.
    clock = await setup(api)
    ann = await api.enroll("ann")
    bob = await api.enroll("bob")
    ann_id, bob_id = await _member_id("ann"), await _member_id("bob")
    await project(api.runtime.leaderboards, clock.now())  # the first builds the boards
    watcher = api.runtime.redis.pubsub()
    await watcher.subscribe(member_channel("{c}", bob_id))
    everything = api.runtime.redis.pubsub()
    await everything.psubscribe(member_channel("{c}", "*"))  # type: ignore[arg-type]
    for subscribed in (watcher, everything):
        assert (await subscribed.get_message(timeout=1)) is not None  # the confirmation
    await api.adjust(ann, 100)
    await api.adjust(bob, 200)
    await project(api.runtime.leaderboards, clock.now())
    await api.runtime.redis.publish(member_channel("{c}", ann_id), "sentinel")
    seen = []
    while message := await everything.get_message(ignore_subscribe_messages=True, timeout=5):
        if message["data"] == "sentinel":
            break
        seen.append(json.loads(message["data"]))
    await watcher.aclose()
    await everything.aclose()
    assert {(m["memberId"], m["type"]) for m in seen} == {(bob_id, "rank.changed")}
    assert {m["payload"]["period"] for m in seen} == {"ALL_TIME", "WEEK", "MONTH"}


async def test_a_closed_period_is_archived_and_its_key_expires(api: API):
    clock = await setup(api)
    ann = await api.enroll("ann", displayName="Ann")
    bob = await api.enroll("bob", displayName="Bob")
    await api.adjust(ann, 300)
    await api.adjust(bob, 200)
    await project(api.runtime.leaderboards, clock.now())
    week = scores.window(BoardPeriod.WEEK, clock.now(), api.runtime.program.zone)
    key = f"{{c}}:lb:points:{week.code}"
    left = (week.end + scores.GRACE - clock.now()).total_seconds()  # type: ignore[operator]
    assert left - 5 <= await api.runtime.redis.ttl(key) <= left
    assert await api.runtime.redis.ttl("{c}:lb:points:all") == -1

    # The next week: Bob earns; the first batch after the rollover archives last week.
    clock.set(week.end + timedelta(hours=1))  # type: ignore[operator]
    await api.adjust(bob, 5)
    await project(api.runtime.leaderboards, clock.now())
    this_week = await board(api, p="WEEK")
    assert ranking(this_week) == [(1, "Bob", 5)]
    assert this_week["archived"] is False
    closed = await board(api, p="WEEK", s=week.start.isoformat())
    assert closed["archived"] is True
    assert closed["periodStart"] == week.start.isoformat()
    assert ranking(closed) == [(1, "Ann", 300), (2, "Bob", 200)]
    assert [e["percentile"] for e in closed["entries"]] == [None, None]
    # Archiving twice keeps one copy.
    await project(api.runtime.leaderboards, clock.now())
    rows = await sql.rows(
        sql.connection(), "SELECT rank FROM leaderboard_archive WHERE period = 'WEEK'"
    )
    assert sorted(r["rank"] for r in rows) == [1, 2]
    # The month goes on: November holds both weeks.
    assert ranking(await board(api, p="MONTH")) == [(1, "Ann", 300), (2, "Bob", 205)]


async def test_a_lost_redis_is_rebuilt_at_start(api: API):
    clock = await setup(api)
    members = [await api.enroll(f"m{n}", displayName=f"M{n}") for n in range(4)]
    for n, member in enumerate(members):
        await api.adjust(member, 100 * (n + 1))
        clock.advance(minutes=30)
    boards = api.runtime.leaderboards
    await project(boards, clock.now())
    await boards.rebuild(sql.connection(), clock.now())
    before = await dump(api.runtime.redis, boards)
    assert len(before["{c}:lb:points:all"]) == 4

    await api.runtime.redis.flushdb()
    await rebuild_lost_leaderboards(api.runtime)
    assert await dump(api.runtime.redis, boards) == before
    generation = await boards.boards.generation()
    assert generation is not None
    # With the generation there, starting again rebuilds nothing.
    await rebuild_lost_leaderboards(api.runtime)
    assert await boards.boards.generation() == generation
    # The projector notices a flush too, before it writes.
    await api.runtime.redis.flushdb()
    await replay(boards, clock.now())
    assert await dump(api.runtime.redis, boards) == before


async def test_redis_down_fails_rank_queries_clearly_and_points_still_move(
    api: API, stopped_redis: Any
):
    await setup(api)
    ann = await api.enroll("ann")
    runtime = Runtime(api.runtime.program, stopped_redis, api.runtime.clock)
    app = create_app(api.settings, runtime)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://coalition.test"
    ) as client:
        down = API(client, api.settings, api.stores, runtime)
        adjusted = await down.adjust(ann, 70)
        assert adjusted["userErrors"] == []
        assert adjusted["member"]["balance"] == 70
        opted = await down.mutate(
            "setLeaderboardOptOut", {"optOut": True}, "member { id }", as_=down.member("ann")
        )
        assert opted["userErrors"] == []
        for query, variables, caller in (
            (BOARD, {"b": "points"}, down.admin()),
            (BOARD, {"b": "points"}, {}),
            (RANK, {"id": ann, "b": "points"}, down.admin()),
            (MY_RANK, {}, down.member("ann")),
        ):
            response = await down.post(query, variables, as_=caller)
            assert response.status_code == 200
            errors = response.json()["errors"]
            assert errors[0]["extensions"]["code"] == "LEADERBOARD_UNAVAILABLE", errors
    # Back up: the projector takes both changes over from their events.
    await project(api.runtime.leaderboards, api.runtime.clock.now())
    assert (await board(api))["size"] == 0
    await api.mutate(
        "setLeaderboardOptOut", {"optOut": False}, "member { id }", as_=api.member("ann")
    )
    assert ranking(await board(api)) == [(1, None, 70)]


async def test_the_projector_keeps_the_boards_as_the_server_runs_it(api: API):
    """Its runner, woken by each commit, brings every member's change to the board."""
    clock = await setup(api)
    runner = consumers.Runner(Projector(api.runtime.leaderboards), clock, poll_seconds=0.05)
    runner.start()
    try:
        ann = await api.enroll("ann", displayName="Ann")
        bob = await api.enroll("bob", displayName="Bob")
        await api.adjust(ann, 40)
        await api.adjust(bob, 90)
        for _ in range(200):
            if ranking(await board(api)) == [(1, "Bob", 90), (2, "Ann", 40)]:
                break
            await asyncio.sleep(0.05)
        assert ranking(await board(api)) == [(1, "Bob", 90), (2, "Ann", 40)]
    finally:
        await runner.stop()
    found = await consumers.checkpoint(sql.connection(), "leaderboards")
    assert found is not None
    assert found.failures == 0
    assert found.handled >= 4
