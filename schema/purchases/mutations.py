"""Recording purchases and rewarded actions, and refunding purchases."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from domain import actions, purchases, refunds
from schema import ids
from schema.authorization import Operation, acting_on
from schema.common import (
    AFTER_CHANGE,
    EXTERNAL_ID,
    IDEMPOTENCY_KEY,
    MEMBER_ID,
    USER_ERRORS,
    Decimal,
    UserError,
)
from schema.context import Context
from schema.ledger.types import PointTransaction
from schema.members.types import Member
from schema.mutating import mutate
from schema.purchases.types import Purchase


@strawberry.input(description="One line of a purchase, for rules by product or category.")
class PurchaseLineInput:
    sku: str | None = strawberry.field(default=None, description="The product's SKU.")
    category: str | None = strawberry.field(default=None, description="The product's category.")
    quantity: int = strawberry.field(default=1, description="Units bought, 1 or more.")
    unit_price: Decimal = strawberry.field(
        description='The price of one unit: money, a decimal string like "4.50", never a JSON '
        "number."
    )


@strawberry.input(description="A purchase a partner (or the operator) records for a member.")
class RecordPurchaseInput:
    member_id: strawberry.ID | None = strawberry.field(default=None, description=MEMBER_ID)
    external_id: str | None = strawberry.field(default=None, description=EXTERNAL_ID)
    order_id: str = strawberry.field(
        description="The recorder's order id (up to 128 characters): an order earns once; "
        "recording it again is DUPLICATE."
    )
    amount: Decimal = strawberry.field(
        description="The total paid, shipping and tax included: money, a decimal string like "
        '"42.50", never a JSON number.'
    )
    currency: str = strawberry.field(
        description="ISO 4217 code of every amount here, one the program accepts."
    )
    shipping: Decimal | None = strawberry.field(
        default=None, description="Shipping included in amount (money, a decimal string)."
    )
    tax: Decimal | None = strawberry.field(
        default=None, description="Tax included in amount (money, a decimal string)."
    )
    discount: Decimal | None = strawberry.field(
        default=None,
        description="Taken off the order as a whole. With lines, the amount must be their "
        "totals less this discount, plus shipping (plus tax, unless their prices include it), "
        "to the cent; otherwise the purchase is refused (INVALID_INPUT on lines).",
    )
    lines: list[PurchaseLineInput] | None = strawberry.field(
        default=None, description="What was bought, for per-product and per-category rules."
    )
    occurred_at: datetime | None = strawberry.field(
        default=None,
        description="When it was bought, with an offset; now when left out. Campaigns and "
        "limits apply as of then.",
    )
    idempotency_key: str = strawberry.field(description=IDEMPOTENCY_KEY)


@strawberry.type(description="What recordPurchase did.")
class RecordPurchasePayload:
    member: Member | None = strawberry.field(default=None, description=AFTER_CHANGE)
    purchase: Purchase | None = strawberry.field(
        default=None, description="The purchase recorded; null when nothing was done."
    )
    transaction: PointTransaction | None = strawberry.field(
        default=None, description="The EARN transaction; null when it earned nothing."
    )
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS)


@strawberry.input(description="A rewarded action a member did: a review, a referral...")
class RecordActionInput:
    member_id: strawberry.ID | None = strawberry.field(default=None, description=MEMBER_ID)
    external_id: str | None = strawberry.field(default=None, description=EXTERNAL_ID)
    action: str = strawberry.field(
        description="The action's key, one of Query.actions (REVIEW, SOCIAL_SHARE...)."
    )
    reference: str | None = strawberry.field(
        default=None, description="The action's own id (the review's, say): one award each."
    )
    idempotency_key: str = strawberry.field(description=IDEMPOTENCY_KEY)


@strawberry.type(description="What recordAction did.")
class RecordActionPayload:
    member: Member | None = strawberry.field(default=None, description=AFTER_CHANGE)
    transaction: PointTransaction | None = strawberry.field(
        default=None, description="The EARN transaction; null when nothing was done."
    )
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS)


@strawberry.input(description="Money given back on a purchase.")
class RefundPurchaseInput:
    purchase_id: strawberry.ID | None = strawberry.field(
        default=None, description="The Purchase's global id; or give orderId."
    )
    order_id: str | None = strawberry.field(
        default=None, description="Instead of purchaseId: the order, among the caller's own."
    )
    amount: Decimal | None = strawberry.field(
        default=None,
        description="Money refunded (a decimal string, in the purchase's currency); leave out "
        "to refund whatever is left.",
    )
    idempotency_key: str = strawberry.field(description=IDEMPOTENCY_KEY)


@strawberry.type(description="What refundPurchase did.")
class RefundPurchasePayload:
    member: Member | None = strawberry.field(default=None, description=AFTER_CHANGE)
    purchase: Purchase | None = strawberry.field(
        default=None, description="The purchase, with its refunds so far."
    )
    transaction: PointTransaction | None = strawberry.field(
        default=None, description="The REFUND transaction; null when no points came back."
    )
    points_clawed_back: int | None = strawberry.field(
        default=None, description="Taken back by this refund (pending, spendable, or owed)."
    )
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS)


@strawberry.type
class PurchaseMutations:
    @strawberry.mutation(
        description=Operation.RECORD_PURCHASE.describe(
            "Records a purchase and credits the points it earns under the program's rules "
            "and campaigns (pending until their release date, when the program holds them)."
        )
    )
    async def record_purchase(
        self,
        info: Info[Context, None],
        input: Annotated[RecordPurchaseInput, strawberry.argument(description="The purchase.")],
    ) -> RecordPurchasePayload:
        async def work(ctx: Context) -> purchases.Recorded:
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
            Operation.RECORD_PURCHASE,
            RecordPurchasePayload,
            work,
            lambda ctx, done: RecordPurchasePayload(
                member=Member.of(done.member),
                purchase=Purchase.seen_by(ctx, done.purchase),
                transaction=PointTransaction.seen_by(ctx, done.transaction),
                user_errors=[],
            ),
        )

    @strawberry.mutation(
        description=Operation.RECORD_ACTION.describe(
            "Records a rewarded action and credits its points, within the action's limits."
        )
    )
    async def record_action(
        self,
        info: Info[Context, None],
        input: Annotated[RecordActionInput, strawberry.argument(description="The action.")],
    ) -> RecordActionPayload:
        async def work(ctx: Context) -> actions.Recorded:
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
            Operation.RECORD_ACTION,
            RecordActionPayload,
            work,
            lambda ctx, done: RecordActionPayload(
                member=Member.of(done.member),
                transaction=PointTransaction.seen_by(ctx, done.transaction),
                user_errors=[],
            ),
        )

    @strawberry.mutation(
        description=Operation.REFUND_PURCHASE.describe(
            "Takes back the points a purchase earned, in proportion to the money refunded; "
            "partial refunds add up. Whoever recorded the purchase (or the operator). Points "
            "already spent become points owed, repaid from later earnings."
        )
    )
    async def refund_purchase(
        self,
        info: Info[Context, None],
        input: Annotated[RefundPurchaseInput, strawberry.argument(description="The refund.")],
    ) -> RefundPurchasePayload:
        async def work(ctx: Context) -> refunds.Refunded:
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
            Operation.REFUND_PURCHASE,
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
