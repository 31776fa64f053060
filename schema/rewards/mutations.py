"""Redeeming rewards, cancelling redemptions, and handing them over."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from domain import redemptions
from schema import ids
from schema.authorization import Operation, acting_on, require_may, require_may_cancel
from schema.common import UserError
from schema.context import Context
from schema.ledger.types import PointTransaction
from schema.members.types import Member
from schema.mutating import mutate
from schema.rewards.types import Redemption


@strawberry.input
class RedeemRewardInput:
    member_id: strawberry.ID | None = strawberry.field(
        default=None, description="Optional for a member, who redeems for itself."
    )
    reward_id: strawberry.ID
    idempotency_key: str


@strawberry.type
class RedeemRewardPayload:
    member: Member | None = None
    redemption: Redemption | None = None
    transaction: PointTransaction | None = None
    user_errors: list[UserError]


@strawberry.input
class CancelRedemptionInput:
    redemption_id: strawberry.ID
    idempotency_key: str


@strawberry.type
class CancelRedemptionPayload:
    member: Member | None = None
    redemption: Redemption | None = None
    transaction: PointTransaction | None = None
    user_errors: list[UserError]


@strawberry.input
class FulfillRedemptionInput:
    redemption_id: strawberry.ID


@strawberry.type
class FulfillRedemptionPayload:
    redemption: Redemption | None = None
    user_errors: list[UserError]


@strawberry.input(description="The input of the deprecated fulfilRedemption.")
class FulfilRedemptionInput:
    redemption_id: strawberry.ID


@strawberry.type(description="The payload of the deprecated fulfilRedemption.")
class FulfilRedemptionPayload:
    redemption: Redemption | None = None
    user_errors: list[UserError]


def _redeemed(ctx: Context, done: redemptions.Redeemed) -> RedeemRewardPayload:
    return RedeemRewardPayload(
        member=Member.of(done.member),
        redemption=Redemption.seen_by(ctx, done.redemption),
        transaction=PointTransaction.seen_by(ctx, done.transaction),
        user_errors=[],
    )


def _cancelled(ctx: Context, done: redemptions.Redeemed) -> CancelRedemptionPayload:
    return CancelRedemptionPayload(
        member=Member.of(done.member),
        redemption=Redemption.seen_by(ctx, done.redemption),
        transaction=PointTransaction.seen_by(ctx, done.transaction),
        user_errors=[],
    )


async def _fulfill(
    info: Info[Context, None], redemption_id: strawberry.ID
) -> FulfillRedemptionPayload:
    async def work(ctx: Context) -> redemptions.Fulfilled:
        require_may(ctx, Operation.FULFILL_REDEMPTION)
        number = ids.int_key_of(redemption_id, "Redemption", "redemptionId")
        return await redemptions.fulfil(ctx.program, ctx.actor, number, now=ctx.clock.now())

    return await mutate(
        info,
        FulfillRedemptionPayload,
        work,
        lambda ctx, done: FulfillRedemptionPayload(
            redemption=Redemption.seen_by(ctx, done.redemption), user_errors=[]
        ),
    )


@strawberry.type
class RewardMutations:
    @strawberry.mutation(description="A member redeems for itself; the operator for anyone.")
    async def redeem_reward(
        self, info: Info[Context, None], input: RedeemRewardInput
    ) -> RedeemRewardPayload:
        async def work(ctx: Context) -> redemptions.Redeemed:
            require_may(ctx, Operation.REDEEM_REWARD)
            reward_key = ids.key_of(input.reward_id, "Reward", "rewardId")
            return await redemptions.redeem(
                ctx.program,
                ctx.actor,
                acting_on(ctx, input.member_id),
                reward_key,
                input.idempotency_key,
                now=ctx.clock.now(),
            )

        return await mutate(info, RedeemRewardPayload, work, _redeemed)

    @strawberry.mutation(description="Gives the points back, into the lots they came from.")
    async def cancel_redemption(
        self, info: Info[Context, None], input: CancelRedemptionInput
    ) -> CancelRedemptionPayload:
        async def work(ctx: Context) -> redemptions.Redeemed:
            require_may_cancel(ctx)
            redemption_id = ids.int_key_of(input.redemption_id, "Redemption", "redemptionId")
            return await redemptions.cancel(
                ctx.program, ctx.actor, redemption_id, input.idempotency_key, now=ctx.clock.now()
            )

        return await mutate(info, CancelRedemptionPayload, work, _cancelled)

    @strawberry.mutation(
        description="Marks a redemption handed over; again is harmless. The operator, or the "
        "partner whose reward it is."
    )
    async def fulfill_redemption(
        self, info: Info[Context, None], input: FulfillRedemptionInput
    ) -> FulfillRedemptionPayload:
        return await _fulfill(info, input.redemption_id)

    @strawberry.mutation(
        description="The former spelling of fulfillRedemption, which it calls.",
        deprecation_reason="Use fulfillRedemption (US spelling, like enrollMember).",
    )
    async def fulfil_redemption(
        self, info: Info[Context, None], input: FulfilRedemptionInput
    ) -> FulfilRedemptionPayload:
        done = await _fulfill(info, input.redemption_id)
        return FulfilRedemptionPayload(redemption=done.redemption, user_errors=done.user_errors)
