"""The surprise bonus, the pure part: the draw.

A draw is HMAC-SHA256(seed, "<surprise key>:<event id>"), its 256 bits read as a whole number
n and mapped exactly to the fraction n / 2**256 in [0, 1); it wins when that fraction is below
the surprise's chance (a decimal, compared exactly, no floats). Anyone holding the seed can
draw again and get the same outcome; without it, nobody can tell which event ids win. The key
is part of the message, so two surprises on the same event draw independently.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

SCALE = 2**256


@dataclass(frozen=True)
class Draw:
    surprise: str
    event_id: int
    digest: str  # the HMAC, in hex: the draw's record
    chance: Decimal

    @property
    def roll(self) -> Fraction:
        """The draw as an exact fraction in [0, 1)."""
        return Fraction(int(self.digest, 16), SCALE)

    @property
    def wins(self) -> bool:
        return self.roll < Fraction(self.chance)


def draw(seed: bytes, surprise: str, event_id: int, chance: Decimal) -> Draw:
    if not seed:
        raise ValueError("a surprise's seed must not be empty")
    message = f"{surprise}:{event_id}".encode()
    digest = hmac.new(seed, message, hashlib.sha256).hexdigest()
    return Draw(surprise=surprise, event_id=event_id, digest=digest, chance=chance)
