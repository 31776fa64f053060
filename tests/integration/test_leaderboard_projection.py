"""The projector and the rebuild agree: for any sequence of activity, the boards the projector
kept batch by batch are the boards a rebuild computes from SQL; replaying events changes
nothing; a flushed Redis is rebuilt as it was."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.runtime import prepare
from domain import actions, adjustments, members, preferences, purchases, sql
from domain.actors import Actor, ActorKind
from domain.program import BoardPeriod
from domain.program_file import load_program
from gamification import scores
from gamification.boards import Boards, BoardsUnavailable, Change, Expected, Refresh
from gamification.leaderboards import Leaderboards, kept_windows
from tests.helpers import Stores
from tests.leaderboard_helpers import BOARDS_PROGRAM, dump, project, replay

T = TypeVar("T")
ADMIN = Actor(ActorKind.ADMIN)
START = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)  # a Friday: weeks and a month turn over

# One step of activity: (kind, which member, amount, hours to wait before it).
steps = st.lists(
    st.tuples(
        st.sampled_from(["earn", "take", "review", "buy", "opt_out", "opt_in"]),
        st.integers(0, 3),
        st.integers(1, 400),
        st.sampled_from([0, 0, 0.01, 1, 20, 60]),
    ),
    min_size=1,
    max_size=12,
)
counter = itertools.count()
_latest = [START]


def _begin() -> datetime:
    return _latest[0] + timedelta(days=1)


def _ended(moment: datetime) -> None:
    _latest[0] = max(_latest[0], moment)


async def _act(program: Any, member_id: int, kind: str, amount: int, now: datetime) -> None:
    ref = members.MemberRef(id=member_id)
    key = f"k{next(counter)}"
    try:
        if kind == "earn":
            await adjustments.adjust(program, ADMIN, ref, amount, "earned", key, now=now)
        elif kind == "take":
            await adjustments.adjust(program, ADMIN, ref, -amount, "taken", key, now=now)
        elif kind == "review":
            await actions.record(program, ADMIN, ref, "REVIEW", key, key, now=now)
        elif kind == "buy":
            await purchases.record(
                program,
                ADMIN,
                purchases.PurchaseInput(
                    member=ref, order_id=key, amount=f"{amount}.00", currency="RON"
                ),
                key,
                now=now,
            )
        else:
            await preferences.set_leaderboard_opt_out(
                program, ADMIN, ref, kind == "opt_out", now=now
            )
    except Exception as error:  # a refusal (too few points to take) is part of the game
        if getattr(error, "code", None) is None:
            raise


async def _fresh(db: Stores) -> tuple[Any, Leaderboards, list[int]]:
    await db.redis.flushdb()
    program = await prepare(load_program(BOARDS_PROGRAM))
    boards = Leaderboards(Boards(db.redis, "{c}"), lambda: program)
    ids = []
    for _ in range(4):
        done = await members.enroll(
            program, ADMIN, members.Enrollment(external_id=f"p{next(counter)}"), None, now=START
        )
        ids.append(done.member.id)
    return program, boards, ids


async def test_for_any_activity_a_rebuild_equals_what_the_projector_kept(db: Stores):
    loop = asyncio.get_running_loop()

    def run(coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

    @settings(
        max_examples=20,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(steps)
    def agree(activity: list[tuple[str, int, int, float]]) -> None:
        run(_agree(db, activity))

    await asyncio.to_thread(agree)


async def _agree(db: Stores, activity: list[tuple[str, int, int, float]]) -> None:
    program, boards, ids = await _fresh(db)
    # Each example starts after everything earlier ones did: the database keeps their
    # activity, and the baseline rebuild must have seen all of it.
    now = _begin()
    await project(boards, now)
    await boards.rebuild(sql.connection(), now)
    for kind, who, amount, wait in activity:
        now += timedelta(hours=wait)
        await _act(program, ids[who], kind, amount, now)
        # Batches of any size: sometimes the projector waits for several steps.
        if amount % 3:
            await project(boards, now)
    await project(boards, now)
    _ended(now)
    kept = await dump(db.redis, boards)
    current = {
        boards.boards.key(b.key, window)
        for b in program.leaderboards
        for window in kept_windows(program, b, now)
    }
    incremental = {k: v for k, v in kept.items() if k in current and v}
    await db.redis.flushdb()
    await boards.rebuild(sql.connection(), now)
    assert await dump(db.redis, boards) == incremental


async def test_the_same_events_twice_leave_the_same_state(db: Stores):
    program, boards, ids = await _fresh(db)
    now = START
    for n, member_id in enumerate(ids):
        await _act(program, member_id, "earn", 100 * (n % 2 + 1), now)
        await _act(program, member_id, "review", 1, now)
        now += timedelta(minutes=30)
    await _act(program, ids[2], "opt_out", 0, now)
    await project(boards, now)
    once = await dump(db.redis, boards)
    assert len(once["{c}:lb:points:all"]) == 3
    # Every event handed over again, twice: nothing moves.
    await replay(boards, now)
    await replay(boards, now)
    assert await dump(db.redis, boards) == once
    # Nor from a Redis flushed in between (the projector rebuilds it first).
    await db.redis.flushdb()
    await replay(boards, now)
    assert await dump(db.redis, boards) == once


async def test_a_flushed_redis_is_rebuilt_as_it_was(db: Stores):
    program, boards, ids = await _fresh(db)
    now = START
    for n, member_id in enumerate(ids):
        await _act(program, member_id, "earn", 50 + n, now)
    await project(boards, now)
    before = await dump(db.redis, boards)
    await db.redis.flushdb()
    assert await dump(db.redis, boards) == {}
    await boards.rebuild(sql.connection(), now)
    assert await dump(db.redis, boards) == before


async def test_choosing_to_opt_out_is_an_event_once(db: Stores):
    program, _, ids = await _fresh(db)
    for choice in ("opt_out", "opt_out", "opt_in", "opt_in", "opt_out"):
        await _act(program, ids[0], choice, 0, START)
    found = await sql.rows(
        sql.connection(),
        "SELECT payload FROM outbox_event WHERE type = 'member.leaderboard_opt_out' ORDER BY id",
    )
    assert [sql.to_json(r["payload"])["optedOut"] for r in found] == [True, False, True]
    assert await preferences.opted_out(ids) == {ids[0]}


async def _evals(db: Stores) -> int:
    stats = await db.redis.info("commandstats")
    return int(stats.get("cmdstat_eval", {}).get("calls", 0))


async def test_a_reader_redis_is_up_to_date_for_is_answered_without_a_write(db: Stores):
    await db.redis.flushdb()
    boards = Boards(db.redis, "{c}")
    key = boards.key("points", scores.window(BoardPeriod.ALL_TIME, START, ZoneInfo("UTC")))
    await boards.apply([Change(key, 1, 500), Change(key, 2, 300)], {})
    asked: list[int] = []

    def expecting(value: int | None) -> Expected:
        async def compute() -> Refresh:
            asked.append(1)
            return Refresh((Change(key, 2, value),))

        return Expected(key, (2,), compute)

    before = await _evals(db)
    entry = await boards.entry(key, 2, expecting(300))
    assert entry is not None
    assert (entry.rank, entry.score) == (2, scores.score_of(300))
    assert await _evals(db) == before  # nothing to write: read once, no script

    entry = await boards.entry(key, 2, expecting(900))  # Redis lags: written, then read again
    assert entry is not None
    assert (entry.rank, entry.score) == (1, scores.score_of(900))
    assert await _evals(db) == before + 1
    assert await boards.entry(key, 2, expecting(None)) is None  # gone from SQL: removed
    assert await db.redis.zscore(key, "2") is None
    assert len(asked) == 3


async def test_a_reader_whose_redis_is_down_gets_unavailable_and_leaves_nothing_running():
    import redis.asyncio as aioredis

    down = Boards(aioredis.Redis(port=1, socket_connect_timeout=0.2), "{c}")
    cancelled = asyncio.Event()

    async def compute() -> Refresh:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return Refresh(())

    with pytest.raises(BoardsUnavailable):
        await down.entry("{c}:lb:points:all", 1, Expected("{c}:lb:points:all", (1,), compute))
    assert cancelled.is_set()
    await down.redis.aclose()


async def test_a_page_s_members_are_handed_over_while_the_reader_s_standings_are_computed(
    db: Stores,
):
    await db.redis.flushdb()
    boards = Boards(db.redis, "{c}")
    key = boards.key("points", scores.window(BoardPeriod.ALL_TIME, START, ZoneInfo("UTC")))
    await boards.apply([Change(key, m, 100 * m) for m in range(1, 6)], {})
    computed = asyncio.Event()
    heard: list[tuple[list[int], bool]] = []

    async def compute() -> Refresh:
        await asyncio.sleep(0.05)
        computed.set()
        return Refresh((Change(key, 3, 300),))

    async def meanwhile(members: list[int]) -> None:
        heard.append((members, computed.is_set()))

    page = await boards.top(key, 3, Expected(key, (3,), compute, meanwhile))
    assert [e.member_id for e in page.entries] == [5, 4, 3]
    assert heard == [([5, 4, 3], False)]  # before the standings came back
    heard.clear()
    computed.clear()
    page = await boards.around(key, 3, 1, 1, Expected(key, (3,), compute, meanwhile))
    assert page is not None
    assert [e.member_id for e in page.entries] == [4, 3, 2]
    assert heard == [([4, 3, 2], False)]
