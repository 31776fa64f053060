"""The GraphQL object types. They wrap read-only views; no business rule lives here."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import Generic, NewType, TypeVar

import strawberry
from strawberry.types import Info

from domain import program, views
from domain.errors import DomainError, ErrorCode, InvalidInput
from gamification.tiers import tier_progress
from schema import ids
from schema.context import Context
from schema.permissions import sees_private_details

MAX_PAGE = 100

Decimal = NewType("Decimal", str)

DECIMAL_SCALAR = strawberry.scalar(
    name="Decimal",
    description='A decimal number written as a string, like "12.50"; never a float.',
    serialize=str,
    # Any JSON scalar is let through as text, so that a malformed amount becomes a typed
    # INVALID_INPUT userError naming the field rather than a bare coercion error.
    parse_value=lambda value: value if isinstance(value, str) else str(value),
)

# The domain's error codes are the API's, under the name clients see.
strawberry.enum(ErrorCode, name="UserErrorCode")


@strawberry.type
class UserError:
    code: ErrorCode
    field: str | None
    message: str


def user_error(error: DomainError) -> UserError:
    return UserError(code=error.code, field=error.field, message=error.message)


def page_size(first: int | None, default: int = 20) -> int:
    size = default if first is None else first
    if not 1 <= size <= MAX_PAGE:
        raise InvalidInput("first", f"first must be from 1 to {MAX_PAGE}.")
    return size


@strawberry.interface(description="An object with a global id, fetchable with Query.node.")
class Node:
    id: strawberry.ID


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


T = TypeVar("T")


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo

    @strawberry.field
    def nodes(self) -> list[T]:
        return [edge.node for edge in self.edges]


def connection(items: list[tuple[int, T]], has_next: bool, has_previous: bool) -> Connection[T]:
    """Builds a page from (cursor position, node) pairs."""
    edges = [Edge(cursor=ids.cursor(position), node=node) for position, node in items]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=has_next,
            has_previous_page=has_previous,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )


@strawberry.type
class Tier(Node):
    key: str
    name: str
    threshold: int
    benefits: list[str]

    @classmethod
    def of(cls, tier: program.Tier, language: str | None) -> Tier:
        return cls(
            id=strawberry.ID(ids.global_id("Tier", tier.key)),
            key=tier.key,
            name=tier.name.get(language),
            threshold=tier.threshold,
            benefits=[b.get(language) for b in tier.benefits],
        )


@strawberry.type
class TierStatus:
    current: Tier
    next: Tier | None
    progress: float = strawberry.field(description="0 to 1, of the way to the next tier.")
    points_to_next: int | None


@strawberry.type
class Partner(Node):
    key: str
    name: str
    currency: str

    @classmethod
    def of(cls, partner: program.Partner, language: str | None) -> Partner:
        return cls(
            id=strawberry.ID(ids.global_id("Partner", partner.key)),
            key=partner.key,
            name=partner.name.get(language),
            currency=partner.currency,
        )


@strawberry.type
class Reward(Node):
    key: str
    name: str
    description: str | None
    points_cost: int
    partner: Partner | None

    @strawberry.field(description="Units left to redeem; null when the stock is unlimited.")
    async def stock(self, info: Info[Context, None]) -> int | None:
        return await info.context.loaders.stock.load(self.key)

    @classmethod
    def of(cls, reward: program.Reward, prog: program.Program, language: str | None) -> Reward:
        partner = prog.partners.get(reward.partner) if reward.partner else None
        return cls(
            id=strawberry.ID(ids.global_id("Reward", reward.key)),
            key=reward.key,
            name=reward.name.get(language),
            description=reward.description.get(language) if reward.description else None,
            points_cost=reward.points_cost,
            partner=Partner.of(partner, language) if partner else None,
        )


@strawberry.type
class ExpiringPoints:
    amount: int
    expires_at: datetime


@strawberry.type
class PointTransaction(Node):
    kind: str
    points: int = strawberry.field(description="Signed: debits are negative.")
    balance_after: int = strawberry.field(description="The spendable balance right after.")
    description: str | None
    reference: str | None
    occurred_at: datetime
    created_at: datetime

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
        )


@strawberry.enum
class RedemptionStatus(Enum):
    ISSUED = "ISSUED"
    CANCELLED = "CANCELLED"


@strawberry.type
class Redemption(Node):
    points: int
    code: str = strawberry.field(description="The voucher code the member shows or types.")
    status: RedemptionStatus
    created_at: datetime
    cancelled_at: datetime | None
    reward_key: strawberry.Private[str]
    transaction_id: strawberry.Private[int]

    @strawberry.field
    def reward(self, info: Info[Context, None]) -> Reward | None:
        ctx = info.context
        reward = ctx.program.rewards.get(self.reward_key)
        return Reward.of(reward, ctx.program, ctx.language) if reward else None

    @strawberry.field
    async def transaction(self, info: Info[Context, None]) -> PointTransaction | None:
        view = await info.context.loaders.transactions.load(self.transaction_id)
        return PointTransaction.of(view) if view else None

    @classmethod
    def of(cls, view: views.RedemptionView) -> Redemption:
        return cls(
            id=strawberry.ID(ids.global_id("Redemption", view.id)),
            points=view.points,
            code=view.code,
            status=RedemptionStatus(view.status),
            created_at=view.created_at,
            cancelled_at=view.cancelled_at,
            reward_key=view.reward_key,
            transaction_id=view.transaction_id,
        )


@strawberry.type
class Member(Node):
    external_id: str
    display_name: str | None
    enrolled_at: datetime
    balance: int = strawberry.field(description="Points spendable now.")
    pending_points: int = strawberry.field(description="Earned, not yet spendable.")
    lifetime_points: int
    view: strawberry.Private[views.MemberView]

    @classmethod
    def of(cls, view: views.MemberView) -> Member:
        return cls(
            id=strawberry.ID(ids.global_id("Member", view.id)),
            external_id=view.external_id,
            display_name=view.display_name,
            enrolled_at=view.created_at,
            balance=view.balance,
            pending_points=view.pending,
            lifetime_points=view.lifetime,
            view=view,
        )

    @strawberry.field(description="Seen by the member and the operator only.")
    def email(self, info: Info[Context, None]) -> str | None:
        return self.view.email if sees_private_details(info.context, self.view.id) else None

    @strawberry.field(description="Seen by the member and the operator only.")
    def birthday(self, info: Info[Context, None]) -> date | None:
        return self.view.birthday if sees_private_details(info.context, self.view.id) else None

    @strawberry.field(description="The code this member gives friends when referring them.")
    def referral_code(self, info: Info[Context, None]) -> str | None:
        private = sees_private_details(info.context, self.view.id)
        return self.view.referral_code if private else None

    @strawberry.field
    def tier(self, info: Info[Context, None]) -> TierStatus:
        ctx = info.context
        standing = tier_progress(self.view.lifetime, ctx.program.tiers)
        return TierStatus(
            current=Tier.of(standing.current, ctx.language),
            next=Tier.of(standing.next, ctx.language) if standing.next else None,
            progress=standing.progress,
            points_to_next=standing.points_to_next,
        )

    @strawberry.field(description="Points that will expire, soonest first.")
    async def expiring_points(self, info: Info[Context, None]) -> list[ExpiringPoints]:
        found = await info.context.loaders.expiring.load(self.view.account_id)
        return [ExpiringPoints(amount=e.points, expires_at=e.expires_at) for e in found]

    @strawberry.field(description="Newest first.")
    async def transactions(
        self, info: Info[Context, None], first: int | None = 20, after: str | None = None
    ) -> Connection[PointTransaction]:
        size = page_size(first)
        before = ids.parse_cursor(after)
        views, more = await info.context.loaders.transaction_pages.load(
            (self.view.account_id, size, before)
        )
        return connection([(v.id, PointTransaction.of(v)) for v in views], more, before is not None)

    @strawberry.field(description="Newest first.")
    async def redemptions(
        self, info: Info[Context, None], first: int | None = 20, after: str | None = None
    ) -> Connection[Redemption]:
        size = page_size(first)
        before = ids.parse_cursor(after)
        views, more = await info.context.loaders.redemption_pages.load((self.view.id, size, before))
        return connection([(v.id, Redemption.of(v)) for v in views], more, before is not None)
