"""Who may see and do what. Mutations turn a refusal into a FORBIDDEN userError; queries
answer null with a FORBIDDEN error."""

from __future__ import annotations

from graphql import GraphQLError

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


def sees_private_details(ctx: Context, member_id: int) -> bool:
    """Email and birthday: the member itself and the operator only, not partners."""
    return ctx.actor.is_admin or ctx.actor.member_id == member_id
