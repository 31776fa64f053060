"""`memberEvents`: a member's events as they happen, over the websocket (graphql-transport-ws)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from domain.errors import NotFound
from gamification.watch import FellBehind, Unavailable
from schema.authorization import member_watched_by
from schema.context import Context
from schema.http_errors import ErrorCode
from schema.live.types import MemberEvent, member_event
from schema.loaders import Loaders


def _unavailable(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": ErrorCode.UNAVAILABLE.value})


async def _events(ctx: Context, member_id: int) -> AsyncGenerator[MemberEvent, None]:
    if ctx.live is None:
        raise _unavailable("Live events are not served here: connect to ws://…/graphql.")
    try:
        async with ctx.live.watch(member_id) as watch:
            async for event in watch:
                # A subscription outlives any one read: each event is resolved with fresh
                # loaders, so that `member` shows the member as it stands now.
                ctx.loaders = Loaders(ctx.program, ctx.clock, ctx.loaders.progress)
                ctx.dealt_with.clear()
                shown = member_event(ctx, event)
                if shown is not None:
                    yield shown
    except (Unavailable, FellBehind) as error:
        raise _unavailable(str(error)) from None


@strawberry.type
class LiveSubscriptions:
    @strawberry.subscription(
        description="The member's events as they happen: points moved, badges unlocked, "
        "tier and rank changes. Over the websocket at /graphql (graphql-transport-ws); the "
        "connection_init payload carries the credentials. A member watches itself; the "
        "operator names any member by memberId; partners are refused. Each event is sent "
        "once; an event that happens while the connection is down is not sent later."
    )
    async def member_events(
        self,
        info: Info[Context, None],
        member_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(
                description="The Member's global id: the operator's to give; a member may "
                "leave it out or name itself."
            ),
        ] = None,
    ) -> AsyncGenerator[MemberEvent, None]:
        ctx = info.context
        watched = member_watched_by(ctx, member_id)
        if ctx.actor.is_admin and await ctx.loaders.members.load(watched) is None:
            raise NotFound("Member", "memberId")
        async for event in _events(ctx, watched):
            yield event
