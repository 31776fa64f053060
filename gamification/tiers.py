"""Where a member stands among the program's tiers: a pure function of qualifying points.

Qualifying points are lifetime earnings that are no longer pending (`MemberView.
qualifying_points`): points a return may yet take back never lift a tier. Qualification windows
(points earned in the last 12 months, say) will narrow that without changing this arithmetic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from domain.program import Tier, tier_index


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
    index = tier_index(points, tiers)
    current = tiers[index]
    following = tiers[index + 1] if index + 1 < len(tiers) else None
    if following is None:
        return TierProgress(current=current, next=None, progress=1.0, points_to_next=None)
    span = following.threshold - current.threshold
    done = points - current.threshold
    return TierProgress(
        current=current,
        next=following,
        progress=min(max(done / span, 0.0), 1.0),
        points_to_next=following.threshold - points,
    )
