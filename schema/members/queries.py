"""Looking members up: oneself, one member, every member."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from domain import history, views
from domain.errors import InvalidInput
from domain.members import check_external_id
from schema import ids
from schema.authorization import hidden, may_look_up_members, may_see_member, require_operator
from schema.common import AFTER, FIRST, Connection, connection, page_size
from schema.context import Context
from schema.members.types import Member


async def visible_member(ctx: Context, view: views.MemberView | None) -> Member | None:
    if view is None or not await may_see_member(ctx, view.id):
        hidden(ctx, "member")
        return None
    return Member.of(view)


@strawberry.type
class MemberQueries:
    @strawberry.field(description="The member of the bearer token; null until it enrolls.")
    async def me(self, info: Info[Context, None]) -> Member | None:
        ctx = info.context
        if ctx.actor.member_id is None:
            return None
        return (
            Member.of(view)
            if (view := await ctx.loaders.members.load(ctx.actor.member_id))
            else None
        )

    @strawberry.field(
        description="The operator sees every member; a partner, those it has "
        "dealt with; a member, itself."
    )
    async def member(
        self,
        info: Info[Context, None],
        id: Annotated[
            strawberry.ID | None, strawberry.argument(description="The Member's global id.")
        ] = None,
        external_id: Annotated[
            str | None, strawberry.argument(description="Instead of id: the externalId.")
        ] = None,
    ) -> Member | None:
        ctx = info.context
        if id is None and external_id is None:
            raise InvalidInput("id", "Give id or externalId.")
        if not may_look_up_members(ctx):
            hidden(ctx, "member")
        if id is not None:
            view = await ctx.loaders.members.load(ids.int_key_of(id, "Member", "id"))
        else:
            view = await history.member_by_external_id(check_external_id(external_id or ""))
        return await visible_member(ctx, view)

    @strawberry.field(description="Every member, oldest first (the operator only).")
    async def members(
        self,
        info: Info[Context, None],
        first: Annotated[int | None, strawberry.argument(description=FIRST)] = 20,
        after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
    ) -> Connection[Member]:
        ctx = info.context
        require_operator(ctx, "list members")
        views, more = await history.members_page(page_size(first), ids.parse_cursor(after))
        for view in views:
            ctx.loaders.members.prime(view.id, view)
        return connection([(v.id, Member.of(v)) for v in views], more, after is not None)
