"""The progress projector and the rebuild agree: the badge metrics' sorted sets the projector
kept batch by batch are the ones a rebuild computes from SQL; replaying events changes
nothing; a flushed Redis is rebuilt as it was; a Redis that fails holds back the batch."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import storage
from app.embedded_redis import EmbeddedRedis
from app.runtime import prepare
from domain import actions, adjustments, consumers, members, purchases, sql
from domain.actors import Actor, ActorKind
from domain.program_file import load_program
from gamification import badge_engine
from gamification.boards import Boards, BoardsUnavailable
from gamification.progress import NAME, Progress
from tests.helpers import Stores
from tests.progress_helpers import BADGES_PROGRAM, dump, project, replay

T = TypeVar("T")
ADMIN = Actor(ActorKind.ADMIN)
START = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)

# One step of activity: (kind, which member, amount).
steps = st.lists(
    st.tuples(
        st.sampled_from(["earn", "take", "take_all", "review", "buy"]),
        st.integers(0, 3),
        st.integers(1, 400),
    ),
    min_size=1,
    max_size=10,
)
counter = itertools.count()


async def _act(program: Any, member_id: int, kind: str, amount: int, now: datetime) -> None:
    ref = members.MemberRef(id=member_id)
    key = f"pk{next(counter)}"
    try:
        if kind == "earn":
            await adjustments.adjust(program, ADMIN, ref, amount, "earned", key, now=now)
        elif kind == "take":
            await adjustments.adjust(program, ADMIN, ref, -amount, "taken", key, now=now)
        elif kind == "review":
            await actions.record(program, ADMIN, ref, "REVIEW", key, key, now=now)
        else:
            await purchases.record(
                program,
                ADMIN,
                purchases.PurchaseInput(
                    member=ref, order_id=key, amount=f"{amount}.00", currency="RON"
                ),
                key,
                now=now,
            )
    except Exception as error:  # a refusal (too few points to take) is part of the game
        if getattr(error, "code", None) is None:
            raise


async def _enroll(program: Any, now: datetime) -> int:
    done = await members.enroll(
        program, ADMIN, members.Enrollment(external_id=f"pm{next(counter)}"), None, now=now
    )
    return done.member.id


async def _fresh(db: Stores, enrolled: int = 4) -> tuple[Any, Progress, list[int]]:
    await db.redis.flushdb()
    program = await prepare(load_program(BADGES_PROGRAM))
    progress = Progress(Boards(db.redis, "{c}"), lambda: program)
    return program, progress, [await _enroll(program, START) for _ in range(enrolled)]


async def _metrics(program: Any, ids: list[int], now: datetime) -> dict[int, dict[str, int]]:
    found = await badge_engine.snapshots(sql.connection(), program, ids, now)
    return {m: {b.metric: found[m].metrics.value(b.metric) for b in program.badges} for m in ids}


async def test_the_projector_writes_each_members_metrics_absolute(db: Stores):
    program, progress, (ana, bob, cid) = await _fresh(db, 3)
    await _act(program, ana, "buy", 120, START)
    await _act(program, ana, "buy", 30, START)
    await _act(program, bob, "buy", 40, START)
    await _act(program, bob, "review", 1, START)
    await project(progress, START)
    redis = db.redis
    assert await redis.zrange("{c}:pm:purchases", 0, -1, withscores=True) == [
        (str(bob), 1.0),
        (str(ana), 2.0),
    ]
    assert await redis.zrange("{c}:pm:spend:RON", 0, -1, withscores=True) == [
        (str(bob), 40.0),
        (str(ana), 150.0),
    ]
    assert await redis.zrange("{c}:pm:actions:REVIEW", 0, -1, withscores=True) == [(str(bob), 1.0)]
    # Cid did nothing: on no set, but among the members.
    assert await redis.get("{c}:pm:population") == "3"
    earned = await _metrics(program, [ana, bob, cid], START)
    for member in (ana, bob, cid):
        value = earned[member]["points_earned"]
        assert await redis.zscore("{c}:pm:points_earned", str(member)) == (value or None)
    # What is taken back goes down, absolute; a value back to 0 leaves its set.
    await _act(program, bob, "take", earned[bob]["points_earned"], START)
    await _act(program, ana, "take", 1, START)
    await project(progress, START)
    assert await redis.zscore("{c}:pm:points_earned", str(bob)) is None
    assert await redis.zscore("{c}:pm:points_earned", str(ana)) == earned[ana]["points_earned"] - 1
    # A new member counts at once in the population.
    await _enroll(program, START)
    await project(progress, START)
    assert await redis.get("{c}:pm:population") == "4"
    # And percentiles read from it: Ana's two purchases are ahead of Bob's one and the two
    # members without any.
    (mine,) = await progress.percentiles([(ana, {"purchases": 2, "spend:RON": 150})])
    assert mine == {"purchases": 75.0, "spend:RON": 75.0}
    (his,) = await progress.percentiles([(cid, {"purchases": 0})])
    assert his == {"purchases": 0.0}


async def test_the_same_events_twice_leave_the_same_state(db: Stores):
    program, progress, ids = await _fresh(db)
    for n, member_id in enumerate(ids):
        await _act(program, member_id, "earn", 100 * (n % 2 + 1), START)
        await _act(program, member_id, "buy", 10 + n, START)
    await _act(program, ids[0], "review", 1, START)
    await project(progress, START)
    once = await dump(db.redis, progress)
    assert len(once["{c}:pm:purchases"]) == 4
    # Every event handed over again, twice: nothing moves.
    await replay(progress, START)
    await replay(progress, START)
    assert await dump(db.redis, progress) == once
    # Nor from a Redis flushed in between (the projector rebuilds it first).
    await db.redis.flushdb()
    await replay(progress, START)
    assert await dump(db.redis, progress) == once


async def test_for_any_activity_a_rebuild_equals_what_the_projector_kept(db: Stores):
    loop = asyncio.get_running_loop()

    def run(coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

    @settings(
        max_examples=8,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(steps)
    def agree(activity: list[tuple[str, int, int]]) -> None:
        run(_agree(db, activity))

    await asyncio.to_thread(agree)


async def _agree(db: Stores, activity: list[tuple[str, int, int]]) -> None:
    program, progress, ids = await _fresh(db)
    now = START
    await project(progress, now)  # the first batch finds no generation: a rebuild
    for kind, who, amount in activity:
        if kind == "take_all":  # back to 0: off the points_earned set
            kind, amount = (
                "take",
                (await _metrics(program, [ids[who]], now))[ids[who]]["points_earned"],
            )
        await _act(program, ids[who], kind, amount, now)
        # Batches of any size: sometimes the projector waits for several steps.
        if amount % 3:
            await project(progress, now)
    await project(progress, now)
    incremental = await dump(db.redis, progress)
    await db.redis.flushdb()
    await progress.rebuild(sql.connection(), now)
    assert await dump(db.redis, progress) == incremental


async def test_a_flushed_redis_is_rebuilt_as_it_was(db: Stores):
    program, progress, ids = await _fresh(db)
    for n, member_id in enumerate(ids):
        await _act(program, member_id, "buy", 50 + n, START)
    await project(progress, START)
    before = await dump(db.redis, progress)
    assert before["{c}:pm:population"] == "4"
    await db.redis.flushdb()
    assert await dump(db.redis, progress) == {}
    assert await progress.ensure_built(sql.connection(), START) is not None
    assert await dump(db.redis, progress) == before
    # Built, for the badges in force: nothing to do again.
    assert await progress.ensure_built(sql.connection(), START) is None


async def test_sets_of_metrics_no_badge_counts_are_dropped(db: Stores):
    program, progress, ids = await _fresh(db, 2)
    await _act(program, ids[0], "review", 1, START)
    await _act(program, ids[1], "buy", 20, START)
    await project(progress, START)
    assert await db.redis.exists("{c}:pm:actions:REVIEW")
    without_critic = BADGES_PROGRAM.replace('metric = "actions:REVIEW"', 'metric = "purchases"')
    program = await prepare(load_program(without_critic))
    progress = Progress(progress.boards, lambda: program)  # as a server's runtime switches
    # The next batch sees the badges count other metrics: it rebuilds first.
    await _act(program, ids[1], "buy", 20, START)
    await project(progress, START)
    kept = await dump(db.redis, progress)
    assert "{c}:pm:actions:REVIEW" not in kept
    assert kept["{c}:pm:purchases"] == [(str(ids[1]), 2.0)]
    assert kept["{c}:pm:metrics"] == '["points_earned", "purchases", "spend:RON"]'
    # Nothing of the rebuild's is left behind.
    assert [k async for k in db.redis.scan_iter(match="{c}:pm-rebuild:*")] == []


@pytest.fixture
async def stopped_redis(tmp_path: Path):
    server = EmbeddedRedis(tmp_path / "gone")
    url = server.start()
    server.stop()
    client = storage.open_redis(url)
    yield client
    await client.aclose()


async def test_a_redis_that_fails_holds_back_the_batch(db: Stores, stopped_redis: Any):
    program, _, ids = await _fresh(db, 1)
    await _act(program, ids[0], "buy", 20, START)
    down = Progress(Boards(stopped_redis, "{c}"), lambda: program)
    with pytest.raises(BoardsUnavailable):
        await project(down, START)
    held = await consumers.checkpoint(sql.connection(), NAME)
    assert held is not None
    assert held.handled == 0
    # Back up, the same events are handled from where it stood.
    progress = Progress(Boards(db.redis, "{c}"), lambda: program)
    assert await project(progress, START) > 0
    assert await db.redis.zscore("{c}:pm:purchases", str(ids[0])) == 1.0
