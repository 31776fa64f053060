"""Refunding a purchase takes back the points it earned, in proportion to the money returned.

Partial refunds add up: after refunds of a total R of an amount A, the purchase has given back
floor(points x R / A) points, so a full refund returns exactly what the purchase earned, however
it was split. Points of the purchase that have expired count as given back already: they went
to breakage, so a refund takes back only what the purchase's lot still holds or what was spent
from it, never the expired share a second time. Pending points are simply cancelled; spent ones
become debt (see ledger.clawback). Bonuses the purchase triggered elsewhere (a referral's) stay
paid.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal, localcontext

from domain import events, idempotency, ledger, members, qualifying, sql, text, views, wording
from domain.actors import Actor, partner_of
from domain.errors import DomainError, ErrorCode, Forbidden, InvalidInput, NotFound
from domain.money import canonical, parse_amount
from domain.program import Program
from domain.transaction_kind import TransactionKind
from domain.unit import Unit


@dataclass(frozen=True)
class PurchaseRef:
    id: int | None = None
    order_id: str | None = None  # among the caller's own purchases


@dataclass(frozen=True)
class Refunded:
    member: views.MemberView
    purchase: views.PurchaseView  # with this refund counted
    transaction: views.TransactionView | None  # None when it took no points back
    points: int  # clawed back by this refund


def clawed_back_after(points: int, amount: Decimal, refunded: Decimal) -> int:
    """How many of a purchase's points are taken back once `refunded` of its `amount` is."""
    if amount <= 0:
        return points
    with localcontext(prec=80):
        share = Decimal(points) * min(refunded, amount) / amount
    return int(share.to_integral_value(rounding=ROUND_FLOOR))


async def _expired_from(unit: Unit, transaction_id: int | None) -> int:
    """How many points of the lots a credit made have expired."""
    if transaction_id is None:
        return 0
    found = await sql.row(
        unit.conn,
        "SELECT COALESCE(SUM(d.amount), 0) AS points FROM lot l "
        "JOIN lot_draw d ON d.lot_id = l.id "
        "JOIN ledger_transaction t ON t.id = d.transaction_id "
        "WHERE l.transaction_id = ? AND t.kind = ?",
        [transaction_id, "EXPIRE"],
    )
    return int(found["points"]) if found is not None else 0


async def refund(
    program: Program,
    actor: Actor,
    ref: PurchaseRef,
    amount: object | None,
    idempotency_key: object,
    now: datetime | None = None,
) -> Refunded:
    if ref.id is None and ref.order_id is None:
        raise InvalidInput("purchaseId", "Say which purchase: give purchaseId or orderId.")
    if ref.order_id is not None:
        text.plain(ref.order_id, "orderId", 128)
    money = None if amount is None else parse_amount(amount, "amount")
    req = idempotency.request(
        actor.scope,
        idempotency_key,
        "refundPurchase",
        {
            "purchaseId": ref.id,
            "orderId": ref.order_id,
            "amount": None if money is None else canonical(money),
        },
    )

    async def work(unit: Unit) -> Refunded:
        lock = sql.for_update(unit.conn)
        columns = f"SELECT {views.PURCHASE_COLUMNS} FROM purchase p"
        if ref.id is not None:
            found = await sql.row(unit.conn, f"{columns} WHERE p.id = ?{lock}", [ref.id])
        else:
            found = await sql.row(
                unit.conn,
                f"{columns} WHERE p.source = ? AND p.order_id = ?{lock}",
                [actor.source, ref.order_id],
            )
        if found is None:
            raise NotFound("Purchase", "purchaseId" if ref.id is not None else "orderId")
        if not actor.is_admin and found["source"] != actor.source:
            raise Forbidden(
                "Only whoever recorded a purchase (or the operator) refunds it.", "purchaseId"
            )
        total = Decimal(str(found["amount"]))
        refunded = Decimal(str(found["refunded_amount"]))
        left = total - refunded
        if left <= 0:
            raise DomainError(
                ErrorCode.INVALID_STATE, "This purchase is already fully refunded.", "purchaseId"
            )
        this = left if money is None else money
        if this > left:
            raise InvalidInput("amount", f"Only {left} of this purchase is left to refund.")
        earned, clawed = int(found["points"]), int(found["points_clawed_back"])
        # Points of this purchase that expired went back to the program already (breakage):
        # they count as taken back, so that a refund never takes them a second time.
        expired = await _expired_from(unit, found["transaction_id"])
        covered = clawed_back_after(earned, total, refunded + this)
        claw = max(covered - clawed - expired, 0)
        # Lifetime earnings lose this refund's whole share, expired points included.
        unearned = covered - clawed_back_after(earned, total, refunded)
        await sql.execute(
            unit.conn,
            "UPDATE purchase SET refunded_amount = ?, points_clawed_back = ? WHERE id = ?",
            [refunded + this, clawed + claw, found["id"]],
        )
        member = await members.find(members.MemberRef(id=int(found["member_id"])))
        transaction = None
        if claw > 0:
            lot = await sql.row(
                unit.conn,
                "SELECT id FROM lot WHERE transaction_id = ? ORDER BY id LIMIT 1",
                [found["transaction_id"]],
            )
            movement = await ledger.clawback(
                unit,
                ledger.Wallet.of(member),
                claw,
                None if lot is None else int(lot["id"]),
                ledger.ISSUANCE,
                ledger.Posting(
                    kind=TransactionKind.REFUND,
                    source=actor.source,
                    # The purchase's partner's, whoever refunds it.
                    partner=partner_of(found["source"]),
                    reference=found["order_id"],
                    description=wording.text(unit.program, "refund", {"order": found["order_id"]}),
                    reverses_id=found["transaction_id"],
                    earned_at=sql.to_datetime(found["occurred_at"]),
                ),
                unearned=unearned,
            )
            transaction = movement.transaction
            member = ledger.after(member, movement)
        elif unearned > 0:
            lifetime = await ledger.unearn(
                unit, ledger.Wallet.of(member), unearned, sql.to_datetime(found["occurred_at"])
            )
            member = replace(member, lifetime=lifetime)
        transaction_id = None if transaction is None else transaction.id
        eligible = Decimal(str(found["eligible_amount"]))
        if eligible > 0 and qualifying.kept(unit.program):
            # Money spent counts for tiers less what is refunded, in proportion.
            await qualifying.record(
                unit.conn,
                member.id,
                points=0,
                occurred_at=sql.to_datetime(found["occurred_at"]),
                counts_from=unit.now,
                spend=(-(eligible * this / total), found["currency"]),
            )
        await sql.execute(
            unit.conn,
            "INSERT INTO purchase_refund (purchase_id, source, amount, points, transaction_id, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?)",
            [found["id"], actor.source, this, claw, transaction_id, unit.now],
        )
        unit.emit(
            events.PurchaseRefunded(
                member_id=member.id,
                purchase_id=int(found["id"]),
                order_id=found["order_id"],
                amount=this,
                refunded_in_all=refunded + this,
                points=claw,
                source=actor.source,
            ),
            transaction_id=transaction_id,
        )
        purchase = replace(
            views.purchase_view(found),
            refunded_amount=refunded + this,
            points_clawed_back=clawed + claw,
        )
        return Refunded(member=member, purchase=purchase, transaction=transaction, points=claw)

    return (await idempotency.run_once(req, program, work, Refunded, now)).result
