"""The GraphQL object types. They wrap read-only views; no business rule lives here."""

from __future__ import annotations

import decimal
from datetime import date, datetime
from enum import Enum
from typing import Any, Generic, NewType, TypeVar

import strawberry
from strawberry.types import Info

from domain import program, views
from domain.errors import DomainError, ErrorCode, InvalidInput
from gamification.tiers import tier_progress
from schema import ids
from schema.authorization import (
    ForbiddenError,
    dealings_seen_by,
    may_see_transaction,
    sees_private_details,
)
from schema.context import Context

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


def plain_decimal(value: object) -> Decimal:
    """A stored amount as people write it: "12.5", not "12.5000" nor "1.25E+1"."""
    number = decimal.Decimal(str(value)).normalize()
    return Decimal(format(number, "f"))


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


strawberry.enum(program.Period, name="LimitPeriod")
strawberry.enum(program.Direction, name="TransferDirection")
strawberry.enum(program.CampaignKind, name="CampaignKind")
strawberry.enum(program.BoardPeriod, name="LeaderboardPeriod")


@strawberry.type
class RewardLimit:
    count: int
    period: program.Period


@strawberry.type
class Reward(Node):
    key: str
    name: str
    description: str | None
    points_cost: int
    partner: Partner | None
    min_tier: Tier | None = strawberry.field(description="Only members of this tier and above.")
    limit_per_member: RewardLimit | None = strawberry.field(
        description="How often one member may redeem it; null for no limit."
    )

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
            min_tier=Tier.of(tier, language)
            if (tier := prog.tier(reward.min_tier or ""))
            else None,
            limit_per_member=(
                RewardLimit(count=reward.limit.count, period=reward.limit.period)
                if reward.limit
                else None
            ),
        )


@strawberry.type
class ExpiringPoints:
    amount: int
    expires_at: datetime


@strawberry.type
class PointsBreakdownLine:
    rule: str = strawberry.field(description='"base", "rule:<key>", "campaign:<key>"...')
    description: str
    points: Decimal = strawberry.field(description="Before the total is rounded down, once.")


@strawberry.type
class PointTransaction(Node):
    kind: str
    points: int = strawberry.field(description="Signed: debits are negative.")
    balance_after: int = strawberry.field(description="The spendable balance right after.")
    description: str | None
    reference: str | None
    occurred_at: datetime
    created_at: datetime
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


@strawberry.enum
class RedemptionStatus(Enum):
    ISSUED = "ISSUED"
    FULFILLED = "FULFILLED"
    CANCELLED = "CANCELLED"


@strawberry.type
class Redemption(Node):
    points: int
    code: str = strawberry.field(description="The voucher code the member shows or types.")
    status: RedemptionStatus
    created_at: datetime
    cancelled_at: datetime | None
    fulfilled_at: datetime | None
    reward_key: strawberry.Private[str]
    transaction_id: strawberry.Private[int]

    @strawberry.field
    def reward(self, info: Info[Context, None]) -> Reward | None:
        ctx = info.context
        reward = ctx.program.rewards.get(self.reward_key)
        return Reward.of(reward, ctx.program, ctx.language) if reward else None

    transaction: PointTransaction | None = strawberry.field(resolver=transaction_of)

    @classmethod
    def of(cls, view: views.RedemptionView) -> Redemption:
        return cls(
            id=strawberry.ID(ids.global_id("Redemption", view.id)),
            points=view.points,
            code=view.code,
            status=RedemptionStatus(view.status),
            created_at=view.created_at,
            cancelled_at=view.cancelled_at,
            fulfilled_at=view.fulfilled_at,
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
    points_owed: int = strawberry.field(
        description="Points a refund took back after they were spent; earnings repay them first."
    )
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
            points_owed=view.debt,
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

    @strawberry.field(
        description="Newest first. A partner sees only its own dealings with the member."
    )
    async def transactions(
        self, info: Info[Context, None], first: int | None = 20, after: str | None = None
    ) -> Connection[PointTransaction]:
        size = page_size(first)
        before = ids.parse_cursor(after)
        views, more = await info.context.loaders.transaction_pages.load(
            (self.view.account_id, size, before, dealings_seen_by(info.context))
        )
        return connection([(v.id, PointTransaction.of(v)) for v in views], more, before is not None)

    @strawberry.field(
        description="Newest first. A partner sees only redemptions of its own rewards."
    )
    async def redemptions(
        self, info: Info[Context, None], first: int | None = 20, after: str | None = None
    ) -> Connection[Redemption]:
        size = page_size(first)
        before = ids.parse_cursor(after)
        views, more = await info.context.loaders.redemption_pages.load(
            (self.view.id, size, before, dealings_seen_by(info.context))
        )
        return connection([(v.id, Redemption.of(v)) for v in views], more, before is not None)


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
    def of(cls, view: views.PurchaseView) -> Purchase:
        return cls(
            id=strawberry.ID(ids.global_id("Purchase", view.id)),
            order_id=view.order_id,
            amount=plain_decimal(view.amount),
            currency=view.currency,
            eligible_amount=plain_decimal(view.eligible_amount),
            points=view.points,
            refunded_amount=plain_decimal(view.refunded_amount),
            points_clawed_back=view.points_clawed_back,
            occurred_at=view.occurred_at,
            transaction_id=view.transaction_id,
        )


@strawberry.type
class Badge(Node):
    key: str
    name: str
    description: str | None
    metric: str = strawberry.field(description='What counts: "purchases", "actions:REVIEW"...')
    levels: list[int] = strawberry.field(description="The count each level is reached at.")

    @classmethod
    def of(cls, badge: program.Badge, language: str | None) -> Badge:
        return cls(
            id=strawberry.ID(ids.global_id("Badge", badge.key)),
            key=badge.key,
            name=badge.name.get(language),
            description=badge.description.get(language) if badge.description else None,
            metric=badge.metric,
            levels=list(badge.levels),
        )


@strawberry.type
class Campaign:
    key: str
    name: str
    kind: program.CampaignKind
    starts_at: datetime
    ends_at: datetime
    multiplier: Decimal | None
    points: int | None
    tiers: list[Tier] = strawberry.field(description="Only for these tiers; empty for all.")
    partners: list[Partner] = strawberry.field(description="Only at these partners; empty: all.")
    categories: list[str]
    skus: list[str]

    @classmethod
    def of(
        cls, campaign: program.Campaign, prog: program.Program, language: str | None
    ) -> Campaign:
        return cls(
            key=campaign.key,
            name=campaign.name.get(language),
            kind=campaign.kind,
            starts_at=campaign.starts,
            ends_at=campaign.ends,
            multiplier=Decimal(str(campaign.multiplier)) if campaign.multiplier else None,
            points=campaign.points,
            tiers=[Tier.of(t, language) for t in prog.tiers if t.key in campaign.tiers],
            partners=[
                Partner.of(p, language) for k, p in prog.partners.items() if k in campaign.partners
            ],
            categories=sorted(campaign.selector.categories),
            skus=sorted(campaign.selector.skus),
        )


@strawberry.type
class ConversionQuote:
    partner: Partner
    direction: program.Direction
    amount: int = strawberry.field(description="Offered, in the source currency's units.")
    points: int = strawberry.field(description="Coalition points that leave (OUT) or arrive (IN).")
    partner_amount: int = strawberry.field(
        description="Partner units that arrive (OUT) or leave (IN); what fills no whole block "
        "stays where it was."
    )
    rate: str


@strawberry.type
class Board:
    key: str
    name: str
    metric: str = strawberry.field(description='What ranks members: "points_earned"...')
    periods: list[program.BoardPeriod]

    @classmethod
    def of(cls, board: program.Leaderboard, language: str | None) -> Board:
        return cls(
            key=board.key,
            name=board.name.get(language),
            metric=board.metric,
            periods=list(board.periods),
        )
