"""Redeeming rewards, cancelling redemptions, and handing them over."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

import strawberry
from strawberry.types import Info

from domain import redemptions
from schema import ids
from schema.authorization import Operation, acting_on, require_may_cancel
from schema.common import AFTER_CHANGE, IDEMPOTENCY_KEY, USER_ERRORS, UserError
from schema.context import Context
from schema.ledger.types import PointTransaction
from schema.members.types import Member
from schema.mutating import mutate
from schema.rewards.types import Redemption


@strawberry.input(description="A reward a member redeems.")
class RedeemRewardInput:
    member_id: strawberry.ID | None = strawberry.field(
        default=None, description="The member's global id; a member leaves it out."
    )
    reward_id: strawberry.ID = strawberry.field(description="The Reward's global id.")
    idempotency_key: str = strawberry.field(description=IDEMPOTENCY_KEY)


@strawberry.type(description="What redeemReward did.")
class RedeemRewardPayload:
    member: Member | None = strawberry.field(default=None, description=AFTER_CHANGE)
    redemption: Redemption | None = strawberry.field(
        default=None, description="The redemption, with its voucher code."
    )
    transaction: PointTransaction | None = strawberry.field(
        default=None, description="The REDEEM transaction that spent the points."
    )
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS)


@strawberry.input(description="A redemption to cancel.")
class CancelRedemptionInput:
    redemption_id: strawberry.ID = strawberry.field(description="The Redemption's global id.")
    idempotency_key: str = strawberry.field(description=IDEMPOTENCY_KEY)


@strawberry.type(description="What cancelRedemption did.")
class CancelRedemptionPayload:
    member: Member | None = strawberry.field(default=None, description=AFTER_CHANGE)
    redemption: Redemption | None = strawberry.field(
        default=None, description="The redemption, now CANCELLED."
    )
    transaction: PointTransaction | None = strawberry.field(
        default=None, description="The CANCEL transaction that gave the points back."
    )
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS)


@strawberry.input(description="A redemption handed over.")
class FulfillRedemptionInput:
    redemption_id: strawberry.ID = strawberry.field(description="The Redemption's global id.")


@strawberry.type(description="What fulfillRedemption did.")
class FulfillRedemptionPayload:
    redemption: Redemption | None = strawberry.field(
        default=None, description="The redemption, now FULFILLED."
    )
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS)


@strawberry.input(description="The input of the deprecated fulfilRedemption.")
class FulfilRedemptionInput:
    redemption_id: strawberry.ID = strawberry.field(description="The Redemption's global id.")


@strawberry.type(description="The payload of the deprecated fulfilRedemption.")
class FulfilRedemptionPayload:
    redemption: Redemption | None = strawberry.field(
        default=None, description="The redemption, now FULFILLED."
    )
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS)


P = TypeVar("P", RedeemRewardPayload, CancelRedemptionPayload)


def _answer(payload: type[P]) -> Callable[[Context, redemptions.Redeemed], P]:
    """Redeeming and cancelling both answer with the member, the redemption, the transaction."""

    def answer(ctx: Context, done: redemptions.Redeemed) -> P:
        return payload(
            member=Member.of(done.member),
            redemption=Redemption.seen_by(ctx, done.redemption),
            transaction=PointTransaction.seen_by(ctx, done.transaction),
            user_errors=[],
        )

    return answer


async def _fulfill(
    info: Info[Context, None], redemption_id: strawberry.ID
) -> FulfillRedemptionPayload:
    async def work(ctx: Context) -> redemptions.Fulfilled:
        number = ids.int_key_of(redemption_id, "Redemption", "redemptionId")
        return await redemptions.fulfill(ctx.program, ctx.actor, number, now=ctx.clock.now())

    return await mutate(
        info,
        Operation.FULFILL_REDEMPTION,
        FulfillRedemptionPayload,
        work,
        lambda ctx, done: FulfillRedemptionPayload(
            redemption=Redemption.seen_by(ctx, done.redemption), user_errors=[]
        ),
    )


@strawberry.type
class RewardMutations:
    @strawberry.mutation(
        description=Operation.REDEEM_REWARD.describe(
            "Spends points on a reward: a member for itself, the operator for anyone. "
            "Reward.availability says beforehand what this would answer."
        )
    )
    async def redeem_reward(
        self,
        info: Info[Context, None],
        input: Annotated[RedeemRewardInput, strawberry.argument(description="The redemption.")],
    ) -> RedeemRewardPayload:
        async def work(ctx: Context) -> redemptions.Redeemed:
            reward_key = ids.key_of(input.reward_id, "Reward", "rewardId")
            return await redemptions.redeem(
                ctx.program,
                ctx.actor,
                acting_on(ctx, input.member_id),
                reward_key,
                input.idempotency_key,
                now=ctx.clock.now(),
            )

        return await mutate(
            info, Operation.REDEEM_REWARD, RedeemRewardPayload, work, _answer(RedeemRewardPayload)
        )

    @strawberry.mutation(
        description=Operation.CANCEL_REDEMPTION.describe(
            "Cancels a redemption not yet fulfilled, and gives the points back into the lots "
            "they came from, with their expiry dates."
        )
    )
    async def cancel_redemption(
        self,
        info: Info[Context, None],
        input: Annotated[CancelRedemptionInput, strawberry.argument(description="What to cancel.")],
    ) -> CancelRedemptionPayload:
        async def work(ctx: Context) -> redemptions.Redeemed:
            require_may_cancel(ctx)
            redemption_id = ids.int_key_of(input.redemption_id, "Redemption", "redemptionId")
            return await redemptions.cancel(
                ctx.program, ctx.actor, redemption_id, input.idempotency_key, now=ctx.clock.now()
            )

        return await mutate(
            info,
            Operation.CANCEL_REDEMPTION,
            CancelRedemptionPayload,
            work,
            _answer(CancelRedemptionPayload),
        )

    @strawberry.mutation(
        description=Operation.FULFILL_REDEMPTION.describe(
            "Marks a redemption handed over; again is harmless. The operator, or the partner "
            "whose reward it is."
        )
    )
    async def fulfill_redemption(
        self,
        info: Info[Context, None],
        input: Annotated[
            FulfillRedemptionInput, strawberry.argument(description="What was handed over.")
        ],
    ) -> FulfillRedemptionPayload:
        return await _fulfill(info, input.redemption_id)

    @strawberry.mutation(
        description=Operation.FULFILL_REDEMPTION.describe(
            "The former spelling of fulfillRedemption, which it calls."
        ),
        deprecation_reason="Use fulfillRedemption (US spelling, like enrollMember).",
    )
    async def fulfil_redemption(
        self,
        info: Info[Context, None],
        input: Annotated[
            FulfilRedemptionInput, strawberry.argument(description="What was handed over.")
        ],
    ) -> FulfilRedemptionPayload:
        done = await _fulfill(info, input.redemption_id)
        return FulfilRedemptionPayload(redemption=done.redemption, user_errors=done.user_errors)
