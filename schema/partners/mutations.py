"""The operator's hold on partners' API keys, and partners vouching for their members."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from domain.errors import NotFound
from partners import api_keys, links
from schema import ids
from schema.authorization import Operation, acting_on
from schema.common import EXTERNAL_ID, MEMBER_ID, USER_ERRORS, UserError
from schema.context import Context
from schema.members.types import Member
from schema.mutating import mutate
from schema.partners.types import Partner, PartnerApiKey


@strawberry.input(description="Whose API key to issue.")
class CreatePartnerApiKeyInput:
    partner_id: strawberry.ID = strawberry.field(description="The Partner's global id.")


@strawberry.type(description="What createPartnerApiKey did.")
class CreatePartnerApiKeyPayload:
    api_key: str | None = strawberry.field(
        default=None, description="Shown this once; only a digest is kept."
    )
    partner: Partner | None = strawberry.field(default=None, description="Whose key it is.")
    partner_api_key: PartnerApiKey | None = strawberry.field(
        default=None, description="The new key as listed, with the id that revokes it."
    )
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS)


@strawberry.input(description="The API key to revoke.")
class RevokePartnerApiKeyInput:
    id: strawberry.ID = strawberry.field(description="The PartnerApiKey to revoke.")


@strawberry.type(description="What revokePartnerApiKey did.")
class RevokePartnerApiKeyPayload:
    partner_api_key: PartnerApiKey | None = strawberry.field(
        default=None, description="The key, with when it was revoked."
    )
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS)


@strawberry.input(description="A member's account at a partner, which the partner vouches for.")
class LinkPartnerAccountInput:
    member_id: strawberry.ID | None = strawberry.field(default=None, description=MEMBER_ID)
    external_id: str | None = strawberry.field(default=None, description=EXTERNAL_ID)
    partner_id: strawberry.ID = strawberry.field(
        description="The Partner's global id: a partner links only its own accounts."
    )
    partner_member_id: str = strawberry.field(
        description="The member's id at the partner (1 to 128 characters, no spaces)."
    )


@strawberry.type(description="What linkPartnerAccount did.")
class LinkPartnerAccountPayload:
    member: Member | None = strawberry.field(default=None, description="The member linked.")
    partner: Partner | None = strawberry.field(default=None, description="The partner.")
    partner_member_id: str | None = strawberry.field(
        default=None, description="The member's id at the partner, as linked."
    )
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS)


@strawberry.type
class PartnerMutations:
    @strawberry.mutation(
        description=Operation.CREATE_PARTNER_API_KEY.describe(
            "Issues a partner an API key, shown this once. A partner may hold several: "
            "rotating is creating a new one, then revoking the old."
        )
    )
    async def create_partner_api_key(
        self,
        info: Info[Context, None],
        input: Annotated[CreatePartnerApiKeyInput, strawberry.argument(description="Whose key.")],
    ) -> CreatePartnerApiKeyPayload:
        async def work(ctx: Context) -> tuple[str, api_keys.ApiKeyView]:
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

        return await mutate(
            info, Operation.CREATE_PARTNER_API_KEY, CreatePartnerApiKeyPayload, work, answer
        )

    @strawberry.mutation(
        description=Operation.REVOKE_PARTNER_API_KEY.describe(
            "Revokes a partner's API key: it gets 401 from the next request on in the worker "
            "that revoked it, and within 250 ms (COALITION_KEY_REVOCATION_MS) in every other. "
            "Revoking it again changes nothing."
        )
    )
    async def revoke_partner_api_key(
        self,
        info: Info[Context, None],
        input: Annotated[RevokePartnerApiKeyInput, strawberry.argument(description="Which key.")],
    ) -> RevokePartnerApiKeyPayload:
        async def work(ctx: Context) -> api_keys.ApiKeyView:
            key_id = ids.int_key_of(input.id, "PartnerApiKey", "id")
            return await ctx.keys.revoke(key_id, now=ctx.clock.now())

        def answer(ctx: Context, done: api_keys.ApiKeyView) -> RevokePartnerApiKeyPayload:
            partner = ctx.program.partners.get(done.partner_key)
            if partner is None:  # a partner the program no longer has
                return RevokePartnerApiKeyPayload(user_errors=[])
            shown = PartnerApiKey.of(done, Partner.of(partner, ctx.language))
            return RevokePartnerApiKeyPayload(partner_api_key=shown, user_errors=[])

        return await mutate(
            info, Operation.REVOKE_PARTNER_API_KEY, RevokePartnerApiKeyPayload, work, answer
        )

    @strawberry.mutation(
        description=Operation.LINK_PARTNER_ACCOUNT.describe(
            "A partner vouches that partnerMemberId is this member at its end. Linking again "
            "is harmless; an account linked to another member is DUPLICATE."
        )
    )
    async def link_partner_account(
        self,
        info: Info[Context, None],
        input: Annotated[LinkPartnerAccountInput, strawberry.argument(description="The link.")],
    ) -> LinkPartnerAccountPayload:
        async def work(ctx: Context) -> links.Linked:
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
            Operation.LINK_PARTNER_ACCOUNT,
            LinkPartnerAccountPayload,
            work,
            lambda ctx, done: LinkPartnerAccountPayload(
                member=Member.of(done.member),
                partner=Partner.of(ctx.program.partners[done.partner_key], ctx.language),
                partner_member_id=done.partner_member_id,
                user_errors=[],
            ),
        )
