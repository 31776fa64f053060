"""PostgreSQL connections go back to the pool without a reset statement (one round trip per
statement, not two), and a transaction left open on one is still rolled back first."""

from __future__ import annotations

import asyncpg
import pytest
from asyncpg.connection import LoggedQuery

from app.storage import SessionlessConnection
from domain import sql
from tests.helpers import Stores


def _pool(db: Stores) -> asyncpg.Pool:
    if db.backend != "postgresql":
        pytest.skip("a PostgreSQL connection pool")
    return sql.connection()._pool  # type: ignore[attr-defined]


async def test_a_released_connection_is_sent_no_reset_statement(db: Stores) -> None:
    pool = _pool(db)
    sent: list[str] = []
    recording = True

    def log(query: LoggedQuery) -> None:
        if recording:  # the logger stays on the pooled connection: a released one refuses removal
            sent.append(query.query)

    try:
        async with pool.acquire() as conn:
            assert isinstance(conn, SessionlessConnection)
            conn.add_query_logger(log)
            assert await conn.fetchval("SELECT 1") == 1
        assert sent == ["SELECT 1"]
    finally:
        recording = False


async def test_a_transaction_left_open_is_rolled_back_before_the_connection_is_reused(
    db: Stores,
) -> None:
    pool = _pool(db)
    async with pool.acquire() as conn:
        await conn.execute("BEGIN")
        await conn.execute("CREATE TABLE left_open (n integer)")
    async with pool.acquire() as again:
        assert not again.is_in_transaction()
        assert await again.fetchval("SELECT to_regclass('left_open') IS NULL") is True
    assert await sql.rows(sql.connection(), "SELECT to_regclass('left_open') AS t") == [{"t": None}]
