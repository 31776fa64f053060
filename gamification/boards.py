"""Leaderboards in Redis: one sorted set per board and period, derived from SQL and rebuildable.

Keys (every one of a program's under its hash tag, so that Redis Cluster keeps them on one
slot and a rebuild's RENAMEs and multi-key reads stay legal):

    {c}:lb:<board>:all            ALL_TIME
    {c}:lb:<board>:w:2026-W48     a week, in the program's time zone
    {c}:lb:<board>:m:2026-11      a month
    {c}:lb:generation             which rebuild the keys came from; gone = Redis was lost

Members are their ids as text; values are gamification.scores encodings (higher score first,
then the earliest to reach it). Period keys expire at their period's end plus scores.GRACE,
by the app's clock: each write sets the key's time to live to what is left until then (an
EXPIRE rather than an EXPIREAT, so that a clock the app is given, in tests, agrees with Redis).
Redis is never the truth: every value is written absolute, computed from SQL, so writing it
again changes nothing. A Redis failure raises BoardsUnavailable.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gamification import scores
from gamification.fanout import member_channel


class BoardsUnavailable(RuntimeError):
    """Redis did not answer: rankings cannot be read or written just now."""


def hash_tag(prefix: str) -> str:
    """`prefix` if it already holds a hash tag (`{c}`), else the prefix made into one."""
    opening = prefix.find("{")
    if opening >= 0 and prefix.find("}", opening + 2) > opening:
        return prefix
    return "{" + prefix + "}"


@dataclass(frozen=True)
class Entry:
    member_id: int
    rank: int  # 1 is the top
    score: int
    percentile: float


@dataclass(frozen=True)
class Page:
    entries: tuple[Entry, ...]
    size: int


@dataclass(frozen=True)
class Change:
    """One member's new standing on one key: a value to store, or None to remove it."""

    key: str
    member_id: int
    value: int | None


@dataclass(frozen=True)
class Refresh:
    """Standings to write (absolute, from SQL), each key's time to live in seconds, and the
    keys whose rank moves are announced as RankChanged ({key: (board, period)})."""

    changes: tuple[Change, ...]
    expiries: Mapping[str, int] = field(default_factory=dict)
    announce: Mapping[str, tuple[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Expected:
    """A reader's own standings on one key, still being computed from SQL (read-your-writes):
    the read runs meanwhile and also fetches what Redis holds for them. Only where that
    differs is the refresh written and the read made again, so a reader the projector has
    already caught up with pays no round trip for its freshness. `meanwhile` hears the
    members a page's first read found, to load what the reader shows of them while the
    standings are still on their way."""

    key: str
    members: tuple[int, ...]
    compute: Callable[[], Awaitable[Refresh]]
    meanwhile: Callable[[list[int]], Awaitable[object]] | None = None

    def holds(self, stored: Sequence[float | None], refresh: Refresh) -> bool:
        """Whether Redis already held every value the refresh would write."""
        held = dict(zip(self.members, stored, strict=True))
        return all(
            change.key == self.key
            and change.member_id in held
            and held[change.member_id] == (None if change.value is None else float(change.value))
            for change in refresh.changes
        )


def rank_changed(
    member_id: int, board: str, period: str, rank: int | None, previous: int | None
) -> str:
    """The fan-out's message shape, for a member whose rank on a board moved."""
    return json.dumps(
        {
            "id": None,
            "type": "rank.changed",
            "memberId": member_id,
            "transactionId": None,
            "payload": {"board": board, "period": period, "rank": rank, "previousRank": previous},
        },
        separators=(",", ":"),
    )


class Boards:
    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix  # the fan-out's channels use it as it is
        self.tag = hash_tag(prefix)

    # -- keys -------------------------------------------------------------------------------
    def key(self, board: str, window: scores.Window) -> str:
        return f"{self.tag}:lb:{board}:{window.code}"

    def temporary_key(self, generation: str, key: str) -> str:
        return f"{self.tag}:lb-rebuild:{generation}:{key.removeprefix(self.tag + ':')}"

    @property
    def generation_key(self) -> str:
        return f"{self.tag}:lb:generation"

    # -- reading ----------------------------------------------------------------------------
    # Each read can carry a Refresh: standings computed from SQL a moment before, written in
    # the same atomic round trip ahead of the read (read-your-writes at the cost of none);
    # or an Expected one, computed while the read runs and written only where Redis lags.

    async def top(self, key: str, first: int, refresh: Refresh | Expected | None = None) -> Page:
        def read(pipe: Any) -> None:
            pipe.zrevrange(key, 0, first - 1, withscores=True)
            pipe.zcard(key)

        found, size = await self._read(read, refresh, lambda answers: _members(answers[0]))
        return Page(_entries(found, 1, size), size)

    async def entry(
        self, key: str, member_id: int, refresh: Refresh | Expected | None = None
    ) -> Entry | None:
        def read(pipe: Any) -> None:
            pipe.zrevrank(key, str(member_id))
            pipe.zscore(key, str(member_id))
            pipe.zcard(key)

        rank, value, size = await self._read(read, refresh)
        if rank is None or value is None:
            return None
        return Entry(member_id, rank + 1, scores.score_of(value), scores.percentile(rank + 1, size))

    async def around(
        self,
        key: str,
        member_id: int,
        before: int,
        after: int,
        refresh: Refresh | Expected | None = None,
    ) -> Page | None:
        """The member with up to `before` members above it and `after` below; None when the
        member is not on the board."""

        def read(pipe: Any) -> None:
            pipe.eval(_AROUND, 1, key, str(member_id), before, after)

        (found,) = await self._read(read, refresh, lambda answers: _members(_pairs(answers[0])))
        if not found:
            return None
        return Page(_entries(_pairs(found), int(found[0]) + 1, int(found[1])), int(found[1]))

    async def size(self, key: str) -> int:
        try:
            return int(await self.redis.zcard(key))
        except RedisError as error:
            raise BoardsUnavailable(str(error)) from error

    async def _read(
        self,
        read: Callable[[Any], None],
        refresh: Refresh | Expected | None,
        members: Callable[[list[Any]], list[int]] | None = None,
    ) -> list[Any]:
        """Runs `read`'s commands in one MULTI, after `refresh`'s writes; returns the read's
        answers (`members` says which members they name)."""
        if isinstance(refresh, Expected):
            return await self._read_expecting(read, refresh, members)
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                by_key = self._queue(pipe, refresh)
                read(pipe)
                answers = await pipe.execute()
            if refresh is not None:
                moved = _moved(by_key, answers[: len(by_key)])
                await self._announce(moved, refresh.announce)
        except RedisError as error:
            raise BoardsUnavailable(str(error)) from error
        return list(answers[len(by_key) :])

    async def _read_expecting(
        self,
        read: Callable[[Any], None],
        expected: Expected,
        members: Callable[[list[Any]], list[int]] | None,
    ) -> list[Any]:
        computing = asyncio.ensure_future(expected.compute())
        loading: asyncio.Future[object] | None = None
        checked = [str(m) for m in expected.members]

        def read_and_check(pipe: Any) -> None:
            read(pipe)
            pipe.zmscore(expected.key, checked)

        try:
            *answers, stored = await self._read(read_and_check, None)
            if expected.meanwhile is not None and members is not None:
                loading = asyncio.ensure_future(expected.meanwhile(members(answers)))
            refresh = await computing
            if loading is not None:
                await loading
        except BaseException:
            for pending in (computing, loading):
                if pending is not None:
                    pending.cancel()
            await asyncio.gather(computing, *([loading] if loading else []), return_exceptions=True)
            raise
        if expected.holds(stored, refresh):
            return answers
        return await self._read(read, refresh)

    # -- writing ----------------------------------------------------------------------------
    async def apply(
        self,
        changes: Sequence[Change],
        expiries: Mapping[str, int],
        announce: Mapping[str, tuple[str, str]] | None = None,
    ) -> dict[tuple[str, int], tuple[int | None, int | None]]:
        """Stores every change and sets each key's time to live (`expiries`, seconds): one
        script per key, atomic on that key, all in one round trip. Returns (previous rank,
        rank) per (key, member) whose rank moved, 1 at the top, None off the board. With
        `announce` ({key: (board, period)}), those moves onto a board are published as
        RankChanged on each member's channel."""
        if not changes:
            return {}
        refresh = Refresh(tuple(changes), expiries, announce or {})
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                by_key = self._queue(pipe, refresh)
                answers = await pipe.execute()
            moved = _moved(by_key, answers)
            await self._announce(moved, refresh.announce)
        except RedisError as error:
            raise BoardsUnavailable(str(error)) from error
        return moved

    def _queue(self, pipe: Any, refresh: Refresh | None) -> dict[str, list[Change]]:
        """Queues a refresh's writes on `pipe`: one script per key, in the order returned.
        EVAL rather than a registered script: redis-py asks SCRIPT EXISTS before every
        pipeline holding one, a second round trip; Redis caches the compiled body anyway."""
        by_key: dict[str, list[Change]] = {}
        if refresh is None:
            return by_key
        for change in refresh.changes:
            by_key.setdefault(change.key, []).append(change)
        for key, some in by_key.items():
            args: list[str | int] = [refresh.expiries.get(key, 0)]
            for change in some:
                args += [change.member_id, "" if change.value is None else change.value]
            pipe.eval(_APPLY, 1, key, *args)
        return by_key

    async def _announce(
        self,
        moved: Mapping[tuple[str, int], tuple[int | None, int | None]],
        announce: Mapping[str, tuple[str, str]],
    ) -> None:
        """Publishes RankChanged for the moves onto announced keys, to the members someone is
        watching: a batch moves hundreds of ranks, and publishing each to a channel nobody
        listens on was most of the projector's time. A member who starts watching between
        the check and the publish misses that one move, as it would had it moved a moment
        earlier (live events are not replayed)."""
        published = [
            (member_id, announce[key], was, now)
            for (key, member_id), (was, now) in moved.items()
            if key in announce and now is not None
        ]
        if not published:
            return
        channels = sorted({member_channel(self.prefix, m) for m, *_ in published})
        watched = {str(channel) for channel, n in await self.redis.pubsub_numsub(*channels) if n}
        if not watched:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for member_id, (board, period), was, now in published:
                channel = member_channel(self.prefix, member_id)
                if channel in watched:
                    pipe.publish(channel, rank_changed(member_id, board, period, now, was))
            await pipe.execute()

    async def load(
        self,
        key: str,
        values: Iterable[tuple[int, int]],
        chunk: int = 10_000,
        loaded: Callable[[int], None] | None = None,
    ) -> int:
        """ZADDs (member, value) pairs into `key` (a rebuild's temporary key), in chunks;
        `loaded` hears how many are in after each."""
        written = 0
        batch: dict[str, int] = {}
        try:
            for member_id, value in values:
                batch[str(member_id)] = value
                if len(batch) >= chunk:
                    await self.redis.zadd(key, batch)
                    written += len(batch)
                    batch = {}
                    if loaded is not None:
                        loaded(written)
            if batch:
                await self.redis.zadd(key, batch)
                written += len(batch)
        except RedisError as error:
            raise BoardsUnavailable(str(error)) from error
        if loaded is not None:
            loaded(written)
        return written

    async def swap(
        self, renames: Mapping[str, str | None], expiries: Mapping[str, int], generation: str
    ) -> None:
        """Puts each rebuilt temporary key in place of its live key at once (RENAME, the old
        value UNLINKed), drops live keys that have nothing to replace them, and records the
        generation, all in one MULTI."""
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                for live, temporary in renames.items():
                    if temporary is not None:
                        # RENAME deletes the old value in the server's thread; moving it aside
                        # first lets UNLINK free it in the background instead.
                        pipe.unlink(live)
                        pipe.rename(temporary, live)
                    else:
                        pipe.unlink(live)
                for key, seconds in expiries.items():
                    pipe.expire(key, max(seconds, 1))
                pipe.set(self.generation_key, generation)
                await pipe.execute()
        except RedisError as error:
            raise BoardsUnavailable(str(error)) from error

    async def generation(self) -> str | None:
        try:
            found = await self.redis.get(self.generation_key)
        except RedisError as error:
            raise BoardsUnavailable(str(error)) from error
        return None if found is None else str(found)

    async def drop(self, keys: Sequence[str]) -> None:
        if keys:
            try:
                await self.redis.unlink(*keys)
            except RedisError as error:
                raise BoardsUnavailable(str(error)) from error


def _moved(
    by_key: Mapping[str, Sequence[Change]], answers: Sequence[Any]
) -> dict[tuple[str, int], tuple[int | None, int | None]]:
    """(previous rank, rank) per (key, member) whose rank moved, from the apply scripts'
    answers."""
    moved: dict[tuple[str, int], tuple[int | None, int | None]] = {}
    for (key, some), ranks in zip(by_key.items(), answers, strict=True):
        for index, change in enumerate(some):
            old, new = int(ranks[2 * index]), int(ranks[2 * index + 1])
            was = None if old < 0 else old + 1
            now = None if new < 0 else new + 1
            if was != now:
                moved[(key, change.member_id)] = (was, now)
    return moved


def _pairs(found: Sequence[Any]) -> list[tuple[Any, float]]:
    """(member, value) pairs from the around script's answer: [start, size, flat pairs]."""
    if not found:
        return []
    flat = found[2]
    return [(flat[i], float(flat[i + 1])) for i in range(0, len(flat), 2)]


def _members(pairs: Sequence[tuple[Any, float]]) -> list[int]:
    return [int(member) for member, _ in pairs]


def _entries(pairs: Sequence[tuple[Any, float]], first_rank: int, size: int) -> tuple[Entry, ...]:
    return tuple(
        Entry(
            member_id=int(member),
            rank=first_rank + offset,
            score=scores.score_of(value),
            percentile=scores.percentile(first_rank + offset, size),
        )
        for offset, (member, value) in enumerate(pairs)
    )


# A batch's changes to one board key: ARGV[1] is the key's time to live in seconds (0: none),
# then member and value pairs (an empty value removes the member). Answers each member's rank
# (from 0; -1 when off the board) before and after, in pairs.
_APPLY = """
local n = (#ARGV - 1) / 2
local before = {}
for i = 1, n do
  before[i] = redis.call('ZREVRANK', KEYS[1], ARGV[2 * i]) or -1
end
for i = 1, n do
  local value = ARGV[2 * i + 1]
  if value == '' then
    redis.call('ZREM', KEYS[1], ARGV[2 * i])
  else
    redis.call('ZADD', KEYS[1], value, ARGV[2 * i])
  end
end
local ttl = tonumber(ARGV[1])
if ttl > 0 and redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('EXPIRE', KEYS[1], ttl)
end
local out = {}
for i = 1, n do
  out[2 * i - 1] = before[i]
  out[2 * i] = redis.call('ZREVRANK', KEYS[1], ARGV[2 * i]) or -1
end
return out
"""

# The member's rank, the board's size and the window around it, read in one atomic step.
_AROUND = """
local rank = redis.call('ZREVRANK', KEYS[1], ARGV[1])
if not rank then return false end
local start = rank - tonumber(ARGV[2])
if start < 0 then start = 0 end
local found = redis.call('ZREVRANGE', KEYS[1], start, rank + tonumber(ARGV[3]), 'WITHSCORES')
return {start, redis.call('ZCARD', KEYS[1]), found}
"""
