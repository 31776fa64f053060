"""Tortoise's SQLite backend, with transactions that take the write lock when they begin.

Tortoise opens SQLite in autocommit mode (aiosqlite's `isolation_level=None`, WAL journal)
and starts a transaction with a plain `BEGIN`, which is deferred: the write lock is taken by
the first statement that writes. A transaction that has read by then cannot wait for the lock
while another process (`coalition jobs run`, say) writes: SQLite answers "database is locked"
at once, whatever `busy_timeout` says, because waiting could deadlock and its snapshot would
be stale anyway. `BEGIN IMMEDIATE` takes the write lock first, so a transaction waits its turn
(up to `busy_timeout`) instead of failing. Every transaction we open writes, and a process's
transactions go one at a time through its one connection anyway: nothing is lost by taking
the lock early. Statements outside a transaction take it as they go, and wait for it.

Tortoise loads a backend by module (the `engine` in its configuration) and picks the SQL its
migrations speak by that module's name, which must therefore say "sqlite".
"""

from __future__ import annotations

import sqlite3

from tortoise.backends.base.client import TransactionalDBClient, TransactionContext
from tortoise.backends.sqlite.client import (
    SqliteClient,
    SqliteTransactionContext,
    SqliteTransactionWrapper,
)
from tortoise.connection import get_connections
from tortoise.exceptions import OperationalError


class _ImmediateTransaction(SqliteTransactionWrapper):
    async def begin(self) -> None:
        # Ends whatever an interrupted transaction left open, as tortoise's own begin does.
        await self._connection.commit()
        try:
            await self._connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:  # still locked after busy_timeout
            raise OperationalError(error) from error


class _ImmediateTransactionContext(SqliteTransactionContext):
    async def __aenter__(self) -> TransactionalDBClient:
        # Tortoise's own keeps the connection's lock when BEGIN fails, which a plain BEGIN
        # never does but BEGIN IMMEDIATE can: the process would never query again.
        await self._trxlock.acquire()
        try:
            await self.ensure_connection()
            token = get_connections().set(self.connection_name, self.connection)
            try:
                await self.connection.begin()
            except BaseException:
                get_connections().reset(token)
                raise
        except BaseException:
            self._trxlock.release()
            raise
        self.token = token
        return self.connection


class ImmediateSqliteClient(SqliteClient):
    def _in_transaction(self) -> TransactionContext:
        return _ImmediateTransactionContext(_ImmediateTransaction(self), self._lock)


client_class = ImmediateSqliteClient
