"""A member's point movements as clients see them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.types import Info

from domain import views, wording
from domain.transaction_kind import TransactionKind
from schema import ids
from schema.authorization import ForbiddenError, may_see_transaction
from schema.common import Decimal, Node, expose_enum
from schema.context import Context
from schema.partners.types import Partner

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
        '"campaign:<key>", "action:<key>"...'
    )
    description: str = strawberry.field(
        description="What the rule did, in the request's Accept-Language when the program "
        "speaks it (the program's names; its phrases as its [wording] says them, else English)."
    )
    points: Decimal = strawberry.field(
        description="Points, not money: exact, to up to four decimals, before the total is "
        'rounded down, once ("12.5", "0").'
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
    def breakdown(self, info: Info[Context, None]) -> list[PointsBreakdownLine]:
        # Built only when asked for, and read leniently: one odd stored line must not hide
        # the whole history.
        ctx = info.context
        return [
            PointsBreakdownLine(
                rule=str(line.get("rule", "")),
                description=wording.line_text(line, ctx.program, ctx.language),
                points=Decimal(str(line.get("points", "0"))),
            )
            for line in views.breakdown_of(self.view)
        ]

    @strawberry.field(
        description="What happened, in the request's Accept-Language when the program speaks "
        "it (the program's names; its phrases as its [wording] says them, else English); an "
        "adjustment shows the operator's reason as written."
    )
    def description(self, info: Info[Context, None]) -> str | None:
        return wording.description(self.view, info.context.program, info.context.language)

    @strawberry.field(
        description="The partner whose purchase, action, reward or transfer this was, whoever "
        "recorded it; null for the program's own (bonuses, expiry, repayments) and the "
        "operator's (adjustments), and for a partner the program no longer has. Whoever may "
        "see the transaction sees its partner: a partner sees only its own dealings, so only "
        "itself here."
    )
    def partner(self, info: Info[Context, None]) -> Partner | None:
        ctx = info.context
        found = ctx.program.partners.get(self.view.partner) if self.view.partner else None
        return Partner.of(found, ctx.language) if found else None

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
