"""The rewards catalogue and the redemptions members make of it."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry
from strawberry.types import Info

from domain import program, views
from schema import ids
from schema.authorization import may_see_redemption
from schema.common import Node
from schema.context import Context
from schema.ledger.types import PointTransaction, transaction_of
from schema.partners.types import Partner
from schema.program.types import Tier


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
    def seen_by(cls, ctx: Context, view: views.RedemptionView) -> Redemption | None:
        return cls.of(view) if may_see_redemption(ctx, view) else None

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
