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
from schema.partners.types import Partner, PartnerApiKey


@strawberry.input
class CreatePartnerApiKeyInput:
    partner_id: strawberry.ID


@strawberry.type
class CreatePartnerApiKeyPayload:
    api_key: str | None = strawberry.field(
        default=None, description="Shown this once; only a digest is kept."
    )
    partner: Partner | None = None
    partner_api_key: PartnerApiKey | None = strawberry.field(
        default=None, description="The new key as listed, with the id that revokes it."
    )
    user_errors: list[UserError]


@strawberry.input
class RevokePartnerApiKeyInput:
    id: strawberry.ID = strawberry.field(description="The PartnerApiKey to revoke.")


@strawberry.type
class RevokePartnerApiKeyPayload:
    partner_api_key: PartnerApiKey | None = strawberry.field(
        default=None, description="The key, with when it was revoked."
    )
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
        async def work(ctx: Context) -> tuple[str, api_keys.ApiKeyView]:
            require_may(ctx, Operation.CREATE_PARTNER_API_KEY)
            key = ids.key_of(input.partner_id, "Partner", "partnerId")
            if key not in ctx.program.partners:
                raise NotFound("Partner", "partnerId")
            return await api_keys.issue(key, now=ctx.clock.now())

        def answer(
            ctx: Context, done: tuple[str, api_keys.ApiKeyView]
        ) -> CreatePartnerApiKeyPayload:
            raw, issued = done
            partner = Partner.of(ctx.program.partners[issued.partner_key], ctx.language)
            return CreatePartnerApiKeyPayload(
                api_key=raw,
                partner=partner,
                partner_api_key=PartnerApiKey.of(issued, partner),
                user_errors=[],
            )

        return await mutate(info, CreatePartnerApiKeyPayload, work, answer)

    @strawberry.mutation(
        description="The operator revokes a partner's API key: it gets 401 from the next "
        "request on, in every worker. Revoking it again changes nothing."
    )
    async def revoke_partner_api_key(
        self, info: Info[Context, None], input: RevokePartnerApiKeyInput
    ) -> RevokePartnerApiKeyPayload:
        async def work(ctx: Context) -> api_keys.ApiKeyView:
            require_may(ctx, Operation.REVOKE_PARTNER_API_KEY)
            key_id = ids.int_key_of(input.id, "PartnerApiKey", "id")
            return await ctx.keys.revoke(key_id, now=ctx.clock.now())

        def answer(ctx: Context, done: api_keys.ApiKeyView) -> RevokePartnerApiKeyPayload:
            partner = ctx.program.partners.get(done.partner_key)
            if partner is None:  # a partner the program no longer has
                return RevokePartnerApiKeyPayload(user_errors=[])
            shown = PartnerApiKey.of(done, Partner.of(partner, ctx.language))
            return RevokePartnerApiKeyPayload(partner_api_key=shown, user_errors=[])

        return await mutate(info, RevokePartnerApiKeyPayload, work, answer)

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
