"""Enrolling members, and the operator's corrections to their balances."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Annotated

import strawberry
from strawberry.types import Info

from domain import adjustments, members
from schema.authorization import (
    Operation,
    acting_on,
    is_member,
    require_may_enroll,
)
from schema.common import (
    AFTER_CHANGE,
    EXTERNAL_ID,
    IDEMPOTENCY_KEY,
    MEMBER_ID,
    USER_ERRORS,
    WRITTEN,
    UserError,
)
from schema.context import Context
from schema.ledger.types import PointTransaction
from schema.members.types import Member
from schema.mutating import mutate


@strawberry.input(description="Who is enrolling.")
class EnrollMemberInput:
    external_id: str = strawberry.field(
        description="The member's id in the operator's systems (1 to 128 characters, no "
        "spaces); for a member enrolling itself, its token's sub."
    )
    display_name: str | None = strawberry.field(
        default=None, description="The name the member goes by (up to 200 characters)."
    )
    email: str | None = strawberry.field(
        default=None, description="Seen only by the member and the operator."
    )
    birthday: date | None = strawberry.field(
        default=None, description="For the birthday bonus; seen only by the member and operator."
    )
    referral_code: str | None = strawberry.field(
        default=None, description="The referral code of the member who invited this one."
    )
    idempotency_key: str | None = strawberry.field(
        default=None,
        description=IDEMPOTENCY_KEY + " Optional here: an externalId enrolls once anyway.",
    )


@strawberry.type(description="What enrollMember did.")
class EnrollMemberPayload:
    member: Member | None = strawberry.field(
        default=None, description="The member enrolled; null when nothing was done."
    )
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS)


@strawberry.input(description="A correction to one member's balance.")
class AdjustPointsInput:
    member_id: strawberry.ID | None = strawberry.field(default=None, description=MEMBER_ID)
    external_id: str | None = strawberry.field(default=None, description=EXTERNAL_ID)
    points: int = strawberry.field(
        description="Whole points, signed: positive adds, negative takes away (never below 0)."
    )
    reason: str = strawberry.field(
        description="Why, in up to 500 characters: the transaction's description."
    )
    idempotency_key: str = strawberry.field(description=IDEMPOTENCY_KEY)


@strawberry.type(description="What adjustPoints did.")
class AdjustPointsPayload:
    member: Member | None = strawberry.field(default=None, description=AFTER_CHANGE)
    transaction: PointTransaction | None = strawberry.field(default=None, description=WRITTEN)
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS)


def _enrolled(ctx: Context, done: members.Enrolled) -> EnrollMemberPayload:
    if is_member(ctx.actor):
        # From here on, in this request, the caller is the member it just became.
        ctx.actor = replace(ctx.actor, member_id=done.member.id)
    return EnrollMemberPayload(member=Member.of(done.member), user_errors=[])


@strawberry.type
class MemberMutations:
    @strawberry.mutation(
        description=Operation.ENROLL_MEMBER.describe(
            "Enrolls a member. The operator or a partner enrolls anyone; a member's token "
            "enrolls the member it names (its sub). Enrolling again is DUPLICATE."
        )
    )
    async def enroll_member(
        self,
        info: Info[Context, None],
        input: Annotated[EnrollMemberInput, strawberry.argument(description="Who enrolls.")],
    ) -> EnrollMemberPayload:
        async def work(ctx: Context) -> members.Enrolled:
            require_may_enroll(ctx, input.external_id)
            return await members.enroll(
                ctx.program,
                ctx.actor,
                members.Enrollment(
                    external_id=input.external_id,
                    display_name=input.display_name,
                    email=input.email,
                    birthday=input.birthday,
                    referral_code=input.referral_code,
                ),
                input.idempotency_key,
                now=ctx.clock.now(),
            )

        return await mutate(info, Operation.ENROLL_MEMBER, EnrollMemberPayload, work, _enrolled)

    @strawberry.mutation(
        description=Operation.ADJUST_POINTS.describe(
            "Corrects a member's balance, with a reason, as an ADJUST transaction."
        )
    )
    async def adjust_points(
        self,
        info: Info[Context, None],
        input: Annotated[AdjustPointsInput, strawberry.argument(description="The correction.")],
    ) -> AdjustPointsPayload:
        async def work(ctx: Context) -> adjustments.Adjusted:
            return await adjustments.adjust(
                ctx.program,
                ctx.actor,
                acting_on(ctx, input.member_id, input.external_id),
                input.points,
                input.reason,
                input.idempotency_key,
                now=ctx.clock.now(),
            )

        return await mutate(
            info,
            Operation.ADJUST_POINTS,
            AdjustPointsPayload,
            work,
            lambda ctx, done: AdjustPointsPayload(
                member=Member.of(done.member),
                transaction=PointTransaction.seen_by(ctx, done.transaction),
                user_errors=[],
            ),
        )
