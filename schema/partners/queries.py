"""The partners, and what converting with each would give."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from domain import conversion
from domain.errors import NotFound
from domain.program import Direction
from partners import api_keys
from schema import ids
from schema.authorization import require_operator
from schema.context import Context
from schema.partners.types import ConversionQuote, Partner, PartnerApiKey


@strawberry.type
class PartnerQueries:
    @strawberry.field(description="The coalition's partners, in the program file's order. Public.")
    def partners(self, info: Info[Context, None]) -> list[Partner]:
        ctx = info.context
        return [Partner.of(p, ctx.language) for p in ctx.program.partners.values()]

    @strawberry.field(
        description="What converting amount (in the source currency) would give now. Public."
    )
    def conversion_quote(
        self,
        info: Info[Context, None],
        partner_id: Annotated[strawberry.ID, strawberry.argument(description="A Partner id.")],
        direction: Annotated[Direction, strawberry.argument(description="Which way.")],
        amount: Annotated[
            int,
            strawberry.argument(
                description="Whole units of the source currency: partner units for IN, "
                "points for OUT."
            ),
        ],
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

    @strawberry.field(
        description="The partner's API keys, newest first, revoked ones included (the "
        "operator only). Rotating a key is createPartnerApiKey, then revokePartnerApiKey."
    )
    async def partner_api_keys(
        self,
        info: Info[Context, None],
        partner_id: Annotated[strawberry.ID, strawberry.argument(description="A Partner id.")],
    ) -> list[PartnerApiKey]:
        ctx = info.context
        require_operator(ctx, "list API keys")
        key = ids.key_of(partner_id, "Partner", "partnerId")
        partner = ctx.program.partners.get(key)
        if partner is None:
            raise NotFound("Partner", "partnerId")
        shown = Partner.of(partner, ctx.language)
        return [PartnerApiKey.of(k, shown) for k in await api_keys.listed(key)]
