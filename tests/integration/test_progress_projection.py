"""The progress projector and the rebuild agree: the sorted sets of badge metrics, tier amounts
and challenge windows the projector kept batch by batch are the ones a rebuild computes from
SQL; replaying events changes nothing; a flushed Redis is rebuilt as it was; challenge windows'
sets expire after their window; the daily refresh lowers what a rolling tier window left
behind; a Redis that fails holds back the batch."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.runtime import Runtime, prepare, run_jobs
from domain import actions, adjustments, consumers, members, purchases, refunds, sql, tiers
from domain.actors import Actor, ActorKind
from domain.program_file import load_program
from domain.retention import Retention
from gamification import badge_engine, challenges
from gamification.boards import Boards, BoardsUnavailable
from gamification.progress import NAME, Progress, challenge_metric, challenge_ttl
from tests.helpers import Stores
from tests.leaderboard_helpers import FixedClock
from tests.progress_helpers import BADGES_PROGRAM, PROGRESS_PROGRAM, dump, project, replay

T = TypeVar("T")
ADMIN = Actor(ActorKind.ADMIN)
START = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)

# One step of activity: (kind, which member, amount).
steps = st.lists(
    st.tuples(
        st.sampled_from(["earn", "take", "take_all", "review", "buy", "refund"]),
        st.integers(0, 3),
        st.integers(1, 400),
    ),
    min_size=1,
    max_size=10,
)
counter = itertools.count()
# Each member's latest purchase, for a step that refunds it in full.
latest_order: dict[int, str] = {}


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
        elif kind == "refund":
            if member_id in latest_order:
                order = refunds.PurchaseRef(order_id=latest_order[member_id])
                await refunds.refund(program, ADMIN, order, None, key, now=now)
        else:
            latest_order[member_id] = key
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


async def _fresh(
    db: Stores, enrolled: int = 4, text: str = PROGRESS_PROGRAM
) -> tuple[Any, Progress, list[int]]:
    await db.redis.flushdb()
    program = await prepare(load_program(text))
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
    assert len(once["{c}:pm:tier"]) == 4
    assert len(once[_challenge_key(progress, "busy-week", START)]) == 4
    assert len(once[_challenge_key(progress, "big-month", START)]) == 4
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
    assert len(before["{c}:pm:tier"]) == 4
    assert len(before[_challenge_key(progress, "big-month", START)]) == 4
    await db.redis.flushdb()
    assert await dump(db.redis, progress) == {}
    assert await progress.ensure_built(sql.connection(), START) is not None
    assert await dump(db.redis, progress) == before
    # The rebuilt challenge sets expire as the projector's did.
    key = _challenge_key(progress, "big-month", START)
    assert (
        0 < await db.redis.ttl(key) <= challenge_ttl(_window(progress, "big-month", START), START)
    )
    # Built, for the badges and challenges in force: nothing to do again.
    assert await progress.ensure_built(sql.connection(), START) is None


async def test_sets_of_metrics_no_badge_counts_are_dropped(db: Stores):
    program, progress, ids = await _fresh(db, 2, BADGES_PROGRAM)
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
    assert kept["{c}:pm:metrics"] == '["points_earned", "purchases", "spend:RON", "tier"]'
    # Nothing of the rebuild's is left behind.
    assert [k async for k in db.redis.scan_iter(match="{c}:pm-rebuild:*")] == []


def _window(progress: Progress, key: str, now: datetime) -> challenges.Window:
    program = progress.program
    (challenge,) = [c for c in program.challenges if c.key == key]
    found = challenges.window_at(challenge.window, now, program.zone)
    assert found is not None
    return found


def _challenge_key(progress: Progress, key: str, now: datetime) -> str:
    """The set of the challenge's window running at `now`."""
    return progress.key(challenge_metric(key, _window(progress, key, now)))


async def test_the_projector_writes_challenge_progress_and_tier_amounts(db: Stores):
    program, progress, (ana, bob, cid) = await _fresh(db, 3)
    await project(progress, START)  # built before anyone did anything: no challenge sets
    assert [k async for k in db.redis.scan_iter(match="{c}:pm:challenge:*")] == []
    await _act(program, ana, "buy", 120, START)
    await _act(program, ana, "review", 1, START)
    await _act(program, bob, "buy", 40, START)
    await project(progress, START)
    redis = db.redis
    week = _challenge_key(progress, "busy-week", START)
    month = _challenge_key(progress, "big-month", START)
    # The week's window started on Monday 16 November, midnight in Bucharest.
    assert week == "{c}:pm:challenge:busy-week:" + str(
        int(datetime(2026, 11, 15, 22, tzinfo=UTC).timestamp())
    )
    # Ana: a purchase of three and the review, (1/3 + 1) / 2; Bob: (1/3 + 0) / 2. Cid, who did
    # nothing, is on no set.
    assert await redis.zrange(week, 0, -1, withscores=True) == [
        (str(bob), 1667.0),
        (str(ana), 6667.0),
    ]
    assert await redis.zrange(month, 0, -1, withscores=True) == [
        (str(bob), 800.0),
        (str(ana), 2400.0),
    ]
    amounts = await tiers.window_amounts(sql.connection(), program, [ana, bob, cid], START)
    assert amounts[ana] > amounts[bob] > 0 == amounts[cid]
    assert await redis.zrange("{c}:pm:tier", 0, -1, withscores=True) == [
        (str(bob), float(amounts[bob])),
        (str(ana), float(amounts[ana])),
    ]
    # Each window's set goes a grace after the window ends, by the app's clock.
    for key, name in ((week, "busy-week"), (month, "big-month")):
        ttl = await redis.ttl(key)
        assert challenge_ttl(_window(progress, name, START), START) - 5 <= ttl
        assert ttl <= challenge_ttl(_window(progress, name, START), START)
    assert await redis.ttl("{c}:pm:tier") == -1
    # Two more purchases finish Ana's week: only the finished reach 10,000.
    await _act(program, ana, "buy", 10, START)
    await _act(program, ana, "buy", 10, START)
    await project(progress, START)
    assert await redis.zscore(week, str(ana)) == 10_000.0
    # Percentiles read from them: Ana is ahead of Bob and Cid on both, Bob of Cid.
    (mine, his) = await progress.percentiles(
        [
            (ana, {challenge_metric("busy-week", _window(progress, "busy-week", START)): 10_000}),
            (bob, {"tier": amounts[bob]}),
        ]
    )
    assert list(mine.values()) == [100 * 2 / 3]
    assert his == {"tier": 100 / 3}
    # A refund in full takes Bob's purchase out of his progress and his tier amount: back to
    # 0, he leaves the sets.
    await _act(program, bob, "refund", 0, START)
    await project(progress, START)
    assert await redis.zscore(week, str(bob)) is None
    assert await redis.zscore(month, str(bob)) is None
    assert await redis.zscore("{c}:pm:tier", str(bob)) is None
    assert await redis.zscore(month, str(ana)) == 2800.0


async def test_a_program_that_gains_a_challenge_has_its_sets_rebuilt(db: Stores):
    program, progress, (ana, _) = await _fresh(db, 2, BADGES_PROGRAM)
    await _act(program, ana, "buy", 60, START)
    await project(progress, START)
    assert [k async for k in db.redis.scan_iter(match="{c}:pm:challenge:*")] == []
    program = await prepare(load_program(PROGRESS_PROGRAM))
    progress = Progress(progress.boards, lambda: program)
    assert await progress.ensure_built(sql.connection(), START) is not None
    month = _challenge_key(progress, "big-month", START)
    assert await db.redis.zscore(month, str(ana)) == 1200.0
    assert await db.redis.ttl(month) > 0


async def test_the_daily_refresh_lowers_what_left_the_rolling_tier_window(db: Stores):
    # Ana earned in April 2025, Bob in March 2026: on 31 March 2026 the 12 months up to the
    # review of 1 April hold both; from 1 April they are those up to 1 May, without April 2025.
    earned = datetime(2025, 4, 15, 9, tzinfo=UTC)
    program, progress, (ana, bob) = await _fresh(db, 2)
    await _act(program, ana, "earn", 300, earned)
    await _act(program, ana, "buy", 20, earned)
    await project(progress, earned)
    old_week = _challenge_key(progress, "busy-week", earned)
    assert await db.redis.zscore(old_week, str(ana)) is not None
    later = datetime(2026, 3, 20, 9, tzinfo=UTC)
    await _act(program, bob, "earn", 100, later)
    await project(progress, later)
    assert await db.redis.zscore("{c}:pm:tier", str(ana)) == 320.0
    assert await db.redis.zscore("{c}:pm:tier", str(bob)) == 100.0
    clock = FixedClock(datetime(2026, 3, 31, 12, tzinfo=UTC))
    runtime = Runtime(program, db.redis, clock, redis_prefix="{c}")
    # The jobs' run refreshes once a program day: Ana still counts on 31 March; the set of a
    # window closed long ago is dropped.
    await run_jobs(runtime, Retention())
    assert await db.redis.get(progress.day_key) == "2026-03-31"
    assert await db.redis.zscore("{c}:pm:tier", str(ana)) == 320.0
    assert not await db.redis.exists(old_week)
    assert await runtime.progress.ensure_fresh(sql.connection(), clock.now()) is False
    # On 1 April (midnight in Bucharest is 21:00 UTC the day before), her points are out of
    # the window with no event: the refresh takes her off the set; Bob's stay.
    clock.moment = datetime(2026, 3, 31, 21, 30, tzinfo=UTC)
    await run_jobs(runtime, Retention())
    assert await db.redis.get(progress.day_key) == "2026-04-01"
    assert await db.redis.zscore("{c}:pm:tier", str(ana)) is None
    assert await db.redis.zscore("{c}:pm:tier", str(bob)) == 100.0
    # As a rebuild from SQL has it.
    refreshed = await dump(db.redis, progress)
    await db.redis.flushdb()
    await progress.rebuild(sql.connection(), clock.now())
    assert await dump(db.redis, progress) == refreshed


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


async def test_the_jobs_run_on_when_redis_cannot_be_refreshed(
    db: Stores, stopped_redis: Any, caplog: pytest.LogCaptureFixture
):
    program, _, _ = await _fresh(db, 1)
    runtime = Runtime(program, stopped_redis, FixedClock(START), redis_prefix="{c}")
    await run_jobs(runtime, Retention())
    assert "progress not refreshed: Redis unavailable" in caplog.text
