"""Recording a purchase: the points it earns, once per order per source."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError

from domain import earning, idempotency, ledger, members, sql, text, views
from domain.actors import Actor
from domain.errors import DomainError, ErrorCode, InvalidInput
from domain.models import PurchaseLine
from domain.money import parse_amount, parse_currency
from domain.program import Program
from domain.unit import Unit, utcnow

MAX_LINES = 500
# A till's clock may run a little fast; a purchase from further in the future is a mistake.
CLOCK_SKEW = timedelta(minutes=10)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class LineInput:
    sku: str | None
    category: str | None
    quantity: object
    unit_price: object


@dataclass(frozen=True)
class PurchaseInput:
    member: members.MemberRef
    order_id: str
    amount: object
    currency: object
    shipping: object = None
    tax: object = None
    lines: tuple[LineInput, ...] = ()
    occurred_at: datetime | None = None


@dataclass(frozen=True)
class Recorded:
    member_id: int
    purchase_id: int
    transaction_id: int | None
    points: int
    changed: views.Changed | None = None


def _optional(value: str | None, field: str, limit: int) -> str | None:
    return None if value is None else text.plain(value, field, limit)


def parse(data: PurchaseInput, program: Program) -> tuple[earning.Purchase, datetime | None]:
    text.plain(data.order_id, "orderId", 128)
    amount = parse_amount(data.amount, "amount")
    currency = parse_currency(data.currency, frozenset(program.purchase_rates), "currency")
    shipping = parse_amount(
        "0" if data.shipping is None else data.shipping, "shipping", allow_zero=True
    )
    tax = parse_amount("0" if data.tax is None else data.tax, "tax", allow_zero=True)
    if shipping + tax > amount:
        raise InvalidInput(
            "amount",
            "amount must include shipping and tax, so it cannot be smaller than their sum.",
        )
    if len(data.lines) > MAX_LINES:
        raise InvalidInput("lines", f"A purchase can have at most {MAX_LINES} lines.")
    lines = []
    for index, line in enumerate(data.lines):
        where = f"lines[{index}]"
        quantity = line.quantity
        if (
            isinstance(quantity, bool)
            or not isinstance(quantity, int)
            or not (1 <= quantity <= 1_000_000)
        ):
            raise InvalidInput(
                f"{where}.quantity", "quantity must be a whole number from 1 to 1000000."
            )
        lines.append(
            earning.PurchaseLine(
                sku=_optional(line.sku, f"{where}.sku", 100),
                category=_optional(line.category, f"{where}.category", 100),
                quantity=quantity,
                unit_price=parse_amount(line.unit_price, f"{where}.unitPrice", allow_zero=True),
            )
        )
    occurred_at = data.occurred_at
    if occurred_at is not None:
        if occurred_at.tzinfo is None:
            raise InvalidInput("occurredAt", "occurredAt must include a time zone offset.")
        if occurred_at > utcnow() + CLOCK_SKEW:
            raise InvalidInput("occurredAt", "occurredAt cannot be in the future.")
        if occurred_at < EARLIEST:
            raise InvalidInput("occurredAt", "occurredAt must be in this century.")
    purchase = earning.Purchase(
        amount=amount, currency=currency, shipping=shipping, tax=tax, lines=tuple(lines)
    )
    return purchase, occurred_at


async def record(
    program: Program, actor: Actor, data: PurchaseInput, idempotency_key: object
) -> Recorded:
    purchase, occurred_at = parse(data, program)
    req = idempotency.request(
        actor.scope,
        idempotency_key,
        "recordPurchase",
        {
            "memberId": data.member.id,
            "externalId": data.member.external_id,
            "orderId": data.order_id,
            "amount": str(purchase.amount),
            "currency": purchase.currency,
            "shipping": str(purchase.shipping),
            "tax": str(purchase.tax),
            "lines": [
                [ln.sku, ln.category, ln.quantity, str(ln.unit_price)] for ln in purchase.lines
            ],
            "occurredAt": occurred_at,
        },
    )

    fresh: list[views.Changed] = []

    async def work(unit: Unit) -> idempotency.Result:
        member = await members.find(data.member)
        wallet = ledger.Wallet.of(member)
        award = earning.points_for(purchase, earning.purchase_rules(unit.program))
        if award.points > ledger.MAX_MOVEMENT:
            raise DomainError(
                ErrorCode.LIMIT_EXCEEDED,
                f"This purchase would earn {award.points} points; one purchase earns at most "
                f"{ledger.MAX_MOVEMENT}.",
                "amount",
            )
        transaction_id = None
        fresh.append(views.Changed(member, None))
        if award.points > 0:
            movement = await ledger.credit(
                unit,
                wallet,
                award.points,
                ledger.ISSUANCE,
                ledger.Posting(
                    kind="EARN",
                    source=actor.source,
                    reference=data.order_id,
                    description=f"Purchase {data.order_id}",
                    breakdown=award.breakdown_json(),
                    occurred_at=occurred_at,
                ),
                counts_toward_lifetime=True,
            )
            transaction_id = movement.transaction_id
            fresh.append(ledger.changed(member, movement))
        try:
            row = await sql.row(
                unit.conn,
                "INSERT INTO purchase (member_id, source, order_id, amount, shipping, tax, "
                "currency, occurred_at, transaction_id, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                [
                    wallet.member_id,
                    actor.source,
                    data.order_id,
                    purchase.amount,
                    purchase.shipping,
                    purchase.tax,
                    purchase.currency,
                    occurred_at or unit.now,
                    transaction_id,
                    unit.now,
                ],
            )
            assert row is not None
            purchase_id = int(row["id"])
        except IntegrityError:
            raise DomainError(
                ErrorCode.DUPLICATE,
                f"Order {data.order_id!r} was already recorded by this source.",
                "orderId",
            ) from None
        if purchase.lines:
            await PurchaseLine.bulk_create(
                [
                    PurchaseLine(
                        purchase_id=purchase_id,
                        sku=ln.sku,
                        category=ln.category,
                        quantity=ln.quantity,
                        unit_price=ln.unit_price,
                    )
                    for ln in purchase.lines
                ],
                using_db=unit.conn,
            )
        unit.emit(
            "purchase.recorded",
            _event(purchase_id, wallet, data, purchase, award, actor.source),
            member_id=wallet.member_id,
            transaction_id=transaction_id,
        )
        return {
            "memberId": wallet.member_id,
            "purchaseId": purchase_id,
            "transactionId": transaction_id,
            "points": award.points,
        }

    ran = await idempotency.run_once(req, program, work)
    return Recorded(
        member_id=ran.result["memberId"],
        purchase_id=ran.result["purchaseId"],
        transaction_id=ran.result["transactionId"],
        points=ran.result["points"],
        changed=None if ran.replayed else fresh[-1],
    )


def _event(
    purchase_id: int,
    wallet: ledger.Wallet,
    data: PurchaseInput,
    purchase: earning.Purchase,
    award: earning.Award,
    source: str,
) -> dict[str, Any]:
    return {
        "purchaseId": purchase_id,
        "memberId": wallet.member_id,
        "source": source,
        "orderId": data.order_id,
        "amount": str(purchase.amount),
        "eligibleAmount": str(purchase.eligible_amount),
        "currency": purchase.currency,
        "points": award.points,
        "lines": [
            {
                "sku": ln.sku,
                "category": ln.category,
                "quantity": ln.quantity,
                "unitPrice": str(ln.unit_price),
            }
            for ln in purchase.lines
        ],
    }
