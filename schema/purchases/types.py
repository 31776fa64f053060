"""Purchases as recorded, with what they earned and what refunds took back."""

from __future__ import annotations

from datetime import datetime

import strawberry

from domain import views
from schema import ids
from schema.authorization import may_see_purchase
from schema.common import Decimal, Node, money_amount
from schema.context import Context
from schema.ledger.types import PointTransaction, transaction_of


@strawberry.type(
    description="A purchase as recorded. The member and the operator see it; a partner, only "
    "the purchases it recorded."
)
class Purchase(Node):
    order_id: str = strawberry.field(
        description="The recorder's order id: one purchase per order and recorder."
    )
    amount: Decimal = strawberry.field(
        description="The total paid, shipping and tax included: money, a decimal string."
    )
    currency: str = strawberry.field(description="ISO 4217 code of the amounts.")
    eligible_amount: Decimal = strawberry.field(
        description="What earned points, after the program's rules: money, a decimal string."
    )
    points: int = strawberry.field(description="Whole points it earned.")
    refunded_amount: Decimal = strawberry.field(
        description="Money refunded so far: a decimal string, never above amount."
    )
    points_clawed_back: int = strawberry.field(description="Points its refunds took back.")
    occurred_at: datetime = strawberry.field(description="When the purchase was made.")
    transaction_id: strawberry.Private[int | None]

    transaction: PointTransaction | None = strawberry.field(
        resolver=transaction_of,
        description="The EARN transaction; null when the purchase earned nothing.",
    )

    @classmethod
    def seen_by(cls, ctx: Context, view: views.PurchaseView) -> Purchase | None:
        return cls.of(view) if may_see_purchase(ctx, view) else None

    @classmethod
    def of(cls, view: views.PurchaseView) -> Purchase:
        return cls(
            id=strawberry.ID(ids.global_id("Purchase", view.id)),
            order_id=view.order_id,
            amount=money_amount(view.amount, view.currency),
            currency=view.currency,
            eligible_amount=money_amount(view.eligible_amount, view.currency),
            points=view.points,
            refunded_amount=money_amount(view.refunded_amount, view.currency),
            points_clawed_back=view.points_clawed_back,
            occurred_at=view.occurred_at,
            transaction_id=view.transaction_id,
        )
