"""Opening and closing the two stores: SQL through Tortoise, and Redis."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from tortoise import Tortoise
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.context import TortoiseContext
from tortoise.migrations.api import migrate as run_migrations

from app.embedded_redis import EmbeddedRedis
from app.settings import Settings
from domain.words import counted

log = logging.getLogger("coalition.storage")

APPS = {
    "domain": {"models": ["domain.models"], "migrations": "domain.migrations"},
    "partners": {"models": ["partners.models"], "migrations": "partners.migrations"},
}


def tortoise_config(url: str) -> dict[str, Any]:
    return {
        "connections": {"default": _connection(url)},
        "apps": {label: {**app, "default_connection": "default"} for label, app in APPS.items()},
        "use_tz": True,
        "timezone": "UTC",
    }


class SessionlessConnection(asyncpg.Connection):
    """A PostgreSQL connection handed back to the pool without asyncpg's reset statement.

    By default each release sends `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *;
    RESET ALL`, a second round trip for every statement outside a transaction. Coalition keeps
    no session state (no session settings, advisory locks, LISTEN or held cursors: `SET LOCAL`
    and transaction-scoped locks end with their transaction), and asyncpg still rolls back a
    transaction left open before the connection goes back."""

    def get_reset_query(self) -> str:
        return ""


def _connection(url: str) -> str | dict[str, Any]:
    """SQLite through our backend, whose transactions wait for the write lock (see
    app/sqlite_backend.py); PostgreSQL through asyncpg with `SessionlessConnection`."""
    expanded = expand_db_url(url)
    if expanded["engine"] == "tortoise.backends.asyncpg":
        credentials = {**expanded["credentials"], "connection_class": SessionlessConnection}
        return {**expanded, "credentials": credentials}
    if expanded["engine"] != "tortoise.backends.sqlite":
        return url
    return {**expanded, "engine": "app.sqlite_backend"}


@dataclass(frozen=True)
class Migrated:
    """What `migrate` did: the migrations it applied ("domain.0002_program_rules"...), in order."""

    applied: tuple[str, ...]

    @property
    def created(self) -> bool:
        """The database was empty: its schema was created from the core's first migration on
        (another app's first migration only adds that app's tables to a schema)."""
        return "domain.0001_initial" in self.applied

    def describe(self) -> str:
        if self.created:
            return f"created the database schema ({counted(len(self.applied), 'migration')})"
        if self.applied:
            return (
                f"applied {counted(len(self.applied), 'migration')} to the database schema: "
                f"{', '.join(self.applied)}"
            )
        return "database schema is up to date"


async def migrate(url: str) -> Migrated:
    """Brings the schema up to date; safe to run at every start and from several processes
    one after another (each migration is recorded once applied). Says what it applied."""
    config = tortoise_config(url)
    applied: list[str] = []

    def progress(event: str, app: str, name: str) -> None:
        if event == "apply_done":
            applied.append(f"{app}.{name}")

    async with TortoiseContext() as context:
        await context.init(config=config, _create_db=False)
        await run_migrations(config=config, progress=progress)
    return Migrated(tuple(applied))


async def open_sql(url: str) -> None:
    await Tortoise.init(config=tortoise_config(url), _enable_global_fallback=True)


async def close_sql() -> None:
    await Tortoise.close_connections()
    # Tortoise caches each model's INSERT/UPDATE text by connection name and table, not by
    # dialect: opening "default" again on another database would reuse the old dialect's SQL.
    EXECUTOR_CACHE.clear()


def redis_url(settings: Settings, embedded: EmbeddedRedis | None) -> str:
    if settings.redis_url:
        return settings.redis_url
    if embedded is None:
        raise RuntimeError("no COALITION_REDIS_URL and no embedded redis-server")
    return embedded.url


def open_redis(url: str) -> aioredis.Redis:
    return aioredis.from_url(url, decode_responses=True, health_check_interval=30)


# For tortoise's own CLI (`make migrations`): model changes are compared with the migration
# files, not with a database, so an in-memory one will do.
TORTOISE_ORM = tortoise_config("sqlite://:memory:")
