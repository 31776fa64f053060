"""What members and the operator read: balances, history, expiring points, redemptions.

Every function takes many keys at once and answers with one statement, so that a page of a
hundred members costs the same number of queries as one member.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from tortoise.backends.base.client import BaseDBAsyncClient

from domain import sql, views

R = TypeVar("R")


async def members_by_id(
    ids: Sequence[int], conn: BaseDBAsyncClient | None = None
) -> dict[int, views.MemberView]:
    if not ids:
        return {}
    found = await sql.rows(
        conn or sql.connection(),
        f"{views.MEMBER_SELECT} WHERE m.id IN ({sql.in_list(len(ids))})",
        list(ids),
    )
    return {int(r["id"]): views.member_view(r) for r in found}


async def member_by_external_id(external_id: str) -> views.MemberView | None:
    found = await sql.row(
        sql.connection(), f"{views.MEMBER_SELECT} WHERE m.external_id = ?", [external_id]
    )
    return None if found is None else views.member_view(found)


async def members_page(first: int, after_id: int | None) -> tuple[list[views.MemberView], bool]:
    """Members in enrollment order: `first` of them after `after_id`, and whether more follow."""
    found = await sql.rows(
        sql.connection(),
        f"{views.MEMBER_SELECT} WHERE m.id > ? ORDER BY m.id LIMIT ?",
        [after_id or 0, first + 1],
    )
    return [views.member_view(r) for r in found[:first]], len(found) > first


async def transaction_pages(
    account_ids: Sequence[int], first: int, before_id: int | None, only_partner: str | None = None
) -> dict[int, tuple[list[views.TransactionView], bool]]:
    """Each wallet's transactions, newest first: `first` of them, and whether more follow;
    with `only_partner`, only that partner's dealings."""
    if not account_ids:
        return {}
    conn = sql.connection()
    params: list[Any] = [*account_ids]
    where = ""
    if only_partner is not None:
        where += " AND t.partner = ?"
        params.append(only_partner)
    if before_id is not None:
        where += " AND e.transaction_id < ?"
        params.append(before_id)
    params.append(first + 1)
    found = await sql.rows(
        conn,
        f"SELECT * FROM (SELECT {views.TRANSACTION_COLUMNS}, e.account_id, ROW_NUMBER() OVER "
        "(PARTITION BY e.account_id ORDER BY e.transaction_id DESC) AS position "
        "FROM entry e JOIN ledger_transaction t ON t.id = e.transaction_id "
        f"WHERE e.account_id IN ({sql.in_list(len(account_ids))}){where}) ranked "
        "WHERE position <= ? ORDER BY account_id, position",
        params,
    )
    pages: dict[int, tuple[list[views.TransactionView], bool]] = {
        a: ([], False) for a in account_ids
    }
    for r in found:
        page, _ = pages[int(r["account_id"])]
        if len(page) < first:
            page.append(views.transaction_view(r))
        else:
            pages[int(r["account_id"])] = (page, True)
    return pages


async def transactions_by_id(ids: Sequence[int]) -> dict[int, views.TransactionView]:
    """Transactions as their member sees them (the member's own leg of each)."""
    if not ids:
        return {}
    found = await sql.rows(
        sql.connection(),
        f"SELECT {views.TRANSACTION_COLUMNS} FROM ledger_transaction t "
        "JOIN member m ON m.id = t.member_id "
        "JOIN entry e ON e.transaction_id = t.id AND e.account_id = m.account_id "
        f"WHERE t.id IN ({sql.in_list(len(ids))})",
        list(ids),
    )
    return {int(r["id"]): views.transaction_view(r) for r in found}


async def expiring_points(
    account_ids: Sequence[int], now: datetime, limit: int = 100
) -> dict[int, list[views.ExpiringView]]:
    """Spendable points not yet spent nor expired, by expiry moment, soonest first. Pending
    points are not spendable, so not counted: what expires never adds up to more than the
    balance."""
    if not account_ids:
        return {}
    found = await sql.rows(
        sql.connection(),
        "SELECT account_id, expires_at, SUM(remaining) AS points FROM lot "
        f"WHERE account_id IN ({sql.in_list(len(account_ids))}) AND remaining > 0 "
        "AND pending = ? AND expires_at IS NOT NULL AND expires_at > ? "
        "GROUP BY account_id, expires_at ORDER BY account_id, expires_at",
        [*account_ids, False, now],
    )
    result: dict[int, list[views.ExpiringView]] = {a: [] for a in account_ids}
    for r in found:
        bucket = result[int(r["account_id"])]
        if len(bucket) < limit:
            bucket.append(views.ExpiringView(sql.to_datetime(r["expires_at"]), int(r["points"])))
    return result


async def pending_releases(account_ids: Sequence[int]) -> dict[int, list[views.PendingView]]:
    """Points still pending, by the moment they become spendable, soonest first: all of them,
    so that they add up to the wallet's `pending` (a lot whose moment has passed stays pending
    until the release job, which runs every minute, makes it spendable)."""
    if not account_ids:
        return {}
    found = await sql.rows(
        sql.connection(),
        "SELECT account_id, available_at, SUM(remaining) AS points FROM lot "
        f"WHERE account_id IN ({sql.in_list(len(account_ids))}) AND pending = ? "
        "AND remaining > 0 GROUP BY account_id, available_at ORDER BY account_id, available_at",
        [*account_ids, True],
    )
    result: dict[int, list[views.PendingView]] = {a: [] for a in account_ids}
    for r in found:
        result[int(r["account_id"])].append(
            views.PendingView(sql.to_datetime(r["available_at"]), int(r["points"]))
        )
    return result


async def redemptions_by_id(ids: Sequence[int]) -> dict[int, views.RedemptionView]:
    if not ids:
        return {}
    found = await sql.rows(
        sql.connection(),
        f"{views.REDEMPTION_SELECT} WHERE r.id IN ({sql.in_list(len(ids))})",
        list(ids),
    )
    return {int(r["id"]): views.redemption_view(r) for r in found}


async def redemption_pages(
    member_ids: Sequence[int], first: int, before_id: int | None, only_partner: str | None = None
) -> dict[int, tuple[list[views.RedemptionView], bool]]:
    """Each member's redemptions, newest first; with `only_partner`, only of its rewards."""
    if not member_ids:
        return {}
    params: list[Any] = [*member_ids]
    where = ""
    if only_partner is not None:
        where += " AND t.partner = ?"
        params.append(only_partner)
    if before_id is not None:
        where += " AND r.id < ?"
        params.append(before_id)
    params.append(first + 1)
    found = await sql.rows(
        sql.connection(),
        "SELECT * FROM (SELECT r.id, ROW_NUMBER() OVER (PARTITION BY r.member_id ORDER BY "
        "r.id DESC) AS position FROM redemption r JOIN ledger_transaction t ON "
        f"t.id = r.transaction_id WHERE r.member_id IN ({sql.in_list(len(member_ids))}){where}) "
        "ranked WHERE position <= ?",
        params,
    )
    found_views = await redemptions_by_id([int(r["id"]) for r in found])
    pages: dict[int, tuple[list[views.RedemptionView], bool]] = {m: ([], False) for m in member_ids}
    for view in sorted(found_views.values(), key=lambda v: -v.id):
        page, _ = pages[view.member_id]
        if len(page) < first:
            page.append(view)
        else:
            pages[view.member_id] = (page, True)
    return pages


async def purchases_by_id(ids: Sequence[int]) -> dict[int, views.PurchaseView]:
    if not ids:
        return {}
    found = await sql.rows(
        sql.connection(),
        f"SELECT {views.PURCHASE_COLUMNS} FROM purchase p WHERE p.id IN ({sql.in_list(len(ids))})",
        list(ids),
    )
    return {int(r["id"]): views.purchase_view(r) for r in found}


async def result_from_ids(kind: type[R], ids: dict[str, Any]) -> R:
    """A typed result rebuilt from the ids an older idempotency record kept
    (memberId, transactionId, purchaseId, redemptionId, points), reading the objects as they
    are now: the best answer such a record allows."""
    values: dict[str, Any] = {}
    hints = typing.get_type_hints(kind)
    for field in dataclasses.fields(kind):  # type: ignore[arg-type]
        hint = hints[field.name]
        if views.MemberView in _options(hint):
            values[field.name] = (await members_by_id([ids["memberId"]]))[ids["memberId"]]
        elif views.TransactionView in _options(hint):
            number = ids.get("transactionId")
            values[field.name] = (
                None if number is None else (await transactions_by_id([number]))[number]
            )
        elif views.PurchaseView in _options(hint):
            values[field.name] = (await purchases_by_id([ids["purchaseId"]]))[ids["purchaseId"]]
        elif views.RedemptionView in _options(hint):
            number = ids["redemptionId"]
            values[field.name] = (await redemptions_by_id([number]))[number]
        else:
            values[field.name] = ids[field.name]
    return kind(**values)


def _options(hint: Any) -> tuple[Any, ...]:
    return typing.get_args(hint) or (hint,)
