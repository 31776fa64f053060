"""Counts in messages, read right: "1 point", "2 points", "0.5 points", "1 lot"."""

from __future__ import annotations

from decimal import Decimal


def counted(
    count: int | Decimal, singular: str, plural: str | None = None, *, grouped: bool = False
) -> str:
    """`count` and its noun: the singular for exactly one, the plural (`singular` + "s" unless
    given) for any other count, fractions and zero included. `grouped` writes thousands with
    commas ("12,500 points")."""
    number = f"{count:,}" if grouped else str(count)
    noun = singular if count == 1 else (plural or f"{singular}s")
    return f"{number} {noun}"
