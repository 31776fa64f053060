"""The rewards catalog and the redemptions members make of it."""

from __future__ import annotations

import asyncio
from datetime import datetime
from enum import Enum

import strawberry
from strawberry.types import Info

from domain import program, redemptions, views
from domain.errors import ErrorCode
from schema import ids
from schema.authorization import may_see_redemption, standing_of
from schema.common import Node
from schema.context import Context
from schema.ledger.types import PointTransaction, transaction_of
from schema.partners.types import Partner
from schema.program.types import Tier


@strawberry.type(description="How often one member may redeem a reward.")
class RewardLimit:
    count: int = strawberry.field(description="Redemptions allowed in each period.")
    period: program.Period = strawberry.field(
        description="The calendar period the count is per, in the program's time zone."
    )


@strawberry.type(
    description="Whether the calling member could redeem a reward now and, if not, why: the "
    "same rule redeemReward applies, read at the same moment."
)
class RewardAvailability:
    can_redeem: bool = strawberry.field(
        description="True when redeemReward would succeed now (another member may still take "
        "the last unit first)."
    )
    reason: ErrorCode | None = strawberry.field(
        description="The userErrors code redeemReward would return now, null when canRedeem: "
        "NOT_ELIGIBLE (below the reward's minimum tier), INSUFFICIENT_POINTS, LIMIT_EXCEEDED "
        "(the member's own limit for the period is used up), OUT_OF_STOCK; when several "
        "apply, the first of these, as redeemReward reports them."
    )
    points_short: int = strawberry.field(
        description="How many more spendable points (a whole number) redeeming needs; 0 when "
        "the balance is enough, whatever else stands in the way."
    )


@strawberry.type(description="Something members spend points on. Public: anyone may read it.")
class Reward(Node):
    key: str = strawberry.field(description="The reward's key in the program file.")
    name: str = strawberry.field(description="Its name, in the caller's language.")
    description: str | None = strawberry.field(
        description="What the member gets, in the caller's language."
    )
    points_cost: int = strawberry.field(description="Whole points a redemption spends.")
    partner: Partner | None = strawberry.field(
        description="The partner that hands it over; null for the program's own."
    )
    min_tier: Tier | None = strawberry.field(description="Only members of this tier and above.")
    limit_per_member: RewardLimit | None = strawberry.field(
        description="How often one member may redeem it; null for no limit."
    )

    @strawberry.field(description="Units left to redeem; null when the stock is unlimited.")
    async def stock(self, info: Info[Context, None]) -> int | None:
        return await info.context.loaders.stock.load(self.key)

    @strawberry.field(
        description="For the calling member: whether it could redeem this now, and why not. "
        "Null for callers who are not a member (anonymous callers, partners, the operator) "
        "and for a member not enrolled yet. A page of rewards costs the same few statements "
        "as one."
    )
    async def availability(self, info: Info[Context, None]) -> RewardAvailability | None:
        ctx = info.context
        member_id = standing_of(ctx)
        reward = ctx.program.rewards.get(self.key)
        if member_id is None or reward is None:
            return None
        member = await ctx.loaders.members.load(member_id)
        if member is None:
            return None
        # Both at once for every reward of the page: each is one statement for all of them.
        redeemed, left = await asyncio.gather(
            ctx.loaders.redeemed.load((member_id, reward.key)),
            ctx.loaders.stock.load(reward.key),
        )
        standing = redemptions.Standing(
            tier=member.tier,
            balance=member.balance,
            redeemed_in_period=redeemed,
            stock_left=left,
        )
        refused = redemptions.refusal(ctx.program, reward, standing)
        return RewardAvailability(
            can_redeem=refused is None,
            reason=None if refused is None else refused.code,
            points_short=redemptions.points_short(reward, standing),
        )

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


@strawberry.enum(description="Where a redemption stands.")
class RedemptionStatus(Enum):
    ISSUED = strawberry.enum_value("ISSUED", description="Points spent; not handed over yet.")
    FULFILLED = strawberry.enum_value(
        "FULFILLED", description="Handed over (fulfillRedemption); it can no longer be cancelled."
    )
    CANCELLED = strawberry.enum_value(
        "CANCELLED", description="Cancelled; its points went back into the lots they came from."
    )


@strawberry.type(
    description="A reward a member redeemed. The member and the operator see it; a partner, "
    "only redemptions of its own rewards."
)
class Redemption(Node):
    points: int = strawberry.field(description="Whole points it spent.")
    code: str = strawberry.field(description="The voucher code the member shows or types.")
    status: RedemptionStatus = strawberry.field(description="Where it stands.")
    created_at: datetime = strawberry.field(description="When it was redeemed.")
    cancelled_at: datetime | None = strawberry.field(
        description="When it was cancelled; null if it was not."
    )
    fulfilled_at: datetime | None = strawberry.field(
        description="When it was handed over; null until then."
    )
    reward_key: strawberry.Private[str]
    transaction_id: strawberry.Private[int]

    @strawberry.field(description="What was redeemed; null if the program no longer has it.")
    def reward(self, info: Info[Context, None]) -> Reward | None:
        ctx = info.context
        reward = ctx.program.rewards.get(self.reward_key)
        return Reward.of(reward, ctx.program, ctx.language) if reward else None

    transaction: PointTransaction | None = strawberry.field(
        resolver=transaction_of, description="The REDEEM transaction that spent the points."
    )

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
