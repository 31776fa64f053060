"""Enrolling members, and the operator's corrections to their balances."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import strawberry
from strawberry.types import Info

from domain import adjustments, members
from schema.authorization import (
    Operation,
    acting_on,
    is_member,
    require_may,
    require_may_enroll,
)
from schema.common import UserError
from schema.context import Context
from schema.ledger.types import PointTransaction
from schema.members.types import Member
from schema.mutating import mutate


@strawberry.input
class EnrollMemberInput:
    external_id: str
    display_name: str | None = None
    email: str | None = None
    birthday: date | None = None
    referral_code: str | None = strawberry.field(
        default=None, description="The referral code of the member who invited this one."
    )
    idempotency_key: str | None = None


@strawberry.type
class EnrollMemberPayload:
    member: Member | None = None
    user_errors: list[UserError]


@strawberry.input
class AdjustPointsInput:
    member_id: strawberry.ID | None = None
    external_id: str | None = None
    points: int = strawberry.field(description="Signed: negative takes points away.")
    reason: str
    idempotency_key: str


@strawberry.type
class AdjustPointsPayload:
    member: Member | None = None
    transaction: PointTransaction | None = None
    user_errors: list[UserError]


def _enrolled(ctx: Context, done: members.Enrolled) -> EnrollMemberPayload:
    if is_member(ctx.actor):
        # From here on, in this request, the caller is the member it just became.
        ctx.actor = replace(ctx.actor, member_id=done.member.id)
    return EnrollMemberPayload(member=Member.of(done.member), user_errors=[])


@strawberry.type
class MemberMutations:
    @strawberry.mutation(
        description="The operator or a partner enrolls anyone; a member with a token enrolls "
        "itself."
    )
    async def enroll_member(
        self, info: Info[Context, None], input: EnrollMemberInput
    ) -> EnrollMemberPayload:
        async def work(ctx: Context) -> members.Enrolled:
            require_may_enroll(ctx, input.external_id)
            return await members.enroll(
                ctx.program,
                ctx.actor,
                members.Enrolment(
                    external_id=input.external_id,
                    display_name=input.display_name,
                    email=input.email,
                    birthday=input.birthday,
                    referral_code=input.referral_code,
                ),
                input.idempotency_key,
                now=ctx.clock.now(),
            )

        return await mutate(info, EnrollMemberPayload, work, _enrolled)

    @strawberry.mutation(description="The operator corrects a balance, with a reason.")
    async def adjust_points(
        self, info: Info[Context, None], input: AdjustPointsInput
    ) -> AdjustPointsPayload:
        async def work(ctx: Context) -> adjustments.Adjusted:
            require_may(ctx, Operation.ADJUST_POINTS)
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
            AdjustPointsPayload,
            work,
            lambda ctx, done: AdjustPointsPayload(
                member=Member.of(done.member),
                transaction=PointTransaction.seen_by(ctx, done.transaction),
                user_errors=[],
            ),
        )
