"""What members and the operator read: balances, history, expiring points, redemptions.

Every function takes many keys at once and answers with one statement, so that a page of a
hundred members costs the same number of queries as one member.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from domain import sql
from domain.models import Redemption


@dataclass(frozen=True)
class MemberView:
    id: int
    external_id: str
    display_name: str | None
    email: str | None
    birthday: date | None
    referral_code: str
    created_at: datetime
    account_id: int
    balance: int
    pending: int
    lifetime: int


@dataclass(frozen=True)
class TransactionView:
    id: int
    member_id: int
    kind: str
    points: int
    balance_after: int
    description: str | None
    reference: str | None
    occurred_at: datetime
    created_at: datetime


@dataclass(frozen=True)
class ExpiringView:
    expires_at: datetime
    points: int


@dataclass(frozen=True)
class RedemptionView:
    id: int
    member_id: int
    reward_key: str
    points: int
    code: str
    status: str
    transaction_id: int
    created_at: datetime
    cancelled_at: datetime | None


_MEMBER_SELECT = (
    "SELECT m.id, m.external_id, m.display_name, m.email, m.birthday, m.referral_code, "
    "m.created_at, m.account_id, a.balance, a.pending, a.lifetime "
    "FROM member m JOIN account a ON a.id = m.account_id"
)


def _member_view(r: dict[str, Any]) -> MemberView:
    return MemberView(
        id=int(r["id"]),
        external_id=r["external_id"],
        display_name=r["display_name"],
        email=r["email"],
        birthday=sql.to_date(r["birthday"]),
        referral_code=r["referral_code"],
        created_at=sql.to_datetime(r["created_at"]),
        account_id=int(r["account_id"]),
        balance=int(r["balance"]),
        pending=int(r["pending"]),
        lifetime=int(r["lifetime"]),
    )


async def members_by_id(ids: Sequence[int]) -> dict[int, MemberView]:
    if not ids:
        return {}
    found = await sql.rows(
        sql.connection(), f"{_MEMBER_SELECT} WHERE m.id IN ({sql.in_list(len(ids))})", list(ids)
    )
    return {int(r["id"]): _member_view(r) for r in found}


async def member_by_external_id(external_id: str) -> MemberView | None:
    found = await sql.row(
        sql.connection(), f"{_MEMBER_SELECT} WHERE m.external_id = ?", [external_id]
    )
    return None if found is None else _member_view(found)


async def members_page(first: int, after_id: int | None) -> tuple[list[MemberView], bool]:
    """Members in enrolment order: `first` of them after `after_id`, and whether more follow."""
    found = await sql.rows(
        sql.connection(),
        f"{_MEMBER_SELECT} WHERE m.id > ? ORDER BY m.id LIMIT ?",
        [after_id or 0, first + 1],
    )
    return [_member_view(r) for r in found[:first]], len(found) > first


_TRANSACTION_COLUMNS = (
    "t.id, t.member_id, t.kind, t.description, t.reference, t.occurred_at, t.created_at, "
    "e.amount, e.balance_after"
)


def _transaction_view(r: dict[str, Any]) -> TransactionView:
    return TransactionView(
        id=int(r["id"]),
        member_id=int(r["member_id"]),
        kind=r["kind"],
        points=int(r["amount"]),
        balance_after=int(r["balance_after"]),
        description=r["description"],
        reference=r["reference"],
        occurred_at=sql.to_datetime(r["occurred_at"]),
        created_at=sql.to_datetime(r["created_at"]),
    )


async def transaction_pages(
    account_ids: Sequence[int], first: int, before_id: int | None
) -> dict[int, tuple[list[TransactionView], bool]]:
    """Each wallet's transactions, newest first: `first` of them, and whether more follow."""
    if not account_ids:
        return {}
    conn = sql.connection()
    cursor = "" if before_id is None else " AND e.transaction_id < ?"
    params: list[Any] = [*account_ids]
    if before_id is not None:
        params.append(before_id)
    params.append(first + 1)
    found = await sql.rows(
        conn,
        f"SELECT * FROM (SELECT {_TRANSACTION_COLUMNS}, e.account_id, ROW_NUMBER() OVER "
        "(PARTITION BY e.account_id ORDER BY e.transaction_id DESC) AS position "
        "FROM entry e JOIN ledger_transaction t ON t.id = e.transaction_id "
        f"WHERE e.account_id IN ({sql.in_list(len(account_ids))}){cursor}) ranked "
        "WHERE position <= ? ORDER BY account_id, position",
        params,
    )
    pages: dict[int, tuple[list[TransactionView], bool]] = {a: ([], False) for a in account_ids}
    for r in found:
        views, _ = pages[int(r["account_id"])]
        if len(views) < first:
            views.append(_transaction_view(r))
        else:
            pages[int(r["account_id"])] = (views, True)
    return pages


async def transactions_by_id(ids: Sequence[int]) -> dict[int, TransactionView]:
    """Transactions as their member sees them (the member's own leg of each)."""
    if not ids:
        return {}
    found = await sql.rows(
        sql.connection(),
        f"SELECT {_TRANSACTION_COLUMNS} FROM ledger_transaction t "
        "JOIN member m ON m.id = t.member_id "
        "JOIN entry e ON e.transaction_id = t.id AND e.account_id = m.account_id "
        f"WHERE t.id IN ({sql.in_list(len(ids))})",
        list(ids),
    )
    return {int(r["id"]): _transaction_view(r) for r in found}


async def expiring_points(
    account_ids: Sequence[int], now: datetime, limit: int = 100
) -> dict[int, list[ExpiringView]]:
    """Points not yet spent nor expired, by expiry moment, soonest first."""
    if not account_ids:
        return {}
    found = await sql.rows(
        sql.connection(),
        "SELECT account_id, expires_at, SUM(remaining) AS points FROM lot "
        f"WHERE account_id IN ({sql.in_list(len(account_ids))}) AND remaining > 0 "
        "AND expires_at IS NOT NULL AND expires_at > ? "
        "GROUP BY account_id, expires_at ORDER BY account_id, expires_at",
        [*account_ids, now],
    )
    result: dict[int, list[ExpiringView]] = {a: [] for a in account_ids}
    for r in found:
        bucket = result[int(r["account_id"])]
        if len(bucket) < limit:
            bucket.append(ExpiringView(sql.to_datetime(r["expires_at"]), int(r["points"])))
    return result


def _redemption_view(r: Redemption) -> RedemptionView:
    return RedemptionView(
        id=r.id,
        member_id=r.member_id,
        reward_key=r.reward_key,
        points=r.points,
        code=r.code,
        status=r.status,
        transaction_id=r.transaction_id,
        created_at=r.created_at,
        cancelled_at=r.cancelled_at,
    )


async def redemptions_by_id(ids: Sequence[int]) -> dict[int, RedemptionView]:
    found = await Redemption.filter(id__in=list(ids))
    return {r.id: _redemption_view(r) for r in found}


async def redemption_pages(
    member_ids: Sequence[int], first: int, before_id: int | None
) -> dict[int, tuple[list[RedemptionView], bool]]:
    """Each member's redemptions, newest first."""
    if not member_ids:
        return {}
    cursor = "" if before_id is None else " AND id < ?"
    params: list[Any] = [*member_ids]
    if before_id is not None:
        params.append(before_id)
    params.append(first + 1)
    found = await sql.rows(
        sql.connection(),
        "SELECT * FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY member_id ORDER BY id DESC) "
        f"AS position FROM redemption WHERE member_id IN ({sql.in_list(len(member_ids))})"
        f"{cursor}) ranked WHERE position <= ?",
        params,
    )
    views = await redemptions_by_id([int(r["id"]) for r in found])
    pages: dict[int, tuple[list[RedemptionView], bool]] = {m: ([], False) for m in member_ids}
    for view in sorted(views.values(), key=lambda v: -v.id):
        page, _ = pages[view.member_id]
        if len(page) < first:
            page.append(view)
        else:
            pages[view.member_id] = (page, True)
    return pages
