"""Calling the API as its callers do, and checking the ledger's invariants from SQL."""

from __future__ import annotations

import contextvars
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import redis.asyncio as aioredis

from app.runtime import Runtime, prepare
from app.settings import Settings
from domain import sql
from domain.program import Program
from domain.program_file import load_program
from schema import ids

# The program tests run on: stable, whatever the demo program shows off.
BASE_PROGRAM = Path(__file__).with_name("programs") / "base.toml"


class ManualClock:
    """A clock a test moves by hand; the app asks it the time through its Runtime."""

    def __init__(self, start: datetime | str | None = None) -> None:
        self._now = datetime.now(UTC)
        if start is not None:
            self.set(start)

    def now(self) -> datetime:
        return self._now

    def set(self, moment: datetime | str) -> None:
        if isinstance(moment, str):
            moment = datetime.fromisoformat(moment)
        self._now = moment.astimezone(UTC)

    def advance(self, **delta: float) -> datetime:
        self._now += timedelta(**delta)
        return self._now


@dataclass
class Stores:
    backend: str
    url: str
    redis: aioredis.Redis
    program: Program


def member_gid(member_id: int) -> str:
    return ids.global_id("Member", member_id)


def reward_gid(key: str) -> str:
    return ids.global_id("Reward", key)


def partner_gid(key: str) -> str:
    return ids.global_id("Partner", key)


def new_key() -> str:
    return uuid.uuid4().hex


class GraphQLErrors(AssertionError):
    pass


class API:
    """The app through HTTP, in-process. `as_` picks the caller: headers from `admin()`,
    `member(...)` or `await partner(...)`, or None for anonymous."""

    def __init__(
        self, client: httpx.AsyncClient, settings: Settings, stores: Stores, runtime: Runtime
    ) -> None:
        self.client = client
        self.settings = settings
        self.stores = stores
        self.runtime = runtime
        self._partner_keys: dict[str, str] = {}

    def use_clock(self, clock: ManualClock | None = None) -> ManualClock:
        """From now on the app tells the time by `clock` (a new one, at the real time, if not
        given) and returns it, for the test to move."""
        clock = clock or ManualClock()
        self.runtime.clock = clock
        return clock

    async def use_program(self, program: Program | str) -> Program:
        """Applies another program (a Program, or program-file text) to the running app."""
        if isinstance(program, str):
            program = load_program(program)
        applied = await prepare(program, self.runtime.clock.now())
        self.runtime.program = self.stores.program = applied
        return applied

    # -- callers --------------------------------------------------------------------------
    def admin(self) -> dict[str, str]:
        return {"X-API-Key": self.settings.admin_api_key}

    def token(self, external_id: str, **claims: Any) -> str:
        """A member token issued now by the app's clock, living an hour."""
        now = int(self.runtime.clock.now().timestamp())
        body = {"sub": external_id, "iat": now, "exp": now + 3600, **claims}
        return jwt.encode(body, self.settings.jwt_secret, algorithm="HS256")

    def member(self, external_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(external_id)}"}

    async def partner(self, key: str) -> dict[str, str]:
        if key not in self._partner_keys:
            data = await self.gql(
                "mutation($i: CreatePartnerApiKeyInput!) { createPartnerApiKey(input: $i) "
                "{ apiKey userErrors { code message } } }",
                {"i": {"partnerId": partner_gid(key)}},
                as_=self.admin(),
            )
            payload = data["createPartnerApiKey"]
            assert payload["userErrors"] == [], payload
            self._partner_keys[key] = payload["apiKey"]
        return {"X-API-Key": self._partner_keys[key]}

    # -- transport ------------------------------------------------------------------------
    async def post(
        self, query: str, variables: dict[str, Any] | None = None, as_: dict[str, str] | None = None
    ) -> httpx.Response:
        return await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=as_ or {}
        )

    async def result(
        self, query: str, variables: dict[str, Any] | None = None, as_: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """The whole JSON body (data and errors) of a request that must not be a 4xx/5xx."""
        response = await self.post(query, variables, as_)
        assert response.status_code == 200, (response.status_code, response.text)
        return response.json()

    async def gql(
        self, query: str, variables: dict[str, Any] | None = None, as_: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """`data` of a request that must succeed without GraphQL errors."""
        body = await self.result(query, variables, as_)
        if body.get("errors"):
            raise GraphQLErrors(body["errors"])
        return body["data"]

    async def mutate(
        self, name: str, input: dict[str, Any], selection: str, as_: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """Runs `name(input: ...)` and returns its payload (userErrors included)."""
        input_type = name[0].upper() + name[1:] + "Input"
        data = await self.gql(
            f"mutation($i: {input_type}!) {{ {name}(input: $i) {{ {selection} "
            "userErrors { code field message } } }",
            {"i": input},
            as_=as_,
        )
        return data[name]

    # -- the business, in one line each ----------------------------------------------------
    async def enroll(
        self, external_id: str, as_: dict[str, str] | None = None, **fields: Any
    ) -> str:
        payload = await self.mutate(
            "enrollMember",
            {"externalId": external_id, **fields},
            "member { id }",
            as_=as_ or self.admin(),
        )
        assert payload["userErrors"] == [], payload
        return payload["member"]["id"]

    async def purchase(
        self,
        member_id: str,
        amount: str,
        currency: str = "RON",
        *,
        order_id: str | None = None,
        key: str | None = None,
        as_: dict[str, str] | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        return await self.mutate(
            "recordPurchase",
            {
                "memberId": member_id,
                "orderId": order_id or new_key(),
                "amount": amount,
                "currency": currency,
                "idempotencyKey": key or new_key(),
                **fields,
            },
            "member { balance lifetimePoints } transaction { id kind points balanceAfter } "
            "purchase { id orderId points }",
            as_=as_ or self.admin(),
        )

    async def adjust(
        self, member_id: str, points: int, *, reason: str = "test", key: str | None = None
    ) -> dict[str, Any]:
        return await self.mutate(
            "adjustPoints",
            {
                "memberId": member_id,
                "points": points,
                "reason": reason,
                "idempotencyKey": key or new_key(),
            },
            "member { balance } transaction { id kind points balanceAfter }",
            as_=self.admin(),
        )

    async def redeem(
        self,
        reward_key: str,
        *,
        member_id: str | None = None,
        key: str | None = None,
        as_: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "rewardId": reward_gid(reward_key),
            "idempotencyKey": key or new_key(),
        }
        if member_id is not None:
            fields["memberId"] = member_id
        return await self.mutate(
            "redeemReward",
            fields,
            "member { balance } redemption { id code status points } "
            "transaction { id kind points balanceAfter }",
            as_=as_ or self.admin(),
        )

    async def cancel(
        self, redemption_id: str, *, key: str | None = None, as_: dict[str, str] | None = None
    ) -> dict[str, Any]:
        return await self.mutate(
            "cancelRedemption",
            {"redemptionId": redemption_id, "idempotencyKey": key or new_key()},
            "member { balance } redemption { id status } transaction { id kind points }",
            as_=as_ or self.admin(),
        )

    async def balance(self, member_id: str) -> int:
        data = await self.gql(
            "query($id: ID!) { member(id: $id) { balance } }", {"id": member_id}, as_=self.admin()
        )
        return int(data["member"]["balance"])


# Every table a business operation writes to.
WRITTEN_TABLES = (
    "member",
    "account",
    "ledger_transaction",
    "entry",
    "lot",
    "lot_draw",
    "idempotency_record",
    "outbox_event",
    "purchase",
    "purchase_line",
    "action_record",
    "redemption",
    "partner_link",
    "partner_api_key",
)


async def table_counts() -> dict[str, int]:
    """Rows per written table, in one statement: to prove nothing was written."""
    counts = await sql.row(
        sql.connection(),
        "SELECT " + ", ".join(f"(SELECT COUNT(*) FROM {t}) AS {t}" for t in WRITTEN_TABLES),
    )
    assert counts is not None
    return {table: int(counts[table]) for table in WRITTEN_TABLES}


async def assert_ledger_consistent() -> dict[int, int]:
    """Checks every ledger invariant from SQL; returns each wallet's balance by account id."""
    conn = sql.connection()
    total = await sql.row(conn, "SELECT COALESCE(SUM(amount), 0) AS total FROM entry")
    assert total is not None
    assert int(total["total"]) == 0, f"entries sum to {total}"
    unbalanced = await sql.rows(
        conn, "SELECT transaction_id FROM entry GROUP BY transaction_id HAVING SUM(amount) <> 0"
    )
    assert unbalanced == [], f"transactions whose entries do not sum to zero: {unbalanced}"
    one_legged = await sql.rows(
        conn, "SELECT transaction_id FROM entry GROUP BY transaction_id HAVING COUNT(*) < 2"
    )
    assert one_legged == [], f"transactions with fewer than two entries: {one_legged}"

    wallets = await sql.rows(
        conn,
        "SELECT a.id, a.balance, a.pending, COALESCE(SUM(e.amount), 0) AS entries "
        "FROM account a LEFT JOIN entry e ON e.account_id = a.id WHERE a.kind = 'member' "
        "GROUP BY a.id, a.balance, a.pending",
    )
    lots = {
        (int(r["account_id"]), bool(r["pending"])): int(r["remaining"])
        for r in await sql.rows(
            conn,
            "SELECT account_id, pending, SUM(remaining) AS remaining FROM lot "
            "GROUP BY account_id, pending",
        )
    }
    balances = {}
    for w in wallets:
        account, balance, pending = int(w["id"]), int(w["balance"]), int(w["pending"])
        assert balance >= 0, f"wallet {account} below zero: {w}"
        assert pending >= 0, f"wallet {account} pending below zero: {w}"
        assert balance + pending == int(w["entries"]), f"wallet {account} != its entries: {w}"
        assert balance == lots.get((account, False), 0), f"wallet {account} != its lots"
        assert pending == lots.get((account, True), 0), f"wallet {account} pending != lots"
        balances[account] = balance

    drift = await sql.rows(
        conn,
        "SELECT l.id, l.amount, l.remaining, COALESCE(SUM(d.amount), 0) AS drawn FROM lot l "
        "LEFT JOIN lot_draw d ON d.lot_id = l.id GROUP BY l.id, l.amount, l.remaining "
        "HAVING l.remaining <> l.amount - COALESCE(SUM(d.amount), 0)",
    )
    assert drift == [], f"lots whose remaining disagrees with their draws: {drift}"

    # A release makes held points spendable without an entry, so only wallets that never
    # held points must show their balance as their last entry's balanceAfter.
    stale = await sql.rows(
        conn,
        "SELECT a.id, a.balance, e.balance_after FROM account a JOIN entry e ON e.account_id = "
        "a.id WHERE a.kind = 'member' AND e.transaction_id = (SELECT MAX(transaction_id) FROM "
        "entry WHERE account_id = a.id) AND e.balance_after <> a.balance AND NOT EXISTS "
        "(SELECT 1 FROM lot l JOIN ledger_transaction t ON t.id = l.transaction_id "
        "WHERE l.account_id = a.id AND l.available_at > t.created_at)",
    )
    assert stale == [], f"wallets whose last balanceAfter is not their balance: {stale}"

    debts = await sql.row(
        conn,
        "SELECT COALESCE(SUM(debt), 0) AS owed, COALESCE(MIN(debt), 0) AS lowest FROM account "
        "WHERE kind = 'member'",
    )
    receivable = await sql.row(
        conn,
        "SELECT COALESCE(SUM(e.amount), 0) AS total FROM entry e JOIN account a ON "
        "a.id = e.account_id WHERE a.code = 'receivable'",
    )
    assert debts is not None
    assert receivable is not None
    assert int(debts["lowest"]) >= 0, "a member owes a negative amount"
    assert int(receivable["total"]) == -int(debts["owed"]), (
        f"receivable entries {receivable['total']} do not match the debts {debts['owed']}"
    )
    return balances


_counting: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "counting", default=None
)


@contextmanager
def count_statements() -> Iterator[list[str]]:
    """Collects the SQL statements this block sends (tortoise logs each one). Tasks started
    inside the block count too (they copy its context); background tasks started before it,
    such as the outbox fan-out, do not."""
    logger = logging.getLogger("tortoise.db_client")
    seen: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if _counting.get() is seen:
                seen.append(str(record.args[0]) if record.args else record.getMessage())

    handler = Collect(level=logging.DEBUG)
    previous = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    token = _counting.set(seen)
    try:
        yield seen
    finally:
        _counting.reset(token)
        logger.removeHandler(handler)
        logger.setLevel(previous)
