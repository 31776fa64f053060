"""Mutations: resolve, authorise, call one domain service, map its failures to userErrors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import date, datetime
from typing import TypeVar

import strawberry
from strawberry.types import Info

from domain import actions, adjustments, members, purchases, redemptions, refunds, views
from domain.actors import ActorKind
from domain.errors import DomainError, Forbidden, InvalidInput, NotFound
from partners import api_keys, links
from schema import ids
from schema.authorization import (
    is_admin_or_partner,
    is_member,
    may_see_purchase,
    may_see_redemption,
    may_see_transaction,
    require,
)
from schema.context import Context
from schema.loaders import Loaders
from schema.types import (
    Decimal,
    Member,
    Partner,
    PointTransaction,
    Purchase,
    Redemption,
    UserError,
    user_error,
)

R = TypeVar("R")


async def attempt(
    ctx: Context, work: Callable[[], Awaitable[R]]
) -> tuple[R | None, list[UserError]]:
    try:
        done = await work()
    except DomainError as error:
        return None, [user_error(error)]
    # After a write, loaders start afresh: nothing read before it may be served after it.
    ctx.loaders = Loaders(ctx.program, ctx.clock)
    return done, []


def member_ref(
    ctx: Context, member_id: strawberry.ID | None, external_id: str | None = None
) -> members.MemberRef:
    """The member a mutation is about. A member acts on itself only."""
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


# A payload shows what the caller's own write changed; it still goes through the rules every
# other path follows (schema.authorization), so that no payload can show more.
def _transaction(ctx: Context, view: views.TransactionView | None) -> PointTransaction | None:
    return PointTransaction.of(view) if view and may_see_transaction(ctx, view) else None


def _redemption(ctx: Context, view: views.RedemptionView) -> Redemption | None:
    return Redemption.of(view) if may_see_redemption(ctx, view) else None


def _purchase(ctx: Context, view: views.PurchaseView) -> Purchase | None:
    return Purchase.of(view) if may_see_purchase(ctx, view) else None


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
class PurchaseLineInput:
    sku: str | None = None
    category: str | None = None
    quantity: int = 1
    unit_price: Decimal


@strawberry.input
class RecordPurchaseInput:
    member_id: strawberry.ID | None = None
    external_id: str | None = None
    order_id: str
    amount: Decimal = strawberry.field(description="The total paid, shipping and tax included.")
    currency: str
    shipping: Decimal | None = None
    tax: Decimal | None = None
    discount: Decimal | None = strawberry.field(
        default=None,
        description="Taken off the order as a whole. With lines, the amount must be their "
        "totals less this discount, plus shipping (plus tax, unless their prices include it), "
        "to the cent; otherwise the purchase is refused (INVALID_INPUT on lines).",
    )
    lines: list[PurchaseLineInput] | None = None
    occurred_at: datetime | None = None
    idempotency_key: str


@strawberry.type
class RecordPurchasePayload:
    member: Member | None = None
    purchase: Purchase | None = None
    transaction: PointTransaction | None = None
    user_errors: list[UserError]


@strawberry.input
class RecordActionInput:
    member_id: strawberry.ID | None = None
    external_id: str | None = None
    action: str
    reference: str | None = strawberry.field(
        default=None, description="The action's own id (the review's, say): one award each."
    )
    idempotency_key: str


@strawberry.type
class RecordActionPayload:
    member: Member | None = None
    transaction: PointTransaction | None = None
    user_errors: list[UserError]


@strawberry.input
class RedeemRewardInput:
    member_id: strawberry.ID | None = strawberry.field(
        default=None, description="Optional for a member, who redeems for itself."
    )
    reward_id: strawberry.ID
    idempotency_key: str


@strawberry.type
class RedeemRewardPayload:
    member: Member | None = None
    redemption: Redemption | None = None
    transaction: PointTransaction | None = None
    user_errors: list[UserError]


@strawberry.input
class CancelRedemptionInput:
    redemption_id: strawberry.ID
    idempotency_key: str


@strawberry.type
class CancelRedemptionPayload:
    member: Member | None = None
    redemption: Redemption | None = None
    transaction: PointTransaction | None = None
    user_errors: list[UserError]


@strawberry.input
class AdjustPointsInput:
    member_id: strawberry.ID
    points: int = strawberry.field(description="Signed: negative takes points away.")
    reason: str
    idempotency_key: str


@strawberry.type
class AdjustPointsPayload:
    member: Member | None = None
    transaction: PointTransaction | None = None
    user_errors: list[UserError]


@strawberry.input
class RefundPurchaseInput:
    purchase_id: strawberry.ID | None = None
    order_id: str | None = strawberry.field(
        default=None, description="Instead of purchaseId: the order, among the caller's own."
    )
    amount: Decimal | None = strawberry.field(
        default=None, description="Money refunded; leave out to refund whatever is left."
    )
    idempotency_key: str


@strawberry.type
class RefundPurchasePayload:
    member: Member | None = None
    purchase: Purchase | None = None
    transaction: PointTransaction | None = None
    points_clawed_back: int | None = strawberry.field(
        default=None, description="Taken back by this refund (pending, spendable, or owed)."
    )
    user_errors: list[UserError]


@strawberry.input
class FulfilRedemptionInput:
    redemption_id: strawberry.ID


@strawberry.type
class FulfilRedemptionPayload:
    redemption: Redemption | None = None
    user_errors: list[UserError]


@strawberry.input
class CreatePartnerApiKeyInput:
    partner_id: strawberry.ID


@strawberry.type
class CreatePartnerApiKeyPayload:
    api_key: str | None = strawberry.field(description="Shown this once; only a digest is kept.")
    partner: Partner | None
    user_errors: list[UserError]


@strawberry.input
class LinkPartnerAccountInput:
    member_id: strawberry.ID | None = None
    external_id: str | None = None
    partner_id: strawberry.ID
    partner_member_id: str


@strawberry.type
class LinkPartnerAccountPayload:
    member: Member | None = None
    partner: Partner | None = None
    partner_member_id: str | None = None
    user_errors: list[UserError]


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="The operator or a partner enrols anyone; a member with a token enrols itself."
    )
    async def enroll_member(
        self, info: Info[Context, None], input: EnrollMemberInput
    ) -> EnrollMemberPayload:
        ctx = info.context
        actor = ctx.actor

        async def run() -> members.Enrolled:
            if is_member(actor):
                require(
                    input.external_id == actor.external_id,
                    "A member can enrol only itself (externalId must be the token's sub).",
                )
            else:
                require(is_admin_or_partner(actor), "Sign in to enrol.")
            return await members.enroll(
                ctx.program,
                actor,
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

        done, errors = await attempt(ctx, run)
        if done is None:
            return EnrollMemberPayload(user_errors=errors)
        if is_member(actor):
            # From here on, in this request, the caller is the member it just became.
            ctx.actor = replace(actor, member_id=done.member.id)
        return EnrollMemberPayload(member=Member.of(done.member), user_errors=[])

    @strawberry.mutation(description="A partner (or the operator) records a purchase.")
    async def record_purchase(
        self, info: Info[Context, None], input: RecordPurchaseInput
    ) -> RecordPurchasePayload:
        ctx = info.context

        async def run() -> purchases.Recorded:
            require(
                is_admin_or_partner(ctx.actor), "Only partners and the operator record purchases."
            )
            data = purchases.PurchaseInput(
                member=member_ref(ctx, input.member_id, input.external_id),
                order_id=input.order_id,
                amount=input.amount,
                currency=input.currency,
                shipping=input.shipping,
                tax=input.tax,
                discount=input.discount,
                lines=tuple(
                    purchases.LineInput(
                        sku=ln.sku,
                        category=ln.category,
                        quantity=ln.quantity,
                        unit_price=ln.unit_price,
                    )
                    for ln in input.lines or ()
                ),
                occurred_at=input.occurred_at,
            )
            return await purchases.record(
                ctx.program, ctx.actor, data, input.idempotency_key, now=ctx.clock.now()
            )

        done, errors = await attempt(ctx, run)
        if done is None:
            return RecordPurchasePayload(user_errors=errors)
        return RecordPurchasePayload(
            member=Member.of(done.member),
            purchase=_purchase(ctx, done.purchase),
            transaction=_transaction(ctx, done.transaction),
            user_errors=[],
        )

    @strawberry.mutation(description="A partner (or the operator) records a rewarded action.")
    async def record_action(
        self, info: Info[Context, None], input: RecordActionInput
    ) -> RecordActionPayload:
        ctx = info.context

        async def run() -> actions.Recorded:
            require(
                is_admin_or_partner(ctx.actor), "Only partners and the operator record actions."
            )
            return await actions.record(
                ctx.program,
                ctx.actor,
                member_ref(ctx, input.member_id, input.external_id),
                input.action,
                input.reference,
                input.idempotency_key,
                now=ctx.clock.now(),
            )

        done, errors = await attempt(ctx, run)
        if done is None:
            return RecordActionPayload(user_errors=errors)
        return RecordActionPayload(
            member=Member.of(done.member),
            transaction=_transaction(ctx, done.transaction),
            user_errors=[],
        )

    @strawberry.mutation(description="A member redeems for itself; the operator for anyone.")
    async def redeem_reward(
        self, info: Info[Context, None], input: RedeemRewardInput
    ) -> RedeemRewardPayload:
        ctx = info.context

        async def run() -> redemptions.Redeemed:
            require(
                is_member(ctx.actor) or ctx.actor.is_admin,
                "Only a member (for itself) or the operator can redeem.",
            )
            reward_key = ids.key_of(input.reward_id, "Reward", "rewardId")
            return await redemptions.redeem(
                ctx.program,
                ctx.actor,
                member_ref(ctx, input.member_id),
                reward_key,
                input.idempotency_key,
                now=ctx.clock.now(),
            )

        done, errors = await attempt(ctx, run)
        if done is None:
            return RedeemRewardPayload(user_errors=errors)
        return RedeemRewardPayload(
            member=Member.of(done.member),
            redemption=_redemption(ctx, done.redemption),
            transaction=_transaction(ctx, done.transaction),
            user_errors=[],
        )

    @strawberry.mutation(description="Gives the points back, into the lots they came from.")
    async def cancel_redemption(
        self, info: Info[Context, None], input: CancelRedemptionInput
    ) -> CancelRedemptionPayload:
        ctx = info.context

        async def run() -> redemptions.Redeemed:
            require(
                is_member(ctx.actor) or ctx.actor.is_admin,
                "Only the member who redeemed, or the operator, can cancel.",
            )
            if is_member(ctx.actor) and ctx.actor.member_id is None:
                raise Forbidden("You can cancel only your own redemptions.", "redemptionId")
            redemption_id = ids.int_key_of(input.redemption_id, "Redemption", "redemptionId")
            return await redemptions.cancel(
                ctx.program, ctx.actor, redemption_id, input.idempotency_key, now=ctx.clock.now()
            )

        done, errors = await attempt(ctx, run)
        if done is None:
            return CancelRedemptionPayload(user_errors=errors)
        return CancelRedemptionPayload(
            member=Member.of(done.member),
            redemption=_redemption(ctx, done.redemption),
            transaction=_transaction(ctx, done.transaction),
            user_errors=[],
        )

    @strawberry.mutation(description="The operator corrects a balance, with a reason.")
    async def adjust_points(
        self, info: Info[Context, None], input: AdjustPointsInput
    ) -> AdjustPointsPayload:
        ctx = info.context

        async def run() -> adjustments.Adjusted:
            require(ctx.actor.is_admin, "Only the operator adjusts points.")
            return await adjustments.adjust(
                ctx.program,
                ctx.actor,
                member_ref(ctx, input.member_id),
                input.points,
                input.reason,
                input.idempotency_key,
                now=ctx.clock.now(),
            )

        done, errors = await attempt(ctx, run)
        if done is None:
            return AdjustPointsPayload(user_errors=errors)
        return AdjustPointsPayload(
            member=Member.of(done.member),
            transaction=_transaction(ctx, done.transaction),
            user_errors=[],
        )

    @strawberry.mutation(
        description="Takes back the points a purchase earned, in proportion to the money "
        "refunded; partial refunds add up. Whoever recorded the purchase (or the operator)."
    )
    async def refund_purchase(
        self, info: Info[Context, None], input: RefundPurchaseInput
    ) -> RefundPurchasePayload:
        ctx = info.context

        async def run() -> refunds.Refunded:
            require(
                is_admin_or_partner(ctx.actor), "Only partners and the operator refund purchases."
            )
            ref = refunds.PurchaseRef(
                id=(
                    None
                    if input.purchase_id is None
                    else ids.int_key_of(input.purchase_id, "Purchase", "purchaseId")
                ),
                order_id=input.order_id,
            )
            return await refunds.refund(
                ctx.program,
                ctx.actor,
                ref,
                input.amount,
                input.idempotency_key,
                now=ctx.clock.now(),
            )

        done, errors = await attempt(ctx, run)
        if done is None:
            return RefundPurchasePayload(user_errors=errors)
        return RefundPurchasePayload(
            member=Member.of(done.member),
            purchase=_purchase(ctx, done.purchase),
            transaction=_transaction(ctx, done.transaction),
            points_clawed_back=done.points,
            user_errors=[],
        )

    @strawberry.mutation(
        description="Marks a redemption handed over; again is harmless. The operator, or the "
        "partner whose reward it is."
    )
    async def fulfil_redemption(
        self, info: Info[Context, None], input: FulfilRedemptionInput
    ) -> FulfilRedemptionPayload:
        ctx = info.context

        async def run() -> redemptions.Fulfilled:
            require(
                is_admin_or_partner(ctx.actor),
                "Only the operator or the reward's partner fulfils redemptions.",
            )
            redemption_id = ids.int_key_of(input.redemption_id, "Redemption", "redemptionId")
            return await redemptions.fulfil(
                ctx.program, ctx.actor, redemption_id, now=ctx.clock.now()
            )

        done, errors = await attempt(ctx, run)
        if done is None:
            return FulfilRedemptionPayload(user_errors=errors)
        return FulfilRedemptionPayload(redemption=_redemption(ctx, done.redemption), user_errors=[])

    @strawberry.mutation(description="The operator issues a partner an API key, shown once.")
    async def create_partner_api_key(
        self, info: Info[Context, None], input: CreatePartnerApiKeyInput
    ) -> CreatePartnerApiKeyPayload:
        ctx = info.context

        async def run() -> tuple[str, str]:
            require(ctx.actor.is_admin, "Only the operator issues API keys.")
            key = ids.key_of(input.partner_id, "Partner", "partnerId")
            if key not in ctx.program.partners:
                raise NotFound("Partner", "partnerId")
            raw, identity = await api_keys.issue(key)
            return raw, identity.partner_key

        done, errors = await attempt(ctx, run)
        if done is None:
            return CreatePartnerApiKeyPayload(api_key=None, partner=None, user_errors=errors)
        raw, partner_key = done
        return CreatePartnerApiKeyPayload(
            api_key=raw,
            partner=Partner.of(ctx.program.partners[partner_key], ctx.language),
            user_errors=[],
        )

    @strawberry.mutation(
        description="A partner vouches that partnerMemberId is this member at its end."
    )
    async def link_partner_account(
        self, info: Info[Context, None], input: LinkPartnerAccountInput
    ) -> LinkPartnerAccountPayload:
        ctx = info.context

        async def run() -> links.Linked:
            require(
                is_admin_or_partner(ctx.actor), "Only the partner or the operator links accounts."
            )
            key = ids.key_of(input.partner_id, "Partner", "partnerId")
            return await links.link(
                ctx.program,
                ctx.actor,
                member_ref(ctx, input.member_id, input.external_id),
                key,
                input.partner_member_id,
                now=ctx.clock.now(),
            )

        done, errors = await attempt(ctx, run)
        if done is None:
            return LinkPartnerAccountPayload(user_errors=errors)
        return LinkPartnerAccountPayload(
            member=Member.of(done.member),
            partner=Partner.of(ctx.program.partners[done.partner_key], ctx.language),
            partner_member_id=done.partner_member_id,
            user_errors=[],
        )
