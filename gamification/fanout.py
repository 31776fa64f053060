"""Publishes outbox events to Redis, where live subscribers (in any worker) pick them up.

An outbox consumer (domain/consumers.py) named "fanout". Delivery is at least once: a batch is
published, then the checkpoint moves, in one SQL transaction; if the commit fails the batch goes
out again, and subscribers drop repeats by event id.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

import redis.asyncio as aioredis
from tortoise.backends.base.client import BaseDBAsyncClient

from domain import outbox


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
    name = "fanout"

    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix

    async def handle(
        self, conn: BaseDBAsyncClient, events: Sequence[outbox.StoredEvent], now: datetime
    ) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for event in events:
            channel = (
                member_channel(self.prefix, event.member_id)
                if event.member_id is not None
                else program_channel(self.prefix)
            )
            pipe.publish(channel, message(event))
        await pipe.execute()
