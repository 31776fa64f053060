"""What counts toward tiers: a row per movement of lifetime points, and per purchase's spend.

Rows are kept only while the program's tiers need them (a window, or spend): lifetime points
are the wallet's own figures (`TierRules.from_account`), and a purchase then writes nothing
more. While they are kept, the ledger writes a row whenever it changes a member's lifetime
points, in the same transaction, so that for every member Σ `points` of its rows = its
lifetime points. A program version that starts needing them rebuilds them (`rebuild`). A row is
dated by the activity (a refund by its purchase, so that it cancels in the same window) and
counts from the moment its points stop being pending. Spend is kept in ten-thousandths of its
currency, so that sums are exact on both databases.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

from tortoise.backends.base.client import BaseDBAsyncClient

from domain import sql
from domain.program import Program, QualifyOn

SPEND_SCALE = 10_000


def spend_units(amount: Decimal) -> int:
    return int((amount * SPEND_SCALE).to_integral_value(rounding=ROUND_HALF_EVEN))


async def record(
    conn: BaseDBAsyncClient,
    member_id: int,
    *,
    points: int,
    occurred_at: datetime,
    counts_from: datetime,
    spend: tuple[Decimal, str] | None = None,
) -> None:
    amount, currency = spend if spend is not None else (Decimal(0), None)
    await sql.execute(
        conn,
        "INSERT INTO tier_credit (member_id, occurred_at, counts_from, points, spend, currency) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [member_id, occurred_at, counts_from, points, spend_units(amount), currency],
    )


def kept(program: Program) -> bool:
    return not program.tier_rules.from_account


async def rebuild(conn: BaseDBAsyncClient) -> None:
    """The rows, made again from the ledger, for a program version that starts keeping them.
    Released points count as of the member's latest transaction (the ledger has no finer date
    for what they net to); pending ones from their release, dated by the transaction that
    earned them; each purchase's spend, less its refunds, from its own date."""
    await sql.execute(conn, "DELETE FROM tier_credit")
    await sql.execute(
        conn,
        "INSERT INTO tier_credit (member_id, occurred_at, counts_from, points, spend) "
        "SELECT m.id, s.latest, s.latest, a.lifetime - a.pending, 0 FROM member m "
        "JOIN account a ON a.id = m.account_id JOIN (SELECT member_id, MAX(created_at) AS "
        "latest FROM ledger_transaction GROUP BY member_id) s ON s.member_id = m.id "
        "WHERE a.lifetime - a.pending <> 0",
    )
    await sql.execute(
        conn,
        "INSERT INTO tier_credit (member_id, occurred_at, counts_from, points, spend) "
        "SELECT m.id, t.occurred_at, l.available_at, l.remaining, 0 FROM lot l "
        "JOIN member m ON m.account_id = l.account_id "
        "JOIN ledger_transaction t ON t.id = l.transaction_id WHERE l.pending AND l.remaining > 0",
    )
    purchases = await sql.rows(
        conn,
        "SELECT member_id, occurred_at, created_at, amount, refunded_amount, eligible_amount, "
        "currency FROM purchase WHERE amount > 0 AND eligible_amount > 0",
    )
    for p in purchases:
        amount = Decimal(str(p["amount"]))
        left = Decimal(str(p["eligible_amount"])) * (amount - Decimal(str(p["refunded_amount"])))
        await record(
            conn,
            int(p["member_id"]),
            points=0,
            occurred_at=sql.to_datetime(p["occurred_at"]),
            counts_from=sql.to_datetime(p["created_at"]),
            spend=(left / amount, p["currency"]),
        )


async def sums(
    conn: BaseDBAsyncClient,
    program: Program,
    member_ids: Sequence[int],
    *,
    start: datetime | None,
    end: datetime,
    now: datetime,
) -> dict[int, int]:
    """Each member's qualifying amount for activity in [start, end) that counts by `now`:
    points, or whole units of the spend currency (rounded down). One statement."""
    if not member_ids:
        return {}
    rules = program.tier_rules
    spend = rules.qualify_on is QualifyOn.SPEND
    where = [
        f"member_id IN ({sql.in_list(len(member_ids))})",
        "counts_from <= ?",
        "occurred_at < ?",
    ]
    params: list[object] = [*member_ids, now, end]
    if start is not None:
        where.append("occurred_at >= ?")
        params.append(start)
    if spend:
        where.append("currency = ?")
        params.append(rules.spend_currency)
    column = "spend" if spend else "points"
    rows = await sql.rows(
        conn,
        f"SELECT member_id, SUM({column}) AS n FROM tier_credit WHERE {' AND '.join(where)} "
        "GROUP BY member_id",
        params,
    )
    found = {int(r["member_id"]): int(r["n"] or 0) for r in rows}
    if spend:
        found = {key: value // SPEND_SCALE for key, value in found.items()}
    return {member: max(found.get(member, 0), 0) for member in member_ids}
