"""The operator's hold on partners' API keys, and partners vouching for their members."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from domain.errors import NotFound
from partners import api_keys, links
from schema import ids
from schema.authorization import Operation, acting_on, require_may
from schema.common import UserError
from schema.context import Context
from schema.members.types import Member
from schema.mutating import mutate
from schema.partners.types import Partner


@strawberry.input
class CreatePartnerApiKeyInput:
    partner_id: strawberry.ID


@strawberry.type
class CreatePartnerApiKeyPayload:
    api_key: str | None = strawberry.field(
        default=None, description="Shown this once; only a digest is kept."
    )
    partner: Partner | None = None
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
class PartnerMutations:
    @strawberry.mutation(description="The operator issues a partner an API key, shown once.")
    async def create_partner_api_key(
        self, info: Info[Context, None], input: CreatePartnerApiKeyInput
    ) -> CreatePartnerApiKeyPayload:
        async def work(ctx: Context) -> tuple[str, str]:
            require_may(ctx, Operation.CREATE_PARTNER_API_KEY)
            key = ids.key_of(input.partner_id, "Partner", "partnerId")
            if key not in ctx.program.partners:
                raise NotFound("Partner", "partnerId")
            raw, identity = await api_keys.issue(key)
            return raw, identity.partner_key

        return await mutate(
            info,
            CreatePartnerApiKeyPayload,
            work,
            lambda ctx, done: CreatePartnerApiKeyPayload(
                api_key=done[0],
                partner=Partner.of(ctx.program.partners[done[1]], ctx.language),
                user_errors=[],
            ),
        )

    @strawberry.mutation(
        description="A partner vouches that partnerMemberId is this member at its end."
    )
    async def link_partner_account(
        self, info: Info[Context, None], input: LinkPartnerAccountInput
    ) -> LinkPartnerAccountPayload:
        async def work(ctx: Context) -> links.Linked:
            require_may(ctx, Operation.LINK_PARTNER_ACCOUNT)
            key = ids.key_of(input.partner_id, "Partner", "partnerId")
            return await links.link(
                ctx.program,
                ctx.actor,
                acting_on(ctx, input.member_id, input.external_id),
                key,
                input.partner_member_id,
                now=ctx.clock.now(),
            )

        return await mutate(
            info,
            LinkPartnerAccountPayload,
            work,
            lambda ctx, done: LinkPartnerAccountPayload(
                member=Member.of(done.member),
                partner=Partner.of(ctx.program.partners[done.partner_key], ctx.language),
                partner_member_id=done.partner_member_id,
                user_errors=[],
            ),
        )
