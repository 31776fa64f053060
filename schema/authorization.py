"""Who may see and do what, decided here and nowhere else; resolvers ask.

Partners are competing brands. A partner sees a member it has dealt with (enrolled, linked, or
recorded activity for): the public profile, balance and tier, and of the member's history only
its own dealings - its purchases, its actions, redemptions of its rewards, its transfers -
never another partner's nor the operator's (adjustments, their reasons, program bonuses). A
member sees itself; the operator sees everything. Anyone else sees no member at all, and is
told the same whether the member exists or not.

Mutations turn a refusal into a FORBIDDEN userError; queries answer null with a FORBIDDEN
error.
"""

from __future__ import annotations

from graphql import GraphQLError

from domain import views
from domain.actors import Actor, ActorKind
from domain.errors import ErrorCode, Forbidden
from partners import links
from schema.context import Context


class ForbiddenError(GraphQLError):
    def __init__(self, message: str = "You may not see this.") -> None:
        super().__init__(message, extensions={"code": ErrorCode.FORBIDDEN.value})


def require(allowed: bool, message: str) -> None:
    if not allowed:
        raise Forbidden(message)


def is_member(actor: Actor) -> bool:
    return actor.kind is ActorKind.MEMBER


def is_partner(actor: Actor) -> bool:
    return actor.kind is ActorKind.PARTNER


def is_admin_or_partner(actor: Actor) -> bool:
    return actor.kind in (ActorKind.ADMIN, ActorKind.PARTNER)


def may_look_up_members(ctx: Context) -> bool:
    """Whether looking a member up can answer anything but FORBIDDEN: without credentials it
    cannot, and nothing is read, so that no answer tells whether the member exists."""
    return ctx.actor.kind is not ActorKind.ANONYMOUS


async def may_see_member(ctx: Context, member_id: int) -> bool:
    actor = ctx.actor
    if actor.is_admin:
        return True
    if actor.kind is ActorKind.MEMBER:
        return actor.member_id == member_id
    if actor.kind is ActorKind.PARTNER and actor.partner_id is not None:
        if member_id not in ctx.dealt_with:
            ctx.dealt_with[member_id] = await links.has_dealt_with(
                actor.partner_id, actor.partner_key or "", member_id
            )
        return ctx.dealt_with[member_id]
    return False


def dealings_seen_by(ctx: Context) -> str | None:
    """Of a member's history (transactions, redemptions) the caller may see: None for all of
    it (the operator; the member itself), else only this partner's dealings."""
    if ctx.actor.kind is ActorKind.PARTNER:
        # A partner identity always has its key; "" would match no dealing at all.
        return ctx.actor.partner_key or ""
    return None


def _own_dealing(ctx: Context, member_id: int, partner: str | None) -> bool:
    actor = ctx.actor
    if actor.is_admin:
        return True
    if actor.kind is ActorKind.MEMBER:
        return actor.member_id == member_id
    if actor.kind is ActorKind.PARTNER:
        return partner is not None and partner == actor.partner_key
    return False


def may_see_transaction(ctx: Context, transaction: views.TransactionView) -> bool:
    return _own_dealing(ctx, transaction.member_id, transaction.partner)


def may_see_redemption(ctx: Context, redemption: views.RedemptionView) -> bool:
    return _own_dealing(ctx, redemption.member_id, redemption.partner)


def may_see_purchase(ctx: Context, purchase: views.PurchaseView) -> bool:
    """A purchase is its recorder's: a partner sees those it recorded."""
    actor = ctx.actor
    if actor.is_admin:
        return True
    if actor.kind is ActorKind.MEMBER:
        return actor.member_id == purchase.member_id
    return actor.kind is ActorKind.PARTNER and actor.source == purchase.source


def sees_private_details(ctx: Context, member_id: int) -> bool:
    """Email, birthday, referral code: the member itself and the operator only, not partners."""
    return ctx.actor.is_admin or ctx.actor.member_id == member_id
