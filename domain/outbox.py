"""Domain events, written in the same transaction as the ledger rows they describe. What each
kind holds is declared in domain.events, the catalogue; this module stores events and hands them
to consumers (domain.consumers) in an order no late commit can break.

Ids are given when a row is written, not when it commits: on PostgreSQL, a transaction can take
id 7, then commit after the one that took id 8. A reader that went past 8 would never see 7.
So each event records where it stands in commit order (`commit_order`):
- on PostgreSQL, the id of the transaction that wrote it (`pg_current_xact_id()`), and readers
  take only events of transactions older than every transaction still running
  (`pg_snapshot_xmin`): those have all committed or rolled back, so nothing can still appear
  before the last one read;
- on SQLite, zero: one writer at a time holds the database, and ids are given under its lock,
  so id order is commit order.
Readers go through events in (commit_order, id) order, and a position is such a pair.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from domain import sql


@dataclass(frozen=True)
class Event:
    type: str
    payload: dict[str, Any]
    member_id: int | None = None
    transaction_id: int | None = None


@dataclass(frozen=True)
class StoredEvent:
    id: int
    type: str
    payload: dict[str, Any]
    member_id: int | None
    transaction_id: int | None
    created_at: datetime
    commit_order: int = 0

    @property
    def position(self) -> Position:
        return Position(self.commit_order, self.id)


@dataclass(frozen=True, order=True)
class Position:
    """Just after an event, in the order consumers read them."""

    commit_order: int = 0
    event_id: int = 0


_commit_listeners: list[Callable[[], None]] = []


def on_commit(listener: Callable[[], None]) -> Callable[[], None]:
    """Calls `listener` after every commit that wrote events; returns its remover."""
    _commit_listeners.append(listener)

    def remove() -> None:
        if listener in _commit_listeners:
            _commit_listeners.remove(listener)

    return remove


def committed() -> None:
    for listener in list(_commit_listeners):
        listener()


def _commit_order(conn: BaseDBAsyncClient) -> str:
    return "pg_current_xact_id()::text::bigint" if sql.is_postgres(conn) else "0"


async def write(conn: BaseDBAsyncClient, events: Sequence[Event], now: datetime) -> None:
    if not events:
        return
    params: list[Any] = []
    for event in events:
        params += [
            event.type,
            event.member_id,
            event.transaction_id,
            json.dumps(event.payload, separators=(",", ":")),
            now,
        ]
    row = f"(?, ?, ?, ?, ?, {_commit_order(conn)})"
    await sql.execute(
        conn,
        "INSERT INTO outbox_event (type, member_id, transaction_id, payload, created_at, "
        f"commit_order) VALUES {', '.join([row] * len(events))}",
        params,
    )


async def settled_bound(conn: BaseDBAsyncClient) -> int | None:
    """Events whose commit_order is below this have all committed or rolled back (None: all of
    them have). Asked before the transaction that reads: a transaction that has locked a row
    has an id of its own, which would hold the bound back."""
    if not sql.is_postgres(conn):
        return None
    found = await sql.row(
        conn, "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS bound"
    )
    return int(found["bound"]) if found is not None else None


async def any_after(conn: BaseDBAsyncClient, position: Position) -> bool:
    found = await sql.row(
        conn,
        "SELECT 1 AS yes FROM outbox_event WHERE (commit_order, id) > (?, ?) LIMIT 1",
        [position.commit_order, position.event_id],
    )
    return found is not None


async def after(
    conn: BaseDBAsyncClient, position: Position, bound: int | None, limit: int
) -> list[StoredEvent]:
    """The first `limit` events after `position` that no running transaction can still precede."""
    settled = "" if bound is None else " AND commit_order < ?"
    found = await sql.rows(
        conn,
        "SELECT id, type, member_id, transaction_id, payload, created_at, commit_order "
        f"FROM outbox_event WHERE (commit_order, id) > (?, ?){settled} "
        "ORDER BY commit_order, id LIMIT ?",
        [position.commit_order, position.event_id, *([] if bound is None else [bound]), limit],
    )
    return [
        StoredEvent(
            id=int(r["id"]),
            type=r["type"],
            member_id=r["member_id"],
            transaction_id=r["transaction_id"],
            payload=sql.to_json(r["payload"]),
            created_at=sql.to_datetime(r["created_at"]),
            commit_order=int(r["commit_order"]),
        )
        for r in found
    ]


async def head(conn: BaseDBAsyncClient) -> Position:
    """The position just after the last event written."""
    found = await sql.row(
        conn,
        "SELECT commit_order, id FROM outbox_event ORDER BY commit_order DESC, id DESC LIMIT 1",
    )
    return Position() if found is None else Position(int(found["commit_order"]), int(found["id"]))
