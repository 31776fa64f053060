"""Every live subscriber of one worker process, on one Redis pub/sub connection.

What must hold:
- One connection per worker, however many subscribers: the worker subscribes to a member's
  channel when its first subscriber to that member arrives and unsubscribes when the last one
  leaves; the connection opens with the first subscriber and closes with the last.
- A subscriber gets its member's events in the order they were published, each at most once
  (gamification.live.Seen), and never another member's.
- A subscriber that stops reading cannot make the worker hold an unbounded backlog: past
  `backlog` unread events its watch ends with FellBehind.
- Pub/sub is at most once per connection: an event published while a worker's connection is
  down reaches none of its subscribers. A client that reconnects reads the member again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gamification.fanout import member_channel
from gamification.live import LiveEvent, Seen, read_message

log = logging.getLogger("coalition.live")

BACKLOG = 1_000
READ_SECONDS = 1.0
RETRY_SECONDS = 1.0


class Unavailable(Exception):
    """Live events cannot be followed now: Redis cannot be reached, or the worker is
    stopping."""


class FellBehind(Exception):
    """The subscriber left too many events unread."""


class Watch:
    """One subscriber's events, as they come: `async for event in watch`. The iteration ends
    when the worker stops, and raises FellBehind if the subscriber fell too far behind."""

    def __init__(self, member_id: int, backlog: int) -> None:
        self.member_id = member_id
        self._backlog = backlog
        self._queue: asyncio.Queue[LiveEvent | None] = asyncio.Queue()
        self._seen = Seen()
        self._ended = False
        self.fell_behind = False

    def offer(self, event: LiveEvent) -> None:
        if self._ended:
            return
        if event.event_id is not None and not self._seen.first(event.event_id):
            return
        if self._queue.qsize() >= self._backlog:
            self.fell_behind = True
            self.end()
            return
        self._queue.put_nowait(event)

    def end(self) -> None:
        if not self._ended:
            self._ended = True
            self._queue.put_nowait(None)

    def __aiter__(self) -> Watch:
        return self

    async def __anext__(self) -> LiveEvent:
        event = await self._queue.get()
        if event is None:
            if self.fell_behind:
                raise FellBehind(f"More than {self._backlog} events went unread; subscribe again.")
            raise StopAsyncIteration
        return event


class MemberEvents:
    """The worker's subscribers, by member, and the one pub/sub connection they share."""

    def __init__(
        self, redis: Callable[[], aioredis.Redis], prefix: str, *, backlog: int = BACKLOG
    ) -> None:
        self._redis = redis
        self.prefix = prefix
        self.backlog = backlog
        self._watches: dict[int, set[Watch]] = {}
        self._members: dict[str, int] = {}  # channel -> member
        self._lock = asyncio.Lock()
        self._pubsub: Any = None  # redis.asyncio.client.PubSub while anyone watches
        self._reader: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def watching(self) -> int:
        """How many subscribers this worker serves now."""
        return sum(len(watches) for watches in self._watches.values())

    @contextlib.asynccontextmanager
    async def watch(self, member_id: int) -> AsyncIterator[Watch]:
        """A watch on the member's events, subscribed in Redis before it is given; it leaves
        when the block ends. Unavailable when Redis cannot be reached."""
        watch = Watch(member_id, self.backlog)
        await self._join(watch)
        try:
            yield watch
        finally:
            await self._leave(watch)

    async def _join(self, watch: Watch) -> None:
        async with self._lock:
            if self._closed:
                raise Unavailable("The server is stopping; connect again shortly.")
            watches = self._watches.get(watch.member_id)
            if watches is None:
                channel = member_channel(self.prefix, watch.member_id)
                pubsub = self._pubsub if self._pubsub is not None else self._redis().pubsub()
                try:
                    await pubsub.subscribe(channel)
                except (RedisError, OSError) as error:
                    if self._pubsub is None:
                        with contextlib.suppress(RedisError, OSError):
                            await pubsub.aclose()
                    raise Unavailable(
                        "Live events are unavailable for now (Redis cannot be reached); "
                        "subscribe again shortly."
                    ) from error
                if self._pubsub is None:
                    self._pubsub = pubsub
                    self._reader = asyncio.create_task(self._read(pubsub), name="member-events")
                self._members[channel] = watch.member_id
                watches = self._watches[watch.member_id] = set()
            watches.add(watch)

    async def _leave(self, watch: Watch) -> None:
        async with self._lock:
            watches = self._watches.get(watch.member_id)
            if watches is None or watch not in watches:
                return
            watches.discard(watch)
            if watches:
                return
            del self._watches[watch.member_id]
            channel = member_channel(self.prefix, watch.member_id)
            self._members.pop(channel, None)
            if self._watches:
                with contextlib.suppress(RedisError, OSError):
                    await self._pubsub.unsubscribe(channel)
            else:
                await self._disconnect()

    async def _disconnect(self) -> None:
        reader, pubsub = self._reader, self._pubsub
        self._reader = self._pubsub = None
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        if pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()

    async def _read(self, pubsub: Any) -> None:
        while True:
            try:
                message = await pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=READ_SECONDS
                )
            except (RedisError, OSError) as error:
                # The client reconnects, and subscribes again, on the next read.
                log.warning("live events: Redis pub/sub lost (%s); reconnecting", error)
                await asyncio.sleep(RETRY_SECONDS)
                continue
            if message is None or message.get("type") != "message":
                continue
            member_id = self._members.get(message["channel"])
            watches = self._watches.get(member_id) if member_id is not None else None
            if not watches:
                continue
            event = read_message(message["data"], member_id)  # type: ignore[arg-type]
            if event is None:
                continue
            for watch in tuple(watches):
                watch.offer(event)

    async def close(self) -> None:
        """Ends every watch (their subscriptions complete) and closes the connection; later
        watches are refused. For the worker's shutdown."""
        async with self._lock:
            self._closed = True
            for watches in self._watches.values():
                for watch in watches:
                    watch.end()
            self._watches.clear()
            self._members.clear()
            await self._disconnect()
