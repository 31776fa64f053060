"""Where a member's qualifying amount alone would put it among the program's tiers.

A member's tier itself is stored (domain.tiers): raised at once by activity, lowered only by
a review. This is the arithmetic of the threshold alone, as `domain.tier_rules.standing` does
it for a stored tier: a tier reached, the next, and how far along.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from domain.program import Tier, tier_index
from domain.tier_rules import standing


@dataclass(frozen=True)
class TierProgress:
    current: Tier
    next: Tier | None
    progress: float  # 0..1 of the way from the current tier's threshold to the next one's
    points_to_next: int | None


def tier_progress(qualifying_points: int, tiers: Sequence[Tier]) -> TierProgress:
    if not tiers:
        raise ValueError("a program has at least one tier")
    points = max(qualifying_points, 0)
    found = standing(tier_index(points, tiers), points, tiers)
    return TierProgress(found.current, found.next, found.progress, found.to_next)
