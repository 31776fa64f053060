"""Recording purchases and rewarded actions, and refunding purchases."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from domain import actions, purchases, refunds
from schema import ids
from schema.authorization import Operation, acting_on, require_may
from schema.common import Decimal, UserError
from schema.context import Context
from schema.ledger.types import PointTransaction
from schema.members.types import Member
from schema.mutating import mutate
from schema.purchases.types import Purchase


@strawberry.input
class PurchaseLineInput:
    sku: str | None = None
    category: str | None = None
    quantity: int = 1
    unit_price: Decimal


@strawberry.input
class RecordPurchaseInput:
    member_id: strawberry.ID | None = None
    external_id: str | None = None
    order_id: str
    amount: Decimal = strawberry.field(description="The total paid, shipping and tax included.")
    currency: str
    shipping: Decimal | None = None
    tax: Decimal | None = None
    discount: Decimal | None = strawberry.field(
        default=None,
        description="Taken off the order as a whole. With lines, the amount must be their "
        "totals less this discount, plus shipping (plus tax, unless their prices include it), "
        "to the cent; otherwise the purchase is refused (INVALID_INPUT on lines).",
    )
    lines: list[PurchaseLineInput] | None = None
    occurred_at: datetime | None = None
    idempotency_key: str


@strawberry.type
class RecordPurchasePayload:
    member: Member | None = None
    purchase: Purchase | None = None
    transaction: PointTransaction | None = None
    user_errors: list[UserError]


@strawberry.input
class RecordActionInput:
    member_id: strawberry.ID | None = None
    external_id: str | None = None
    action: str
    reference: str | None = strawberry.field(
        default=None, description="The action's own id (the review's, say): one award each."
    )
    idempotency_key: str


@strawberry.type
class RecordActionPayload:
    member: Member | None = None
    transaction: PointTransaction | None = None
    user_errors: list[UserError]


@strawberry.input
class RefundPurchaseInput:
    purchase_id: strawberry.ID | None = None
    order_id: str | None = strawberry.field(
        default=None, description="Instead of purchaseId: the order, among the caller's own."
    )
    amount: Decimal | None = strawberry.field(
        default=None, description="Money refunded; leave out to refund whatever is left."
    )
    idempotency_key: str


@strawberry.type
class RefundPurchasePayload:
    member: Member | None = None
    purchase: Purchase | None = None
    transaction: PointTransaction | None = None
    points_clawed_back: int | None = strawberry.field(
        default=None, description="Taken back by this refund (pending, spendable, or owed)."
    )
    user_errors: list[UserError]


@strawberry.type
class PurchaseMutations:
    @strawberry.mutation(description="A partner (or the operator) records a purchase.")
    async def record_purchase(
        self, info: Info[Context, None], input: RecordPurchaseInput
    ) -> RecordPurchasePayload:
        async def work(ctx: Context) -> purchases.Recorded:
            require_may(ctx, Operation.RECORD_PURCHASE)
            data = purchases.PurchaseInput(
                member=acting_on(ctx, input.member_id, input.external_id),
                order_id=input.order_id,
                amount=input.amount,
                currency=input.currency,
                shipping=input.shipping,
                tax=input.tax,
                discount=input.discount,
                lines=tuple(
                    purchases.LineInput(
                        sku=ln.sku,
                        category=ln.category,
                        quantity=ln.quantity,
                        unit_price=ln.unit_price,
                    )
                    for ln in input.lines or ()
                ),
                occurred_at=input.occurred_at,
            )
            return await purchases.record(
                ctx.program, ctx.actor, data, input.idempotency_key, now=ctx.clock.now()
            )

        return await mutate(
            info,
            RecordPurchasePayload,
            work,
            lambda ctx, done: RecordPurchasePayload(
                member=Member.of(done.member),
                purchase=Purchase.seen_by(ctx, done.purchase),
                transaction=PointTransaction.seen_by(ctx, done.transaction),
                user_errors=[],
            ),
        )

    @strawberry.mutation(description="A partner (or the operator) records a rewarded action.")
    async def record_action(
        self, info: Info[Context, None], input: RecordActionInput
    ) -> RecordActionPayload:
        async def work(ctx: Context) -> actions.Recorded:
            require_may(ctx, Operation.RECORD_ACTION)
            return await actions.record(
                ctx.program,
                ctx.actor,
                acting_on(ctx, input.member_id, input.external_id),
                input.action,
                input.reference,
                input.idempotency_key,
                now=ctx.clock.now(),
            )

        return await mutate(
            info,
            RecordActionPayload,
            work,
            lambda ctx, done: RecordActionPayload(
                member=Member.of(done.member),
                transaction=PointTransaction.seen_by(ctx, done.transaction),
                user_errors=[],
            ),
        )

    @strawberry.mutation(
        description="Takes back the points a purchase earned, in proportion to the money "
        "refunded; partial refunds add up. Whoever recorded the purchase (or the operator)."
    )
    async def refund_purchase(
        self, info: Info[Context, None], input: RefundPurchaseInput
    ) -> RefundPurchasePayload:
        async def work(ctx: Context) -> refunds.Refunded:
            require_may(ctx, Operation.REFUND_PURCHASE)
            ref = refunds.PurchaseRef(
                id=(
                    None
                    if input.purchase_id is None
                    else ids.int_key_of(input.purchase_id, "Purchase", "purchaseId")
                ),
                order_id=input.order_id,
            )
            return await refunds.refund(
                ctx.program,
                ctx.actor,
                ref,
                input.amount,
                input.idempotency_key,
                now=ctx.clock.now(),
            )

        return await mutate(
            info,
            RefundPurchasePayload,
            work,
            lambda ctx, done: RefundPurchasePayload(
                member=Member.of(done.member),
                purchase=Purchase.seen_by(ctx, done.purchase),
                transaction=PointTransaction.seen_by(ctx, done.transaction),
                points_clawed_back=done.points,
                user_errors=[],
            ),
        )
