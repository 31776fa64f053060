"""A thin layer for the few statements the ORM cannot say: guarded updates with RETURNING.

Statements are written once with `?` placeholders; PostgreSQL gets them renumbered ($1, $2...).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.connection import get_connections


def connection() -> BaseDBAsyncClient:
    return get_connections().get("default")


def is_postgres(conn: BaseDBAsyncClient) -> bool:
    return conn.capabilities.dialect == "postgres"


def for_update(conn: BaseDBAsyncClient) -> str:
    """Row locks where the database has them; SQLite lets one writer in at a time anyway."""
    return " FOR UPDATE" if is_postgres(conn) else ""


@functools.lru_cache(maxsize=256)
def _numbered(statement: str) -> str:
    pieces = statement.split("?")
    out = [pieces[0]]
    for number, piece in enumerate(pieces[1:], start=1):
        out.append(f"${number}{piece}")
    return "".join(out)


def _dialect(conn: BaseDBAsyncClient, statement: str) -> str:
    return _numbered(statement) if is_postgres(conn) else statement


async def rows(conn: BaseDBAsyncClient, statement: str, params: Sequence[Any] = ()) -> list[dict]:
    """Rows of a SELECT, or of an INSERT/UPDATE ... RETURNING."""
    return await conn.execute_query_dict(_dialect(conn, statement), list(params))


async def row(conn: BaseDBAsyncClient, statement: str, params: Sequence[Any] = ()) -> dict | None:
    found = await rows(conn, statement, params)
    return found[0] if found else None


async def execute(conn: BaseDBAsyncClient, statement: str, params: Sequence[Any] = ()) -> int:
    """Runs a write and says how many rows it touched."""
    count, _ = await conn.execute_query(_dialect(conn, statement), list(params))
    return count


async def execute_many(
    conn: BaseDBAsyncClient, statement: str, params: Sequence[Sequence[Any]]
) -> None:
    await conn.execute_many(_dialect(conn, statement), [list(p) for p in params])


def values_clause(width: int, count: int) -> str:
    """`(?, ?), (?, ?)` for a multi-row INSERT of `count` rows of `width` columns."""
    one = "(" + ", ".join("?" * width) + ")"
    return ", ".join([one] * count)


def to_datetime(value: Any) -> datetime:
    """SQLite hands timestamps back as text; PostgreSQL as datetimes. Both become aware UTC."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def to_date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def to_json(value: Any) -> Any:
    """JSON columns come back as text from SQLite and from raw asyncpg queries."""
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def in_list(count: int) -> str:
    return ", ".join("?" * count)
