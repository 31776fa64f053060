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

from enum import Enum

import strawberry
from graphql import GraphQLError

from domain import members, views
from domain.actors import Actor, ActorKind
from domain.errors import ErrorCode, Forbidden, InvalidInput, NotFound
from partners import links
from schema import ids
from schema.context import Context
from schema.http_errors import ErrorCode as RequestCode


class ForbiddenError(GraphQLError):
    def __init__(self, message: str = "You may not see this.") -> None:
        super().__init__(message, extensions={"code": ErrorCode.FORBIDDEN.value})


def require(allowed: bool, message: str) -> None:
    if not allowed:
        raise Forbidden(message)


_OPERATOR = frozenset({ActorKind.ADMIN})
_PARTNERS = frozenset({ActorKind.ADMIN, ActorKind.PARTNER})
_MEMBERS = frozenset({ActorKind.ADMIN, ActorKind.MEMBER})
_SIGNED_IN = frozenset({ActorKind.ADMIN, ActorKind.PARTNER, ActorKind.MEMBER})


_MEMBER_ERRORS = (ErrorCode.FORBIDDEN, ErrorCode.INVALID_INPUT, ErrorCode.NOT_FOUND)
_KEYED = (ErrorCode.IDEMPOTENCY_KEY_REUSED,)


class Operation(Enum):
    """Every mutation: who may call it, what anyone else is told, and every userError code it
    can return. The schema's descriptions say the same, from here."""

    ENROLL_MEMBER = (
        _SIGNED_IN,
        "Sign in to enroll: a member enrolls itself.",
        (*_MEMBER_ERRORS, ErrorCode.DUPLICATE, ErrorCode.LIMIT_EXCEEDED, *_KEYED),
    )
    RECORD_PURCHASE = (
        _PARTNERS,
        "Only partners and the operator record purchases.",
        (*_MEMBER_ERRORS, ErrorCode.DUPLICATE, ErrorCode.LIMIT_EXCEEDED, *_KEYED),
    )
    RECORD_ACTION = (
        _PARTNERS,
        "Only partners and the operator record actions.",
        (*_MEMBER_ERRORS, ErrorCode.DUPLICATE, ErrorCode.LIMIT_EXCEEDED, *_KEYED),
    )
    REFUND_PURCHASE = (
        _PARTNERS,
        "Only partners and the operator refund purchases.",
        (*_MEMBER_ERRORS, ErrorCode.INVALID_STATE, ErrorCode.LIMIT_EXCEEDED, *_KEYED),
    )
    REDEEM_REWARD = (
        _MEMBERS,
        "Only a member (for itself) or the operator can redeem.",
        (
            *_MEMBER_ERRORS,
            ErrorCode.INSUFFICIENT_POINTS,
            ErrorCode.OUT_OF_STOCK,
            ErrorCode.LIMIT_EXCEEDED,
            ErrorCode.NOT_ELIGIBLE,
            *_KEYED,
        ),
    )
    CANCEL_REDEMPTION = (
        _MEMBERS,
        "Only the member who redeemed, or the operator, can cancel.",
        (*_MEMBER_ERRORS, ErrorCode.INVALID_STATE, ErrorCode.LIMIT_EXCEEDED, *_KEYED),
    )
    FULFILL_REDEMPTION = (
        _PARTNERS,
        "Only the operator or the reward's partner fulfills redemptions.",
        (*_MEMBER_ERRORS, ErrorCode.INVALID_STATE),
    )
    ADJUST_POINTS = (
        _OPERATOR,
        "Only the operator adjusts points.",
        (*_MEMBER_ERRORS, ErrorCode.INSUFFICIENT_POINTS, ErrorCode.LIMIT_EXCEEDED, *_KEYED),
    )
    CREATE_PARTNER_API_KEY = (_OPERATOR, "Only the operator issues API keys.", _MEMBER_ERRORS)
    REVOKE_PARTNER_API_KEY = (_OPERATOR, "Only the operator revokes API keys.", _MEMBER_ERRORS)
    SET_LEADERBOARD_OPT_OUT = (
        _MEMBERS,
        "Only a member (for itself) or the operator sets whether it appears on leaderboards.",
        _MEMBER_ERRORS,
    )
    LINK_PARTNER_ACCOUNT = (
        _PARTNERS,
        "Only the partner or the operator links accounts.",
        (*_MEMBER_ERRORS, ErrorCode.DUPLICATE),
    )

    def __init__(
        self, callers: frozenset[ActorKind], refusal: str, errors: tuple[ErrorCode, ...]
    ) -> None:
        self.callers = callers
        self.refusal = refusal
        self.errors = errors

    def describe(self, what: str) -> str:
        """A mutation's description: what it does, who may call it, what it can refuse."""
        who = ", ".join(_CALLER_NAMES[kind] for kind in ActorKind if kind in self.callers)
        codes = ", ".join(code.value for code in self.errors)
        return f"{what}\n\nCallers: {who}.\n\nuserErrors codes: {codes}."


_CALLER_NAMES = {
    ActorKind.ANONYMOUS: "anyone",
    ActorKind.MEMBER: "a member (for itself)",
    ActorKind.PARTNER: "a partner (its API key)",
    ActorKind.ADMIN: "the operator (admin key)",
}


def require_may(ctx: Context, operation: Operation) -> None:
    """Refuses the caller (a FORBIDDEN userError) unless it may call the operation at all;
    which member or which object it may touch is decided by the checks below. Every mutation
    passes here first (schema.mutating)."""
    require(ctx.actor.kind in operation.callers, operation.refusal)


def acting_on(
    ctx: Context, member_id: strawberry.ID | None, external_id: str | None = None
) -> members.MemberRef:
    """The member a mutation is about. A member acts on itself only; the others name one."""
    actor = ctx.actor
    if actor.kind is ActorKind.MEMBER:
        if member_id is not None and (
            actor.member_id is None
            or ids.int_key_of(member_id, "Member", "memberId") != actor.member_id
        ):
            raise Forbidden("A member can act only on itself.", "memberId")
        if external_id is not None and external_id != actor.external_id:
            raise Forbidden("A member can act only on itself.", "externalId")
        if actor.member_id is None:
            raise NotFound("Member (enroll first)", "memberId")
        return members.MemberRef(id=actor.member_id)
    if member_id is not None:
        return members.MemberRef(id=ids.int_key_of(member_id, "Member", "memberId"))
    if external_id is not None:
        return members.MemberRef(external_id=members.check_external_id(external_id))
    raise InvalidInput("memberId", "Say which member: give memberId or externalId.")


def require_may_enroll(ctx: Context, external_id: str) -> None:
    """A member's token enrolls the member it names, and no one else."""
    if is_member(ctx.actor):
        require(
            external_id == ctx.actor.external_id,
            "A member can enroll only itself (externalId must be the token's sub).",
        )


def require_may_cancel(ctx: Context) -> None:
    """A member cancels only its own redemptions (which it cannot have before it enrolls)."""
    if is_member(ctx.actor) and ctx.actor.member_id is None:
        raise Forbidden("You can cancel only your own redemptions.", "redemptionId")


def is_member(actor: Actor) -> bool:
    return actor.kind is ActorKind.MEMBER


def is_partner(actor: Actor) -> bool:
    return actor.kind is ActorKind.PARTNER


def is_admin_or_partner(actor: Actor) -> bool:
    return actor.kind in (ActorKind.ADMIN, ActorKind.PARTNER)


def require_operator(ctx: Context, what: str) -> None:
    """Queries only the operator may ask (every member, API keys): FORBIDDEN to anyone else."""
    if not ctx.actor.is_admin:
        raise ForbiddenError(f"Only the operator may {what}.")


def hidden(ctx: Context, what: str) -> None:
    """Something asked for was not found, or may not be seen: null for the operator when there
    is none; to anyone else one FORBIDDEN for both, so that no answer tells whether it exists."""
    if not ctx.actor.is_admin:
        raise ForbiddenError(f"You may not see this {what} (or there is none).")


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


def standing_of(ctx: Context) -> int | None:
    """Whose standing `Reward.availability` tells: the calling member's own, and nobody
    else's. Anonymous callers, partners and the operator redeem for no one (or for anyone), so
    they get none; nor does a member not enrolled yet."""
    return ctx.actor.member_id if ctx.actor.kind is ActorKind.MEMBER else None


def sees_private_details(ctx: Context, member_id: int) -> bool:
    """Email, birthday, referral code: the member itself and the operator only, not partners."""
    return ctx.actor.is_admin or ctx.actor.member_id == member_id


def member_watched_by(ctx: Context, member_id: strawberry.ID | None) -> int:
    """Whose live events (`memberEvents`) the caller may follow: a member its own, with or
    without naming itself; the operator any member, named by `memberId`. Partners are refused:
    the subscription carries badges, tiers and ranks, which are not a partner's dealings.
    Without credentials: UNAUTHENTICATED, said the same whoever is named."""
    actor = ctx.actor
    if actor.kind is ActorKind.ANONYMOUS:
        raise GraphQLError(
            'Sign in to follow live events: send {"authorization": "Bearer <token>"} as '
            "the connection_init payload (or X-API-Key for the operator).",
            extensions={"code": RequestCode.UNAUTHENTICATED.value},
        )
    if actor.kind is ActorKind.PARTNER:
        raise Forbidden(
            "Partners cannot follow members' live events: they carry badges, tiers and "
            "ranks, which are not a partner's dealings.",
            "memberId",
        )
    if actor.is_admin:
        if member_id is None:
            raise InvalidInput("memberId", "Say which member to watch: give memberId.")
        return ids.int_key_of(member_id, "Member", "memberId")
    if member_id is not None and (
        actor.member_id is None
        or ids.int_key_of(member_id, "Member", "memberId") != actor.member_id
    ):
        raise Forbidden("A member can watch only its own events.", "memberId")
    if actor.member_id is None:
        raise NotFound("Member (enroll first)", "memberId")
    return actor.member_id
