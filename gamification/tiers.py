"""Where a member stands among the program's tiers: a pure function of qualifying points.

Qualifying points are lifetime earnings for now; qualification windows (points earned in the
last 12 months, say) will narrow that without changing this arithmetic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from domain.program import Tier


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
    current = tiers[0]
    following: Tier | None = None
    for index, tier in enumerate(tiers):
        if points >= tier.threshold:
            current = tier
            following = tiers[index + 1] if index + 1 < len(tiers) else None
    if following is None:
        return TierProgress(current=current, next=None, progress=1.0, points_to_next=None)
    span = following.threshold - current.threshold
    done = points - current.threshold
    return TierProgress(
        current=current,
        next=following,
        progress=done / span,
        points_to_next=following.threshold - points,
    )
