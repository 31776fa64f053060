"""Refunding a purchase takes back the points it earned, in proportion to the money returned.

Partial refunds add up: after refunds of a total R of an amount A, the purchase has given back
floor(points x R / A) points, so a full refund returns exactly what the purchase earned, however
it was split. Pending points are simply cancelled; spent ones become debt (see ledger.clawback).
Bonuses the purchase triggered elsewhere (a referral's) stay paid.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal, localcontext

from domain import idempotency, ledger, members, sql, text, views
from domain.actors import Actor
from domain.errors import DomainError, ErrorCode, Forbidden, InvalidInput, NotFound
from domain.money import canonical, parse_amount
from domain.program import Program
from domain.unit import Unit


@dataclass(frozen=True)
class PurchaseRef:
    id: int | None = None
    order_id: str | None = None  # among the caller's own purchases


@dataclass(frozen=True)
class Refunded:
    member_id: int
    purchase_id: int
    transaction_id: int | None
    points: int  # clawed back by this refund
    changed: views.Changed | None = None


def clawed_back_after(points: int, amount: Decimal, refunded: Decimal) -> int:
    """How many of a purchase's points are taken back once `refunded` of its `amount` is."""
    if amount <= 0:
        return points
    with localcontext(prec=80):
        share = Decimal(points) * min(refunded, amount) / amount
    return int(share.to_integral_value(rounding=ROUND_FLOOR))


async def refund(
    program: Program,
    actor: Actor,
    ref: PurchaseRef,
    amount: object | None,
    idempotency_key: object,
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
    fresh: list[views.Changed] = []

    async def work(unit: Unit) -> idempotency.Result:
        lock = sql.for_update(unit.conn)
        columns = (
            "SELECT id, member_id, source, order_id, amount, refunded_amount, points, "
            "points_clawed_back, transaction_id FROM purchase"
        )
        if ref.id is not None:
            found = await sql.row(unit.conn, f"{columns} WHERE id = ?{lock}", [ref.id])
        else:
            found = await sql.row(
                unit.conn,
                f"{columns} WHERE source = ? AND order_id = ?{lock}",
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
        claw = clawed_back_after(earned, total, refunded + this) - clawed
        await sql.execute(
            unit.conn,
            "UPDATE purchase SET refunded_amount = ?, points_clawed_back = ? WHERE id = ?",
            [refunded + this, clawed + claw, found["id"]],
        )
        member = await members.find(members.MemberRef(id=int(found["member_id"])))
        transaction_id = None
        fresh.append(views.Changed(member, None))
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
                    kind="REFUND",
                    source=actor.source,
                    reference=found["order_id"],
                    description=f"Refund of order {found['order_id']}",
                    reverses_id=found["transaction_id"],
                ),
            )
            transaction_id = movement.transaction_id
            fresh.append(ledger.changed(member, movement))
        await sql.execute(
            unit.conn,
            "INSERT INTO purchase_refund (purchase_id, source, amount, points, transaction_id, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?)",
            [found["id"], actor.source, this, claw, transaction_id, unit.now],
        )
        unit.emit(
            "purchase.refunded",
            {
                "purchaseId": found["id"],
                "memberId": member.id,
                "orderId": found["order_id"],
                "amount": str(this),
                "refundedInAll": str(refunded + this),
                "points": claw,
                "source": actor.source,
            },
            member_id=member.id,
            transaction_id=transaction_id,
        )
        return {
            "memberId": member.id,
            "purchaseId": int(found["id"]),
            "transactionId": transaction_id,
            "points": claw,
        }

    ran = await idempotency.run_once(req, program, work)
    return Refunded(
        member_id=ran.result["memberId"],
        purchase_id=ran.result["purchaseId"],
        transaction_id=ran.result["transactionId"],
        points=ran.result["points"],
        changed=None if ran.replayed else fresh[-1],
    )
