"""A member's choice to stay off the leaderboards."""

from __future__ import annotations

import logging
from typing import Annotated

import strawberry
from strawberry.types import Info

from domain import preferences, views
from gamification.boards import BoardsUnavailable
from schema.authorization import Operation, acting_on
from schema.common import EXTERNAL_ID, MEMBER_ID, USER_ERRORS, UserError
from schema.context import Context
from schema.members.types import Member
from schema.mutating import mutate

log = logging.getLogger("coalition.leaderboards")


@strawberry.input(description="Whether a member appears on leaderboards.")
class SetLeaderboardOptOutInput:
    member_id: strawberry.ID | None = strawberry.field(default=None, description=MEMBER_ID)
    external_id: str | None = strawberry.field(default=None, description=EXTERNAL_ID)
    opt_out: bool = strawberry.field(
        description="True: leave every leaderboard at once, and appear on none from now on. "
        "False: be ranked again."
    )


@strawberry.type(description="What setLeaderboardOptOut did.")
class SetLeaderboardOptOutPayload:
    member: Member | None = strawberry.field(
        default=None, description="The member, with leaderboardOptOut as now set."
    )
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS)


async def _off_the_boards_now(ctx: Context, member: views.MemberView) -> None:
    """The boards follow at once; if Redis does not answer now, the projector carries the
    change over from its event when it does."""
    if ctx.leaderboards is None:
        return
    try:
        await ctx.leaderboards.refresh_members([member.id], ctx.clock.now())
    except BoardsUnavailable:
        log.warning("leaderboards unavailable; member %s follows with the projector", member.id)


@strawberry.type
class LeaderboardMutations:
    @strawberry.mutation(
        description=Operation.SET_LEADERBOARD_OPT_OUT.describe(
            "Takes a member off every leaderboard (it is removed at once and never shown), or "
            "puts it back. Its points, tier and progress are unchanged. Setting what is "
            "already set changes nothing."
        )
    )
    async def set_leaderboard_opt_out(
        self,
        info: Info[Context, None],
        input: Annotated[SetLeaderboardOptOutInput, strawberry.argument(description="The choice.")],
    ) -> SetLeaderboardOptOutPayload:
        async def work(ctx: Context) -> views.MemberView:
            found = await preferences.set_leaderboard_opt_out(
                ctx.program,
                ctx.actor,
                acting_on(ctx, input.member_id, input.external_id),
                input.opt_out,
                now=ctx.clock.now(),
            )
            await _off_the_boards_now(ctx, found)
            return found

        return await mutate(
            info,
            Operation.SET_LEADERBOARD_OPT_OUT,
            SetLeaderboardOptOutPayload,
            work,
            lambda ctx, done: SetLeaderboardOptOutPayload(member=Member.of(done), user_errors=[]),
        )
