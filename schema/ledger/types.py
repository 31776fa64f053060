"""A member's point movements as clients see them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.types import Info

from domain import views
from domain.transaction_kind import TransactionKind
from schema import ids
from schema.authorization import ForbiddenError, may_see_transaction
from schema.common import Decimal, Node, expose_enum
from schema.context import Context

expose_enum(
    TransactionKind,
    name="TransactionKind",
    description="What a point transaction is: every kind the ledger writes.",
    meanings={kind: kind.meaning for kind in TransactionKind},
)


@strawberry.type(description="One step of how an earning was worked out.")
class PointsBreakdownLine:
    rule: str = strawberry.field(
        description='Which part of the program gave it: "base", "rule:<key>", '
        '"campaign:<key>", "tier:<key>"...'
    )
    description: str = strawberry.field(description="The step in words, for the member.")
    points: Decimal = strawberry.field(
        description="Points from this step, exact (a decimal string, not money): the lines "
        "add up before the total is rounded down, once."
    )


@strawberry.type(
    description="One movement of a member's points. For every member, balance + pendingPoints "
    "equals the sum of its transactions' points."
)
class PointTransaction(Node):
    kind: TransactionKind = strawberry.field(description="What the transaction is.")
    points: int = strawberry.field(
        description="Whole points, signed: credits are positive, debits negative."
    )
    balance_after: int = strawberry.field(
        description="The member's spendable balance right after this transaction."
    )
    description: str | None = strawberry.field(
        description="What it was, in words for the member; for an adjustment, the operator's "
        "reason."
    )
    reference: str | None = strawberry.field(
        description="The business reference it belongs to: an order id, an action's "
        "reference, a redemption code."
    )
    occurred_at: datetime = strawberry.field(
        description="When what it records happened (a purchase's occurredAt, say)."
    )
    created_at: datetime = strawberry.field(description="When the ledger recorded it.")
    view: strawberry.Private[views.TransactionView]

    @strawberry.field(
        description="How an earning was worked out, rule by rule (empty for other kinds)."
    )
    def breakdown(self) -> list[PointsBreakdownLine]:
        # Built only when asked for, and read leniently: one odd stored line must not hide
        # the whole history.
        return [
            PointsBreakdownLine(
                rule=str(line.get("rule", "")),
                description=str(line.get("description", "")),
                points=Decimal(str(line.get("points", "0"))),
            )
            for line in views.breakdown_of(self.view)
        ]

    @classmethod
    def seen_by(cls, ctx: Context, view: views.TransactionView | None) -> PointTransaction | None:
        """A payload's transaction, if the caller may see it as on every other path."""
        return cls.of(view) if view and may_see_transaction(ctx, view) else None

    @classmethod
    def of(cls, view: views.TransactionView) -> PointTransaction:
        return cls(
            id=strawberry.ID(ids.global_id("PointTransaction", view.id)),
            kind=view.kind,
            points=view.points,
            balance_after=view.balance_after,
            description=view.description,
            reference=view.reference,
            occurred_at=view.occurred_at,
            created_at=view.created_at,
            view=view,
        )


async def transaction_of(root: Any, info: Info[Context, None]) -> PointTransaction | None:
    """The transaction `root.transaction_id` names, loaded only when a client asks for it."""
    if root.transaction_id is None:
        return None
    view = await info.context.loaders.transactions.load(root.transaction_id)
    if view is None:
        return None
    if not may_see_transaction(info.context, view):
        raise ForbiddenError("You may not see this transaction.")
    return PointTransaction.of(view)
