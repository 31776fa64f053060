"""Where members stand among the members: one Redis sorted set per badge metric, one for the
tier's qualifying amount and one per challenge window, so that a progress bar can say where
the member stands ("ahead of 73% of members").

Keys (under the program's hash tag, beside the boards, so that a rebuild's RENAMEs and a
reader's multi-key round trip stay on one Redis Cluster slot):

    {c}:pm:<metric>       member id -> the metric's value: purchases, spend:RON, streak:daily...
    {c}:pm:tier           member id -> its qualifying amount in the current tier window
    {c}:pm:challenge:<challenge>:<window start, epoch seconds>
                          member id -> its progress in that window, in ten-thousandths
                          (challenge_value); expires at the window's end plus scores.GRACE
    {c}:pm:population     how many members are enrolled
    {c}:pm:metrics        what the last rebuild built (built_for), as JSON
    {c}:pm:generation     which rebuild the keys came from; gone = Redis was lost
    {c}:pm:day            the program day whose daily refresh (ensure_fresh) has run

(No badge metric is called "tier", "challenge:...", "population", "metrics", "generation" or
"day": badges.Metrics names every metric there is.)

What must always hold:
- Every value is absolute, computed from SQL (badge_engine.snapshots, tiers.window_amounts,
  challenge_engine.standings), never added to (no ZINCRBY): writing it again changes nothing,
  so a batch handled twice leaves Redis as it was.
- A member whose value is 0 is not stored (ZREM): a set holds the members who did something;
  the population counts every member, COUNT(*) of `member`, written absolute by the rebuild
  and by the projector after a batch holding an enrolment.
- Values are integers below 2**53, which Redis doubles hold exactly (larger ones are clamped).
- Only a finished challenge is stored at 10,000: an unfinished one is capped at 9,990.
- A challenge window's set expires at the window's end plus the boards' grace, by the app's
  clock (an EXPIRE of what is left until then, as the boards do): every write to it sets it,
  the rebuild's after its RENAME.
- Redis is never the truth: a failure raises BoardsUnavailable; the projector's batch rolls
  back and is retried, and a reader answers without percentiles.

Freshness: the sets lag SQL by the projector's delay. A reader passes the member's own value
fresh from SQL, and the member's stored entry (perhaps stale) is taken out of the count. A
rolling tier window lowers amounts with no event: the daily refresh (ensure_fresh, from the
jobs) rebuilds the tier set once per program day, and drops the sets of closed challenge
windows.
"""

from __future__ import annotations

import json
import logging
import math
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from redis.exceptions import RedisError
from tortoise.backends.base.client import BaseDBAsyncClient

from domain import consumers, events, history, outbox, sql, tiers
from domain.program import Program, QualifyOn
from gamification import badge_engine, challenge_engine, challenges, scores
from gamification.boards import Boards, BoardsUnavailable

log = logging.getLogger("coalition.progress")

NAME = "progress"
# Members read from SQL per page of a rebuild: each page costs one statement per kind of
# metric, whatever its size.
PAGE = 2000
# Events re-applied after a rebuild's swap, per statement.
LATE_BATCH = 2000

TIER = "tier"
CHALLENGE = "challenge"
# A challenge's progress, 0 to 1, as a set keeps it: in ten-thousandths, an unfinished
# challenge at most UNFINISHED so that only the finished reach FINISHED.
FINISHED = 10_000
UNFINISHED = 9_990


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


def challenge_value(fraction: float, complete: bool) -> int:
    """What a challenge window's set keeps of a member's progress (`fraction`, 0 to 1):
    ten-thousandths of the way, rounded, at most 9,990 until every goal is met (`complete`:
    10,000); 0, not stored, for none."""
    if complete:
        return FINISHED
    return min(max(round(fraction * FINISHED), 0), UNFINISHED)


def challenge_metric(challenge: str, window: challenges.Window) -> str:
    """The name of a challenge window's set: `challenge:<key>:<window start, epoch seconds>`."""
    return f"{CHALLENGE}:{challenge}:{int(window.start.timestamp())}"


def challenge_entry(standing: challenge_engine.Standing) -> tuple[str, int]:
    """A member's standing in a challenge window as its set keeps it: (set, value)."""
    made = standing.progress
    metric = challenge_metric(made.challenge.key, made.window)
    return metric, challenge_value(made.fraction, made.complete)


def challenge_ttl(window: challenges.Window, now: datetime) -> int:
    """Seconds until a challenge window's set goes: its end plus the boards' grace."""
    return max(math.ceil((window.end + scores.GRACE - now).total_seconds()), 1)


def metrics_of(program: Program) -> list[str]:
    """The metrics the program's badges count, each once."""
    return sorted({badge.metric for badge in program.badges})


def built_for(program: Program) -> list[str]:
    """What the sets are built for, as `{c}:pm:metrics` records it: the badges' metrics, the
    tier, and `challenge:<key>` for each challenge. A program version that changes it has
    them rebuilt."""
    kept = {*metrics_of(program), TIER, *(f"{CHALLENGE}:{c.key}" for c in program.challenges)}
    return sorted(kept)


def running(program: Program, now: datetime) -> dict[str, challenges.Window]:
    """The sets of the challenge windows running at `now`, with their windows."""
    found: dict[str, challenges.Window] = {}
    for challenge in program.challenges:
        window = challenges.window_at(challenge.window, now, program.zone)
        if window is not None:
            found[challenge_metric(challenge.key, window)] = window
    return found


# The events after which a member's qualifying amount may have moved: every movement of
# points (earns, reversals, expiries), releases, and purchases and refunds where tiers count
# spend.
_TIER_MOVING = frozenset({events.PointsChanged.TYPE, events.PointsReleased.TYPE})
_SPEND_MOVING = frozenset({events.PurchaseRecorded.TYPE, events.PurchaseRefunded.TYPE})


def tier_affected(program: Program, stored: Iterable[outbox.StoredEvent]) -> set[int]:
    """The members whose qualifying amount the events may have moved."""
    moving = _TIER_MOVING
    if program.tier_rules.qualify_on is QualifyOn.SPEND:
        moving = moving | _SPEND_MOVING
    return {e.member_id for e in stored if e.type in moving and e.member_id is not None}


async def tier_values(
    conn: BaseDBAsyncClient, program: Program, member_ids: Sequence[int], now: datetime
) -> dict[int, int]:
    """Each member's qualifying amount in the tier window `now` falls in, as Member.tier shows
    it: one statement."""
    if not member_ids:
        return {}
    if not program.tier_rules.from_account:
        return await tiers.window_amounts(conn, program, member_ids, now)
    found = await history.members_by_id(member_ids, conn)
    return await tiers.amounts(conn, program, list(found.values()), now)


async def population(conn: BaseDBAsyncClient) -> int:
    found = await sql.row(conn, "SELECT COUNT(*) AS n FROM member")
    return int(found["n"]) if found is not None else 0


@dataclass(frozen=True)
class Touched:
    """The members whose values a batch of events may have moved, by kind of set; `enrolled`:
    the population too."""

    badges: Collection[int] = frozenset()
    tier: Collection[int] = frozenset()
    challenges: Collection[int] = frozenset()
    enrolled: bool = False

    @classmethod
    def by(cls, program: Program, stored: Sequence[outbox.StoredEvent]) -> Touched:
        """badge_engine.affected (and those a batch enrolled), tier_affected, and
        challenge_engine.affected."""
        enrolled = {
            e.member_id
            for e in stored
            if e.type == events.MemberEnrolled.TYPE and e.member_id is not None
        }
        return cls(
            badges=badge_engine.affected(stored) | enrolled,
            tier=tier_affected(program, stored),
            challenges=challenge_engine.affected(program, stored),
            enrolled=bool(enrolled),
        )


async def values(
    conn: BaseDBAsyncClient, program: Program, touched: Touched, now: datetime
) -> dict[str, dict[int, int]]:
    """The touched members' values fresh from SQL, per set (metric): each badge metric for
    `touched.badges`, the tier for `touched.tier`, each running challenge window for
    `touched.challenges`; 0 where there is nothing to store. A fixed number of statements."""
    found: dict[str, dict[int, int]] = {}
    metrics = metrics_of(program)
    if metrics and touched.badges:
        snapshots = await badge_engine.snapshots(conn, program, touched.badges, now)
        for metric in metrics:
            found[metric] = {m: stored_value(s.metrics.value(metric)) for m, s in snapshots.items()}
    if touched.tier:
        amounts = await tier_values(conn, program, sorted(touched.tier), now)
        found[TIER] = {m: stored_value(v) for m, v in amounts.items()}
    if touched.challenges and program.challenges:
        standings = await challenge_engine.standings(conn, program, sorted(touched.challenges), now)
        for member_id, some in standings.items():
            for standing in some:
                metric, value = challenge_entry(standing)
                found.setdefault(metric, {})[member_id] = value
    return found


class Progress:
    """The program's progress sets (badge metrics, tier, challenge windows) over one Redis:
    reading where members stand, refreshing members from SQL, rebuilding."""

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

    @property
    def day_key(self) -> str:
        return self.key("day")

    def day(self, now: datetime) -> str:
        """The program day `now` falls in, as the daily refresh marks it."""
        return now.astimezone(self.program.zone).date().isoformat()

    # -- reading ----------------------------------------------------------------------------
    async def percentiles(
        self, asked: Sequence[tuple[int, Mapping[str, int]]]
    ) -> list[dict[str, float]]:
        """For each (member, {metric: its value fresh from SQL}), the member's percentile on
        each metric (a badge metric, TIER, or a challenge_metric), in one round trip for them
        all. BoardsUnavailable when Redis does not answer or holds no progress sets (lost, and
        not rebuilt yet)."""
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

    async def _built(self) -> tuple[str | None, list[str] | None, str | None]:
        """The generation, what it was built for, and the day of the last daily refresh."""
        try:
            generation, metrics, day = await self.boards.redis.mget(
                [self.generation_key, self.metrics_key, self.day_key]
            )
        except RedisError as error:
            raise BoardsUnavailable(str(error)) from error
        return (
            None if generation is None else str(generation),
            None if metrics is None else list(json.loads(metrics)),
            None if day is None else str(day),
        )

    # -- writing ----------------------------------------------------------------------------
    async def refresh(self, conn: BaseDBAsyncClient, touched: Touched, now: datetime) -> None:
        """Writes the touched members' values, from SQL, absolute, in one MULTI: their value,
        or their removal at 0; each challenge window's set's time to live. With
        `touched.enrolled`, the population too."""
        program = self.program
        found = await values(conn, program, touched, now)
        enrolled = await population(conn) if touched.enrolled else None
        if not found and enrolled is None:
            return
        windows = running(program, now)
        try:
            async with self.boards.redis.pipeline(transaction=True) as pipe:
                for metric, by_member in found.items():
                    key = self.key(metric)
                    for member_id, value in by_member.items():
                        if value > 0:
                            pipe.zadd(key, {str(member_id): value})
                        else:
                            pipe.zrem(key, str(member_id))
                    if metric in windows:
                        pipe.expire(key, challenge_ttl(windows[metric], now))
                if enrolled is not None:
                    pipe.set(self.population_key, enrolled)
                await pipe.execute()
        except RedisError as error:
            raise BoardsUnavailable(str(error)) from error

    async def refresh_after(
        self, conn: BaseDBAsyncClient, stored: Sequence[outbox.StoredEvent], now: datetime
    ) -> None:
        """The members a batch of events may have moved (Touched.by), and the population when
        it enrolled anyone."""
        await self.refresh(conn, Touched.by(self.program, stored), now)

    async def project(
        self, conn: BaseDBAsyncClient, stored: Sequence[outbox.StoredEvent], now: datetime
    ) -> None:
        # A Redis that lost its keys, or keys built for other badges or challenges, is
        # rebuilt first.
        await self.ensure_built(conn, now)
        await self.refresh_after(conn, stored, now)

    # -- rebuilding -------------------------------------------------------------------------
    async def rebuild(
        self,
        conn: BaseDBAsyncClient,
        now: datetime,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> str:
        """Recomputes every set from SQL (badge metrics, tier, running challenge windows), a
        page of members at a time, into temporary keys; swaps them in at once with the
        population (the old values UNLINKed), drops the sets nothing counts any more (closed
        challenge windows among them), and records a new generation and the day. Then it
        re-applies the members of events written since it began (the projector's checkpoint
        then), which covers what the projector wrote to the old keys meanwhile.
        `progress(key, members read, members)` hears of each page. Returns the generation."""
        await self.generation()  # a Redis that does not answer stops here
        generation = uuid.uuid4().hex[:12]
        await self._rebuild(conn, now, generation, everything=True, progress=progress)
        return generation

    async def ensure_built(self, conn: BaseDBAsyncClient, now: datetime) -> str | None:
        """Rebuilds when Redis holds no generation (it was flushed or lost) or the sets were
        built for other badges' metrics or other challenges (a program version changed them);
        returns the new generation then, else None."""
        generation, metrics, _ = await self._built()
        if generation is not None and metrics == built_for(self.program):
            return None
        if generation is None:
            log.warning("progress: Redis holds no generation key; rebuilding from SQL")
        else:
            log.info("progress: the badges or challenges are others now; rebuilding from SQL")
        return await self.rebuild(conn, now)

    async def ensure_fresh(self, conn: BaseDBAsyncClient, now: datetime) -> bool:
        """Once per program day (the jobs call it every run): rebuilds the tier set, whose
        rolling windows lower amounts with no event, and drops the sets of closed challenge
        windows; rebuilds everything first when ensure_built finds it must. Returns whether it
        rebuilt anything."""
        if await self.ensure_built(conn, now) is not None:
            return True
        generation, _, day = await self._built()
        if generation is None or day == self.day(now):
            return False
        log.info("progress: the daily refresh of the tier set for %s", self.day(now))
        await self._rebuild(conn, now, generation, everything=False)
        return True

    async def _rebuild(
        self,
        conn: BaseDBAsyncClient,
        now: datetime,
        generation: str,
        *,
        everything: bool,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> None:
        """The rebuild of every set (`everything`), or of the tier set alone (the daily
        refresh, which keeps the generation), as `rebuild` describes."""
        program = self.program
        build = uuid.uuid4().hex[:12]
        log.info("progress: rebuilding (%s) into %s", "all" if everything else TIER, build)
        handled = await consumers.checkpoint(conn, NAME)
        watermark = handled.position if handled is not None else await outbox.head(conn)
        windows = running(program, now)
        metrics = [*metrics_of(program), TIER, *windows] if everything else [TIER]
        temporary = {m: self.temporary_key(build, self.key(m)) for m in metrics}
        loaded = dict.fromkeys(metrics, 0)
        try:
            enrolled = await population(conn)
            read, after = 0, 0
            while True:
                rows = await sql.rows(
                    conn, "SELECT id FROM member WHERE id > ? ORDER BY id LIMIT ?", [after, PAGE]
                )
                if not rows:
                    break
                ids = [int(r["id"]) for r in rows]
                page = Touched(badges=ids, tier=ids, challenges=ids)
                found = await values(conn, program, page if everything else Touched(tier=ids), now)
                for metric in metrics:
                    loaded[metric] += await self.boards.load(
                        temporary[metric], _stored(found.get(metric, {}))
                    )
                after = ids[-1]
                read += len(ids)
                if progress is not None:
                    progress(self.key("*"), read, max(enrolled, read))
            if progress is not None and (read == 0 or read < enrolled):
                progress(self.key("*"), read, read)  # the bar ends full
            renames = {self.key(m): temporary[m] if loaded[m] else None for m in metrics}
            # The daily refresh keeps the running challenge windows' sets as they are.
            kept = {*renames, *(self.key(m) for m in windows)}
            match = self.key("*") if everything else self.key(f"{CHALLENGE}:*")
            for stale in await self._stale_keys(kept, match):
                renames[stale] = None
            expiries = {self.key(m): challenge_ttl(w, now) for m, w in windows.items()}
            await self._swap(
                renames,
                expiries,
                enrolled,
                built_for(program) if everything else None,
                generation,
                self.day(now),
            )
        except BaseException:
            await self.boards.drop(list(temporary.values()))
            raise
        while late := await outbox.after(conn, watermark, None, LATE_BATCH):
            await self.refresh_after(conn, late, now)
            watermark = late[-1].position

    async def _swap(
        self,
        renames: Mapping[str, str | None],
        expiries: Mapping[str, int],
        enrolled: int,
        metrics: list[str] | None,
        generation: str,
        day: str,
    ) -> None:
        """Puts each rebuilt set in place of its live key and drops the ones with nothing to
        replace them, sets the challenge windows' times to live, and writes the population,
        the day, and (with `metrics`) what was built and the generation, in one MULTI."""
        try:
            async with self.boards.redis.pipeline(transaction=True) as pipe:
                for live, temporary in renames.items():
                    # Moved aside first so that UNLINK frees the old value in the background
                    # (RENAME would delete it in the server's thread).
                    pipe.unlink(live)
                    if temporary is not None:
                        pipe.rename(temporary, live)
                        if live in expiries:
                            pipe.expire(live, expiries[live])
                pipe.set(self.population_key, enrolled)
                pipe.set(self.day_key, day)
                if metrics is not None:
                    pipe.set(self.metrics_key, json.dumps(metrics))
                    pipe.set(self.generation_key, generation)
                await pipe.execute()
        except RedisError as error:
            raise BoardsUnavailable(str(error)) from error

    async def _stale_keys(self, kept: set[str], match: str) -> list[str]:
        """Live sets matching `match` that nothing counts any more: of metrics no badge counts,
        of challenges gone, of closed challenge windows."""
        own = {
            self.population_key,
            self.metrics_key,
            self.generation_key,
            self.day_key,
            *kept,
        }
        try:
            return [
                str(key)
                async for key in self.boards.redis.scan_iter(match=match, count=1000)
                if str(key) not in own
            ]
        except RedisError as error:
            raise BoardsUnavailable(str(error)) from error


def _stored(found: Mapping[int, int]) -> Iterable[tuple[int, int]]:
    return ((member_id, value) for member_id, value in found.items() if value > 0)


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
