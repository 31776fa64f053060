"""Our SQLite backend (app/sqlite_backend.py): a transaction takes the write lock as it begins,
and one that cannot get it in time fails without wedging the process's connection."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from tortoise.context import TortoiseContext
from tortoise.exceptions import OperationalError
from tortoise.transactions import in_transaction

from app import storage
from domain import sql


async def test_a_transaction_waits_for_the_write_lock_as_it_begins(tmp_path: Path) -> None:
    file = tmp_path / "locks.sqlite3"
    async with TortoiseContext() as context:
        await context.init(config=storage.tortoise_config(f"sqlite://{file}?busy_timeout=200"))
        await sql.execute(sql.connection(), "CREATE TABLE counter (n INTEGER)")
        other = sqlite3.connect(file, isolation_level=None)  # another process's connection
        other.execute("BEGIN IMMEDIATE")
        try:
            # A deferred BEGIN would let this in to read, and fail only when it writes.
            with pytest.raises(OperationalError, match="locked"):
                async with in_transaction("default") as conn:
                    await sql.rows(conn, "SELECT n FROM counter")
        finally:
            other.rollback()
            other.close()
        async with asyncio.timeout(30), in_transaction("default") as conn:  # not wedged
            await sql.execute(conn, "INSERT INTO counter (n) VALUES (?)", [1])
        assert await sql.rows(sql.connection(), "SELECT n FROM counter") == [{"n": 1}]
