"""Domain events, written in the same transaction as the ledger rows they describe. What each
kind holds is declared in domain.events, the catalogue; this module stores and claims them.

Readers (the live fan-out now; gamification, webhooks and insights later) take unpublished
events in id order and mark them published; since ids can commit out of order, they select by
`published_at IS NULL`, never by "id greater than the last one seen".
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
    await sql.execute(
        conn,
        "INSERT INTO outbox_event (type, member_id, transaction_id, payload, created_at) "
        f"VALUES {sql.values_clause(5, len(events))}",
        params,
    )


async def any_unpublished(conn: BaseDBAsyncClient) -> bool:
    found = await sql.row(
        conn, "SELECT 1 AS yes FROM outbox_event WHERE published_at IS NULL LIMIT 1"
    )
    return found is not None


async def claim_unpublished(conn: BaseDBAsyncClient, limit: int) -> list[StoredEvent]:
    """The oldest unpublished events; on PostgreSQL, rows another worker holds are skipped."""
    lock = " FOR UPDATE SKIP LOCKED" if sql.is_postgres(conn) else ""
    found = await sql.rows(
        conn,
        "SELECT id, type, member_id, transaction_id, payload FROM outbox_event "
        f"WHERE published_at IS NULL ORDER BY id LIMIT ?{lock}",
        [limit],
    )
    return [
        StoredEvent(
            id=r["id"],
            type=r["type"],
            member_id=r["member_id"],
            transaction_id=r["transaction_id"],
            payload=sql.to_json(r["payload"]),
        )
        for r in found
    ]


async def mark_published(conn: BaseDBAsyncClient, ids: Sequence[int], now: datetime) -> None:
    if ids:
        marks = ", ".join("?" * len(ids))
        await sql.execute(
            conn, f"UPDATE outbox_event SET published_at = ? WHERE id IN ({marks})", [now, *ids]
        )
