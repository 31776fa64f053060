"""Partner brands as clients see them: who they are and what converting with them gives."""

from __future__ import annotations

from datetime import datetime

import strawberry

from domain import program
from partners.api_keys import ApiKeyView
from schema import ids
from schema.common import Node, expose_enum

expose_enum(
    program.Direction,
    name="TransferDirection",
    description="Which way points move between the coalition and a partner's own currency.",
    meanings={
        program.Direction.IN: "Partner currency in, coalition points out to the member.",
        program.Direction.OUT: "Coalition points out, partner currency to the member.",
    },
)


@strawberry.type(description="A partner brand of the coalition. Public: anyone may read it.")
class Partner(Node):
    key: str = strawberry.field(description="The partner's key in the program file.")
    name: str = strawberry.field(description="Its name, in the caller's language.")
    currency: str = strawberry.field(
        description="The name of its own currency (miles, beans...), which transfers convert."
    )

    @classmethod
    def of(cls, partner: program.Partner, language: str | None) -> Partner:
        return cls(
            id=strawberry.ID(ids.global_id("Partner", partner.key)),
            key=partner.key,
            name=partner.name.get(language),
            currency=partner.currency,
        )


@strawberry.type(description="What a transfer would do now, at the rate in force.")
class ConversionQuote:
    partner: Partner = strawberry.field(description="The partner converted with.")
    direction: program.Direction = strawberry.field(description="Which way.")
    amount: int = strawberry.field(description="Offered, in the source currency's units.")
    points: int = strawberry.field(description="Coalition points that leave (OUT) or arrive (IN).")
    partner_amount: int = strawberry.field(
        description="Partner units that arrive (OUT) or leave (IN); what fills no whole block "
        "stays where it was."
    )
    rate: str = strawberry.field(
        description="The rate in words (blocks, fee), for showing; not for computing."
    )


@strawberry.type(
    description="A partner's API key as the operator sees it: never the key itself, which is "
    "shown once, when it is created."
)
class PartnerApiKey(Node):
    prefix: str = strawberry.field(
        description="The key's first characters, to tell keys apart (cpk_ and six more)."
    )
    created_at: datetime = strawberry.field(description="When the key was issued.")
    last_used_at: datetime | None = strawberry.field(
        description="When a request last used it, to within 30 seconds; null if never."
    )
    revoked_at: datetime | None = strawberry.field(
        description="When it was revoked, after which it gets 401; null while it works."
    )
    partner: Partner = strawberry.field(description="Whose key it is.")

    @classmethod
    def of(cls, key: ApiKeyView, partner: Partner) -> PartnerApiKey:
        return cls(
            id=strawberry.ID(ids.global_id("PartnerApiKey", key.id)),
            prefix=key.prefix,
            created_at=key.created_at,
            last_used_at=key.last_used_at,
            revoked_at=key.revoked_at,
            partner=partner,
        )
