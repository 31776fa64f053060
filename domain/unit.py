"""One business operation = one database transaction, with its events written alongside."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from domain import outbox
from domain.clock import utcnow
from domain.events import DomainEvent
from domain.program import Program


@dataclass
class Unit:
    conn: BaseDBAsyncClient
    program: Program
    now: datetime
    events: list[outbox.Event] = field(default_factory=list)

    def emit(self, event: DomainEvent, *, transaction_id: int | None = None) -> None:
        """Records an event of the catalogue, to be written with this unit's rows."""
        self.events.append(
            outbox.Event(event.TYPE, event.payload(self.now), event.member_id, transaction_id)
        )


@asynccontextmanager
async def unit_of_work(program: Program, now: datetime | None = None) -> AsyncIterator[Unit]:
    """`now` is the moment the operation happens at, from the caller's clock (the system's when
    not given)."""
    async with in_transaction("default") as conn, unit_in(conn, program, now or utcnow()) as unit:
        yield unit
    if unit.events:
        outbox.committed()


@asynccontextmanager
async def unit_in(conn: BaseDBAsyncClient, program: Program, now: datetime) -> AsyncIterator[Unit]:
    """A unit of work in a transaction its caller holds (an outbox consumer's, which moves its
    checkpoint in it): the unit's events are written when the block ends, the caller commits."""
    # In UTC, like every moment we store: SQLite compares them as text.
    unit = Unit(conn=conn, program=program, now=now.astimezone(UTC))
    yield unit
    await outbox.write(conn, unit.events, unit.now)
