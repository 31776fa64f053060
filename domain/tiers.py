"""Members' stored tiers: raised at once by the operation that qualifies them, lowered only by
the review (`jobs.review_tiers`).

What always holds:
- A member's tier is its `member_tier` row, or the base tier when it has none.
- Every change of it is one `tier_change` row and one `tier.changed` event, written in the
  transaction that made it, under the member's wallet lock (so two operations, or two review
  runners, take turns and the second sees the first's row).
- `member_tier.reviewed_at` is the latest review edge the member was judged at (or reached its
  tier after): a review does nothing to a member already judged at its edge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from tortoise.backends.base.client import BaseDBAsyncClient

from domain import events, ledger, qualifying, sql, tier_rules, views
from domain.program import Program
from domain.unit import Unit
from domain.views import MemberView


@dataclass(frozen=True)
class TierChangeView:
    id: int
    member_id: int
    from_tier: str | None
    to_tier: str
    reason: events.TierChangeReason
    amount: int  # the window's qualifying amount that decided it
    occurred_at: datetime


async def amounts(
    conn: BaseDBAsyncClient,
    program: Program,
    members: Sequence[MemberView],
    now: datetime,
) -> dict[int, int]:
    """Each member's qualifying amount in the window `now` falls in: none to one statement."""
    if program.tier_rules.from_account:
        return {m.id: m.qualifying_points for m in members}
    return await window_amounts(conn, program, [m.id for m in members], now)


async def window_amounts(
    conn: BaseDBAsyncClient, program: Program, member_ids: Sequence[int], now: datetime
) -> dict[int, int]:
    """What the members have done so far in the window `now` falls in (tier_credit rows)."""
    window = tier_rules.window_at(program.tier_rules, program.zone, now)
    return await qualifying.sums(
        conn, program, member_ids, start=window.start, end=window.review_at, now=now
    )


def current(program: Program, member: MemberView) -> int:
    """The position of the member's stored tier among the program's."""
    return tier_rules.position(program.tiers, member.tier)


async def settle(unit: Unit, member: MemberView) -> MemberView:
    """Raises the member's tier if what it has done so far in the window reaches a higher one.
    Called by every operation that adds qualifying points or spend, after it has added them;
    costs nothing more on lifetime points unless the tier changes."""
    program = unit.program
    tiers = program.tiers
    now_at = current(program, member)
    if now_at == len(tiers) - 1:
        return member
    amount = (await amounts(unit.conn, program, [member], unit.now))[member.id]
    reached = tier_rules.upgraded(now_at, amount, tiers)
    if reached == now_at:
        return member
    await ledger.lock(unit, ledger.Wallet.of(member))
    stored = await _stored(unit, member.id)
    before = tier_rules.position(tiers, stored[0] if stored else None)
    reached = tier_rules.upgraded(before, amount, tiers)
    if reached == before:
        return replace(member, tier=tiers[before].key)
    edge = tier_rules.last_review(program.tier_rules, program.zone, unit.now)
    await _change(
        unit,
        member.id,
        stored[0] if stored else tiers[0].key,
        tiers[reached].key,
        events.TierChangeReason.QUALIFIED,
        amount,
        edge,
        exists=stored is not None,
    )
    return replace(member, tier=tiers[reached].key)


async def settle_wallet(unit: Unit, wallet: ledger.Wallet) -> None:
    """`settle` for a job that moved a member's points and holds only its wallet."""
    found = await sql.row(unit.conn, f"{views.MEMBER_SELECT} WHERE m.id = ?", [wallet.member_id])
    if found is not None:
        await settle(unit, views.member_view(found))


async def review(unit: Unit, member_id: int, account_id: int, edge: datetime) -> bool:
    """Judges one member at the review `edge` (a job; see jobs.review_tiers): keeps its tier
    if the window that ended at `edge` reached the tier's retain threshold, else lowers it as
    the program says. A member with no stored tier gets one. Returns whether it changed."""
    program = unit.program
    rules, tiers = program.tier_rules, program.tiers
    wallet = await ledger.lock(unit, ledger.Wallet(member_id=member_id, account_id=account_id))
    stored = await _stored(unit, member_id)
    if stored is not None and stored[1] >= edge:
        return False  # judged at this edge already (by this run's twin, say)
    if rules.from_account:
        amount = max(int(wallet["lifetime"]) - int(wallet["pending"]), 0)
    else:
        window = tier_rules.reviewed_window(rules, program.zone, edge)
        found = await qualifying.sums(
            unit.conn, program, [member_id], start=window.start, end=edge, now=unit.now
        )
        amount = found[member_id]
    before = tier_rules.position(tiers, stored[0] if stored else None)
    after = tier_rules.reviewed(before, amount, tiers, rules.downgrade)
    if stored is not None and after == before:
        await sql.execute(
            unit.conn,
            "UPDATE member_tier SET reviewed_at = ? WHERE member_id = ?",
            [edge, member_id],
        )
        return False
    if stored is None and after == 0:
        await _write(unit, member_id, tiers[0].key, edge, exists=False)
        return False
    reason = events.TierChangeReason.QUALIFIED if after > before else events.TierChangeReason.REVIEW
    await _change(
        unit,
        member_id,
        stored[0] if stored else None,
        tiers[after].key,
        reason,
        amount,
        edge,
        exists=stored is not None,
    )
    return True


async def _stored(unit: Unit, member_id: int) -> tuple[str, datetime] | None:
    found = await sql.row(
        unit.conn, "SELECT tier_key, reviewed_at FROM member_tier WHERE member_id = ?", [member_id]
    )
    if found is None:
        return None
    return found["tier_key"], sql.to_datetime(found["reviewed_at"])


async def _write(unit: Unit, member_id: int, key: str, edge: datetime, *, exists: bool) -> None:
    if exists:
        await sql.execute(
            unit.conn,
            "UPDATE member_tier SET tier_key = ?, since = ?, reviewed_at = ? WHERE member_id = ?",
            [key, unit.now, edge, member_id],
        )
    else:
        await sql.execute(
            unit.conn,
            "INSERT INTO member_tier (member_id, tier_key, since, reviewed_at) VALUES (?, ?, ?, ?)",
            [member_id, key, unit.now, edge],
        )


async def _change(
    unit: Unit,
    member_id: int,
    from_tier: str | None,
    to_tier: str,
    reason: events.TierChangeReason,
    amount: int,
    edge: datetime,
    *,
    exists: bool,
) -> None:
    await _write(unit, member_id, to_tier, edge, exists=exists)
    await sql.execute(
        unit.conn,
        "INSERT INTO tier_change (member_id, from_tier, to_tier, reason, amount, occurred_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [member_id, from_tier, to_tier, reason.value, amount, unit.now],
    )
    unit.emit(
        events.TierChanged(member_id=member_id, from_tier=from_tier, to_tier=to_tier, reason=reason)
    )


async def changes(
    conn: BaseDBAsyncClient, member_ids: Sequence[int], limit: int
) -> dict[int, list[TierChangeView]]:
    """The latest `limit` tier changes of each member, newest first: one statement."""
    found: dict[int, list[TierChangeView]] = {m: [] for m in member_ids}
    if not member_ids:
        return found
    rows = await sql.rows(
        conn,
        "SELECT id, member_id, from_tier, to_tier, reason, amount, occurred_at FROM ("
        "SELECT c.*, ROW_NUMBER() OVER (PARTITION BY member_id ORDER BY id DESC) AS n "
        f"FROM tier_change c WHERE member_id IN ({sql.in_list(len(member_ids))})) ranked "
        "WHERE n <= ? ORDER BY member_id, id DESC",
        [*member_ids, limit],
    )
    for r in rows:
        found[int(r["member_id"])].append(
            TierChangeView(
                id=int(r["id"]),
                member_id=int(r["member_id"]),
                from_tier=r["from_tier"],
                to_tier=r["to_tier"],
                reason=events.TierChangeReason(r["reason"]),
                amount=int(r["amount"]),
                occurred_at=sql.to_datetime(r["occurred_at"]),
            )
        )
    return found
