"""Badge progress among the members: one Redis sorted set per badge metric, so that a progress
bar can say where the member stands ("ahead of 73% of members").

Keys (under the program's hash tag, beside the boards, so that a rebuild's RENAMEs and a
reader's multi-key round trip stay on one Redis Cluster slot):

    {c}:pm:<metric>       member id -> the metric's value: purchases, spend:RON, streak:daily...
    {c}:pm:population     how many members are enrolled
    {c}:pm:metrics        the metrics the last rebuild built, as JSON
    {c}:pm:generation     which rebuild the keys came from; gone = Redis was lost

(No badge metric is called "population", "metrics" or "generation": badges.Metrics names
every metric there is.)

What must always hold:
- Every value is absolute, computed from SQL by badge_engine.snapshots, never added to
  (no ZINCRBY): writing it again changes nothing, so a batch handled twice leaves Redis as
  it was.
- A member whose value is 0 is not stored (ZREM): a set holds the members who did something;
  the population counts every member, COUNT(*) of `member`, written absolute by the rebuild
  and by the projector after a batch holding an enrolment.
- Values are integers below 2**53, which Redis doubles hold exactly (larger ones are clamped).
- Redis is never the truth: a failure raises BoardsUnavailable; the projector's batch rolls
  back and is retried, and a reader answers without percentiles.

Freshness: the sets lag SQL by the projector's delay. A reader passes the member's own value
fresh from SQL, and the member's stored entry (perhaps stale) is taken out of the count.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime

from redis.exceptions import RedisError
from tortoise.backends.base.client import BaseDBAsyncClient

from domain import consumers, events, outbox, sql
from domain.program import Program
from gamification import badge_engine, scores
from gamification.boards import Boards, BoardsUnavailable

log = logging.getLogger("coalition.progress")

NAME = "progress"
# Members read from SQL per page of a rebuild: each page costs one statement per kind of
# metric, whatever its size.
PAGE = 2000
# Events re-applied after a rebuild's swap, per statement.
LATE_BATCH = 2000


def percentile(value: int, below: int, stored: int, own: int | None, population: int) -> float:
    """How many of the `population` members have a lower value than the member's `value`, in
    percent, from 0 to 100. From the metric's set: `below` of its `stored` members have a
    value strictly lower than `value`, and the member's own entry there is `own` (None when
    it is not stored). Members not in the set have 0. The member itself is never counted:
    its entry may be stale (`value` is the fresh one from SQL). Equal values are not lower."""
    if population <= 0:
        return 0.0
    lower = below
    if own is not None and own < value:
        lower -= 1  # the member's own, older value
    if value > 0:
        # Everyone without an entry has 0, below any positive value: but not the member.
        lower += max(population - stored - (1 if own is None else 0), 0)
    return min(max(100 * lower / population, 0.0), 100.0)


def stored_value(value: int) -> int:
    """What a set keeps of a metric's value: exact in a Redis double."""
    return min(max(value, 0), scores.EXACT - 1)


def metrics_of(program: Program) -> list[str]:
    """The metrics the program's badges count, each once."""
    return sorted({badge.metric for badge in program.badges})


async def population(conn: BaseDBAsyncClient) -> int:
    found = await sql.row(conn, "SELECT COUNT(*) AS n FROM member")
    return int(found["n"]) if found is not None else 0


class Progress:
    """The program's badge metrics as sorted sets over one Redis: reading where members stand,
    refreshing members from SQL, rebuilding."""

    def __init__(self, boards: Boards, program: Callable[[], Program]) -> None:
        # The boards' Redis and hash tag; their chunked loading and dropping of keys.
        self.boards = boards
        self._program = program

    @property
    def program(self) -> Program:
        return self._program()

    # -- keys -------------------------------------------------------------------------------
    def key(self, metric: str) -> str:
        return f"{self.boards.tag}:pm:{metric}"

    def temporary_key(self, generation: str, key: str) -> str:
        tag = self.boards.tag
        return f"{tag}:pm-rebuild:{generation}:{key.removeprefix(tag + ':')}"

    @property
    def population_key(self) -> str:
        return self.key("population")

    @property
    def metrics_key(self) -> str:
        return self.key("metrics")

    @property
    def generation_key(self) -> str:
        return self.key("generation")

    # -- reading ----------------------------------------------------------------------------
    async def percentiles(
        self, asked: Sequence[tuple[int, Mapping[str, int]]]
    ) -> list[dict[str, float]]:
        """For each (member, {metric: its value fresh from SQL}), the member's percentile on
        each metric, in one round trip for them all. BoardsUnavailable when Redis does not
        answer or holds no progress sets (lost, and not rebuilt yet)."""
        if not any(values for _, values in asked):
            return [{} for _ in asked]
        try:
            async with self.boards.redis.pipeline(transaction=True) as pipe:
                pipe.get(self.population_key)
                for member_id, values in asked:
                    for metric, value in values.items():
                        key = self.key(metric)
                        pipe.zcount(key, "-inf", f"({stored_value(value)}")
                        pipe.zcard(key)
                        pipe.zscore(key, str(member_id))
                answers = await pipe.execute()
        except RedisError as error:
            raise BoardsUnavailable(str(error)) from error
        if answers[0] is None:
            raise BoardsUnavailable("Redis holds no progress sets: they are being rebuilt")
        members = int(answers[0])
        found: list[dict[str, float]] = []
        at = 1
        for _, values in asked:
            mine: dict[str, float] = {}
            for metric, value in values.items():
                below, stored, own = answers[at : at + 3]
                at += 3
                mine[metric] = percentile(
                    stored_value(value),
                    int(below),
                    int(stored),
                    None if own is None else int(own),
                    members,
                )
            found.append(mine)
        return found

    async def generation(self) -> str | None:
        try:
            found = await self.boards.redis.get(self.generation_key)
        except RedisError as error:
            raise BoardsUnavailable(str(error)) from error
        return None if found is None else str(found)

    async def _built(self) -> tuple[str | None, list[str] | None]:
        """The generation, and the metrics it was built for."""
        try:
            generation, metrics = await self.boards.redis.mget(
                [self.generation_key, self.metrics_key]
            )
        except RedisError as error:
            raise BoardsUnavailable(str(error)) from error
        return (
            None if generation is None else str(generation),
            None if metrics is None else list(json.loads(metrics)),
        )

    # -- writing ----------------------------------------------------------------------------
    async def refresh(
        self, conn: BaseDBAsyncClient, members: Collection[int], now: datetime, count: bool
    ) -> None:
        """Writes these members' metrics, from SQL, absolute, in one MULTI: their value, or
        their removal at 0. With `count`, the population too."""
        program = self.program
        metrics = metrics_of(program)
        found = (
            await badge_engine.snapshots(conn, program, members, now) if metrics and members else {}
        )
        enrolled = await population(conn) if count else None
        if not found and enrolled is None:
            return
        try:
            async with self.boards.redis.pipeline(transaction=True) as pipe:
                for member_id, snapshot in found.items():
                    for metric in metrics:
                        value = stored_value(snapshot.metrics.value(metric))
                        if value > 0:
                            pipe.zadd(self.key(metric), {str(member_id): value})
                        else:
                            pipe.zrem(self.key(metric), str(member_id))
                if enrolled is not None:
                    pipe.set(self.population_key, enrolled)
                await pipe.execute()
        except RedisError as error:
            raise BoardsUnavailable(str(error)) from error

    async def refresh_after(
        self, conn: BaseDBAsyncClient, stored: Sequence[outbox.StoredEvent], now: datetime
    ) -> None:
        """The members a batch of events may have moved (badge_engine.affected, and those it
        enrolled), and the population when it enrolled anyone."""
        enrolled = {
            e.member_id
            for e in stored
            if e.type == events.MemberEnrolled.TYPE and e.member_id is not None
        }
        await self.refresh(conn, badge_engine.affected(stored) | enrolled, now, bool(enrolled))

    async def project(
        self, conn: BaseDBAsyncClient, stored: Sequence[outbox.StoredEvent], now: datetime
    ) -> None:
        # A Redis that lost its keys, or keys built for other badges, is rebuilt first.
        await self.ensure_built(conn, now)
        await self.refresh_after(conn, stored, now)

    # -- rebuilding -------------------------------------------------------------------------
    async def rebuild(
        self,
        conn: BaseDBAsyncClient,
        now: datetime,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> str:
        """Recomputes every metric's set from SQL, a page of members at a time, into temporary
        keys; swaps them in at once with the population (the old values UNLINKed), drops the
        sets of metrics no badge counts any more, and records a new generation. Then it
        re-applies the members of events written since it began (the projector's checkpoint
        then), which covers what the projector wrote to the old keys meanwhile.
        `progress(key, members read, members)` hears of each page. Returns the generation."""
        program = self.program
        previous = await self.generation()  # and a Redis that does not answer stops here
        generation = uuid.uuid4().hex[:12]
        log.info("progress: rebuilding generation %s over %s", generation, previous)
        handled = await consumers.checkpoint(conn, NAME)
        watermark = handled.position if handled is not None else await outbox.head(conn)
        metrics = metrics_of(program)
        temporary = {m: self.temporary_key(generation, self.key(m)) for m in metrics}
        loaded = dict.fromkeys(metrics, 0)
        try:
            enrolled = await population(conn)
            read, after = 0, 0
            while metrics:
                rows = await sql.rows(
                    conn, "SELECT id FROM member WHERE id > ? ORDER BY id LIMIT ?", [after, PAGE]
                )
                if not rows:
                    break
                ids = [int(r["id"]) for r in rows]
                found = await badge_engine.snapshots(conn, program, ids, now)
                for metric in metrics:
                    loaded[metric] += await self.boards.load(
                        temporary[metric], _values(found, metric)
                    )
                after = ids[-1]
                read += len(ids)
                if progress is not None:
                    progress(self.key("*"), read, max(enrolled, read))
            if progress is not None and (read == 0 or read < enrolled):
                progress(self.key("*"), read, read)  # the bar ends full
            renames = {self.key(m): temporary[m] if loaded[m] else None for m in metrics}
            for stale in await self._stale_keys(set(renames)):
                renames[stale] = None
            await self._swap(renames, enrolled, metrics, generation)
        except BaseException:
            await self.boards.drop(list(temporary.values()))
            raise
        while late := await outbox.after(conn, watermark, None, LATE_BATCH):
            await self.refresh_after(conn, late, now)
            watermark = late[-1].position
        return generation

    async def ensure_built(self, conn: BaseDBAsyncClient, now: datetime) -> str | None:
        """Rebuilds when Redis holds no generation (it was flushed or lost) or the sets were
        built for other badges' metrics (a program version changed them); returns the new
        generation then, else None."""
        generation, metrics = await self._built()
        if generation is not None and metrics == metrics_of(self.program):
            return None
        if generation is None:
            log.warning("progress: Redis holds no generation key; rebuilding from SQL")
        else:
            log.info("progress: the badges count other metrics now; rebuilding from SQL")
        return await self.rebuild(conn, now)

    async def _swap(
        self,
        renames: Mapping[str, str | None],
        enrolled: int,
        metrics: list[str],
        generation: str,
    ) -> None:
        """Puts each rebuilt set in place of its live key and drops the ones with nothing to
        replace them, with the population, the metrics and the generation, in one MULTI."""
        try:
            async with self.boards.redis.pipeline(transaction=True) as pipe:
                for live, temporary in renames.items():
                    # Moved aside first so that UNLINK frees the old value in the background
                    # (RENAME would delete it in the server's thread).
                    pipe.unlink(live)
                    if temporary is not None:
                        pipe.rename(temporary, live)
                pipe.set(self.population_key, enrolled)
                pipe.set(self.metrics_key, json.dumps(metrics))
                pipe.set(self.generation_key, generation)
                await pipe.execute()
        except RedisError as error:
            raise BoardsUnavailable(str(error)) from error

    async def _stale_keys(self, kept: set[str]) -> list[str]:
        """Live sets of metrics no badge counts any more."""
        own = {self.population_key, self.metrics_key, self.generation_key, *kept}
        try:
            return [
                str(key)
                async for key in self.boards.redis.scan_iter(match=self.key("*"), count=1000)
                if str(key) not in own
            ]
        except RedisError as error:
            raise BoardsUnavailable(str(error)) from error


def _values(found: Mapping[int, badge_engine.Snapshot], metric: str) -> Iterable[tuple[int, int]]:
    for member_id, snapshot in found.items():
        value = stored_value(snapshot.metrics.value(metric))
        if value > 0:
            yield member_id, value


class ProgressProjector:
    """The outbox consumer named "progress": after the events that move a badge metric (or
    enrol a member), it writes those members' metrics from SQL to Redis, absolute. A Redis
    failure raises, so the batch rolls back and is retried; the other consumers go on."""

    name = NAME

    def __init__(self, progress: Progress) -> None:
        self.progress = progress

    async def handle(
        self, conn: BaseDBAsyncClient, events: Sequence[outbox.StoredEvent], now: datetime
    ) -> None:
        await self.progress.project(conn, events, now)
