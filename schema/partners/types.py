"""Partner brands as clients see them: who they are and what converting with them gives."""

from __future__ import annotations

import strawberry

from domain import program
from schema import ids
from schema.common import Node

strawberry.enum(program.Direction, name="TransferDirection")


@strawberry.type
class Partner(Node):
    key: str
    name: str
    currency: str

    @classmethod
    def of(cls, partner: program.Partner, language: str | None) -> Partner:
        return cls(
            id=strawberry.ID(ids.global_id("Partner", partner.key)),
            key=partner.key,
            name=partner.name.get(language),
            currency=partner.currency,
        )


@strawberry.type
class ConversionQuote:
    partner: Partner
    direction: program.Direction
    amount: int = strawberry.field(description="Offered, in the source currency's units.")
    points: int = strawberry.field(description="Coalition points that leave (OUT) or arrive (IN).")
    partner_amount: int = strawberry.field(
        description="Partner units that arrive (OUT) or leave (IN); what fills no whole block "
        "stays where it was."
    )
    rate: str
