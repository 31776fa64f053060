"""Queries: resolve, authorise, read."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from domain import conversion, history, views
from domain.errors import InvalidInput, NotFound
from domain.members import check_external_id
from domain.program import Direction
from schema import ids
from schema.authorization import (
    ForbiddenError,
    may_look_up_members,
    may_see_member,
    may_see_purchase,
    may_see_redemption,
    may_see_transaction,
)
from schema.context import Context
from schema.types import (
    Badge,
    Board,
    Campaign,
    Connection,
    ConversionQuote,
    Member,
    Node,
    Partner,
    PointTransaction,
    Purchase,
    Redemption,
    Reward,
    Tier,
    connection,
    page_size,
)


def _hidden(ctx: Context, what: str) -> None:
    """Something asked for was not found, or may not be seen: null for the operator when there
    is none; to anyone else one FORBIDDEN for both, so that no answer tells whether it exists."""
    if not ctx.actor.is_admin:
        raise ForbiddenError(f"You may not see this {what} (or there is none).")


async def _visible_member(ctx: Context, view: views.MemberView | None) -> Member | None:
    if view is None or not await may_see_member(ctx, view.id):
        _hidden(ctx, "member")
        return None
    return Member.of(view)


async def resolve_node(ctx: Context, global_id: str) -> Node | None:
    parsed = ids.parse_global_id(global_id)
    if parsed is None:
        return None
    type_name, key = parsed
    prog = ctx.program
    if type_name in ("Member", "PointTransaction", "Redemption", "Purchase"):
        number = ids.number(key)
        if number is None:
            return None
        if not may_look_up_members(ctx):
            _hidden(ctx, _SPOKEN[type_name])
        if type_name == "Member":
            return await _visible_member(ctx, await ctx.loaders.members.load(number))
        if type_name == "PointTransaction":
            txn = await ctx.loaders.transactions.load(number)
            if txn is None or not may_see_transaction(ctx, txn):
                _hidden(ctx, "transaction")
                return None
            return PointTransaction.of(txn)
        if type_name == "Purchase":
            bought = await ctx.loaders.purchases.load(number)
            if bought is None or not may_see_purchase(ctx, bought):
                _hidden(ctx, "purchase")
                return None
            return Purchase.of(bought)
        red = await ctx.loaders.redemptions.load(number)
        if red is None or not may_see_redemption(ctx, red):
            _hidden(ctx, "redemption")
            return None
        return Redemption.of(red)
    if type_name == "Tier":
        tier = prog.tier(key)
        return Tier.of(tier, ctx.language) if tier else None
    if type_name == "Reward":
        reward = prog.rewards.get(key)
        return Reward.of(reward, prog, ctx.language) if reward else None
    if type_name == "Badge":
        badge = next((b for b in prog.badges if b.key == key), None)
        return Badge.of(badge, ctx.language) if badge else None
    if type_name == "Partner":
        partner = prog.partners.get(key)
        return Partner.of(partner, ctx.language) if partner else None
    return None


_SPOKEN = {
    "Member": "member",
    "PointTransaction": "transaction",
    "Redemption": "redemption",
    "Purchase": "purchase",
}


@strawberry.type
class Query:
    @strawberry.field(description="Any object by its global id; null if unknown.")
    async def node(self, info: Info[Context, None], id: strawberry.ID) -> Node | None:
        return await resolve_node(info.context, id)

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
        id: strawberry.ID | None = None,
        external_id: str | None = None,
    ) -> Member | None:
        ctx = info.context
        if id is None and external_id is None:
            raise InvalidInput("id", "Give id or externalId.")
        if not may_look_up_members(ctx):
            _hidden(ctx, "member")
        if id is not None:
            view = await ctx.loaders.members.load(ids.int_key_of(id, "Member", "id"))
        else:
            view = await history.member_by_external_id(check_external_id(external_id or ""))
        return await _visible_member(ctx, view)

    @strawberry.field(description="Every member, oldest first (the operator only).")
    async def members(
        self, info: Info[Context, None], first: int | None = 20, after: str | None = None
    ) -> Connection[Member]:
        ctx = info.context
        if not ctx.actor.is_admin:
            raise ForbiddenError("Only the operator may list members.")
        views, more = await history.members_page(page_size(first), ids.parse_cursor(after))
        for view in views:
            ctx.loaders.members.prime(view.id, view)
        return connection([(v.id, Member.of(v)) for v in views], more, after is not None)

    @strawberry.field
    def tiers(self, info: Info[Context, None]) -> list[Tier]:
        ctx = info.context
        return [Tier.of(tier, ctx.language) for tier in ctx.program.tiers]

    @strawberry.field(description="The rewards catalog, in the program file's order.")
    def rewards(
        self, info: Info[Context, None], first: int | None = 20, after: str | None = None
    ) -> Connection[Reward]:
        ctx = info.context
        size = page_size(first)
        start = 0 if after is None else (ids.parse_cursor(after) or 0) + 1
        catalog = list(ctx.program.rewards.values())
        chosen = catalog[start : start + size]
        return connection(
            [(start + n, Reward.of(r, ctx.program, ctx.language)) for n, r in enumerate(chosen)],
            start + size < len(catalog),
            start > 0,
        )

    @strawberry.field
    def partners(self, info: Info[Context, None]) -> list[Partner]:
        ctx = info.context
        return [Partner.of(p, ctx.language) for p in ctx.program.partners.values()]

    @strawberry.field
    def badges(self, info: Info[Context, None]) -> list[Badge]:
        ctx = info.context
        return [Badge.of(b, ctx.language) for b in ctx.program.badges]

    @strawberry.field(description="The leaderboards the program keeps, and for which periods.")
    def boards(self, info: Info[Context, None]) -> list[Board]:
        ctx = info.context
        return [Board.of(b, ctx.language) for b in ctx.program.leaderboards]

    @strawberry.field(description="Campaigns running now or to come, soonest first.")
    def campaigns(self, info: Info[Context, None]) -> list[Campaign]:
        ctx = info.context
        now = ctx.clock.now()
        current = sorted((c for c in ctx.program.campaigns if c.ends > now), key=lambda c: c.starts)
        return [Campaign.of(c, ctx.program, ctx.language) for c in current]

    @strawberry.field(description="What converting `amount` (in the source currency) would give.")
    def conversion_quote(
        self,
        info: Info[Context, None],
        partner_id: strawberry.ID,
        direction: Direction,
        amount: int,
    ) -> ConversionQuote:
        ctx = info.context
        key = ids.key_of(partner_id, "Partner", "partnerId")
        partner = ctx.program.partners.get(key)
        if partner is None:
            raise NotFound("Partner", "partnerId")
        offer = conversion.quote(partner, direction, amount, ctx.clock.now())
        return ConversionQuote(
            partner=Partner.of(partner, ctx.language),
            direction=direction,
            amount=amount,
            points=offer.points,
            partner_amount=offer.partner_amount,
            rate=offer.description,
        )
