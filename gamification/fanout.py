"""Publishes outbox events to Redis, where live subscribers (in any worker) pick them up.

Delivery is at least once: events are published, then marked, in one SQL transaction; if the
commit fails they go out again, and consumers drop repeats by event id. A commit wakes the
loop at once; a slow poll catches events written by other processes or left by a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

import redis.asyncio as aioredis
from tortoise.transactions import in_transaction

from domain import outbox, sql
from domain.clock import utcnow

log = logging.getLogger("coalition.fanout")

BATCH = 500
POLL_SECONDS = 2.0
RETRY_SECONDS = 1.0


def member_channel(prefix: str, member_id: int) -> str:
    return f"{prefix}:member:{member_id}"


def program_channel(prefix: str) -> str:
    return f"{prefix}:program"


def message(event: outbox.StoredEvent) -> str:
    return json.dumps(
        {
            "id": event.id,
            "type": event.type,
            "memberId": event.member_id,
            "transactionId": event.transaction_id,
            "payload": event.payload,
        },
        separators=(",", ":"),
    )


class Fanout:
    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._forget_listener = outbox.on_commit(self._wake.set)

    async def drain(self) -> int:
        """Publishes every unpublished event; returns how many went out."""
        sent = 0
        while True:
            # Looked for first, outside a transaction: on SQLite a transaction takes the write
            # lock as it begins, and an idle poll must not make other processes' writers wait.
            if not await outbox.any_unpublished(sql.connection()):
                return sent
            async with in_transaction("default") as conn:
                events = await outbox.claim_unpublished(conn, BATCH)
                if not events:
                    return sent
                pipe = self.redis.pipeline(transaction=False)
                for event in events:
                    channel = (
                        member_channel(self.prefix, event.member_id)
                        if event.member_id is not None
                        else program_channel(self.prefix)
                    )
                    pipe.publish(channel, message(event))
                await pipe.execute()
                await outbox.mark_published(conn, [e.id for e in events], utcnow())
            sent += len(events)

    async def _run(self) -> None:
        while True:
            # Drain first: a backlog from before the start (or from a crash) goes out at once.
            self._wake.clear()
            try:
                await self.drain()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox fan-out failed; retrying")
                await asyncio.sleep(RETRY_SECONDS)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=POLL_SECONDS)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="outbox-fanout")

    async def stop(self) -> None:
        self._forget_listener()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
