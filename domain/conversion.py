"""Converting between coalition points and a partner's currency, at its published rates.

Rates are direction-specific and dated: the one in force is the latest that has taken effect.
They convert in whole blocks (`points` for `partner_units`); what does not fill a block stays
where it was. A fee, in percent, is taken from what arrives, rounded down.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal

from domain.errors import DomainError, ErrorCode, InvalidInput
from domain.program import MAX_POINTS, ConversionRate, Direction, Partner
from domain.words import counted


@dataclass(frozen=True)
class Quote:
    direction: Direction
    amount: int  # offered, in the source currency's units
    points: int  # coalition points that leave (OUT) or arrive (IN)
    partner_amount: int  # partner units that arrive (OUT) or leave (IN)
    rate: ConversionRate
    currency: str

    @property
    def description(self) -> str:
        fee = f", less {self.rate.fee_percent}% fee" if self.rate.fee_percent else ""
        return (
            f"{counted(self.rate.points, 'point')} = {self.rate.partner_units} {self.currency}{fee}"
        )


def _after_fee(gross: int, rate: ConversionRate) -> int:
    kept = Decimal(gross) * (100 - rate.fee_percent) / 100
    return int(kept.to_integral_value(rounding=ROUND_FLOOR))


def quote(partner: Partner, direction: Direction, amount: int, at: datetime) -> Quote:
    rate = partner.rate(direction, at)
    if rate is None:
        raise DomainError(
            ErrorCode.NOT_ELIGIBLE,
            f"{partner.name.get()} has no {direction.value} rate in force.",
            "direction",
        )
    if isinstance(amount, bool) or not 1 <= amount <= MAX_POINTS:
        raise InvalidInput("amount", f"amount must be a whole number from 1 to {MAX_POINTS}.")
    block = rate.partner_units if direction is Direction.IN else rate.points
    blocks = amount // block
    if blocks < rate.minimum_blocks:
        least = rate.minimum_blocks * block
        at_least = (
            f"{least} {partner.currency}" if direction is Direction.IN else counted(least, "point")
        )
        raise DomainError(
            ErrorCode.LIMIT_EXCEEDED,
            f"Convert at least {at_least}, in blocks of {block}.",
            "amount",
        )
    if direction is Direction.IN:
        points = _after_fee(blocks * rate.points, rate)
        partner_amount = blocks * rate.partner_units
        delivered = points
    else:
        points = blocks * rate.points
        partner_amount = _after_fee(blocks * rate.partner_units, rate)
        delivered = partner_amount
    if delivered == 0:
        raise DomainError(
            ErrorCode.LIMIT_EXCEEDED,
            "After the fee, this amount would deliver nothing; convert more.",
            "amount",
        )
    return Quote(direction, amount, points, partner_amount, rate, partner.currency)
