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


@strawberry.type
class Purchase(Node):
    order_id: str
    amount: Decimal
    currency: str
    eligible_amount: Decimal = strawberry.field(description="What earned points, after rules.")
    points: int
    refunded_amount: Decimal
    points_clawed_back: int
    occurred_at: datetime
    transaction_id: strawberry.Private[int | None]

    transaction: PointTransaction | None = strawberry.field(resolver=transaction_of)

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
