"""Badges: from a member's metrics to where it stands on each badge, as pure functions.

A badge counts one metric (its `metric` in the program file):

- `purchases`: purchases recorded for the member, less those refunded in full;
- `spend:<CUR>`: money spent in that currency, whole units, net of refunds (amount paid less
  amount refunded);
- `partners`: distinct partners the member bought from (purchases a partner recorded);
- `points_earned`: lifetime points (earned, less what refunds took back);
- `referrals`: friends it referred whose first purchase paid the referral;
- `redemptions`: rewards redeemed and not cancelled;
- `actions:<KEY>`: times the action was recorded;
- `streak:<key>`: the longest run of that streak (gamification.streaks).

Its levels (like [1, 10, 50]: bronze, silver, gold) are reached when the value reaches them.
Levels once unlocked stay unlocked: a refund that lowers the value later takes no badge back
(gamification.badge_engine stores what was unlocked).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from domain.program import Badge


@dataclass(frozen=True)
class Metrics:
    """What a member has done, as the badges count it."""

    purchases: int = 0
    spend: Mapping[str, int] = field(default_factory=dict)  # whole units, by currency
    partners: int = 0
    points_earned: int = 0
    referrals: int = 0
    redemptions: int = 0
    actions: Mapping[str, int] = field(default_factory=dict)  # by action key
    streaks: Mapping[str, int] = field(default_factory=dict)  # longest, by streak key

    def value(self, metric: str) -> int:
        """The value of a badge's metric; 0 for one nothing was counted for."""
        kind, _, of = metric.partition(":")
        if kind == "actions":
            return self.actions.get(of, 0)
        if kind == "spend":
            return self.spend.get(of, 0)
        if kind == "streak":
            return self.streaks.get(of, 0)
        if kind in _SCALARS:
            return max(int(getattr(self, kind)), 0)
        raise ValueError(f"no metric {metric!r}")


_SCALARS = frozenset({"purchases", "partners", "points_earned", "referrals", "redemptions"})


@dataclass(frozen=True)
class Standing:
    """Where a member stands on one badge."""

    badge: Badge
    current: int  # the metric's value now
    level: int  # levels unlocked, 0 to len(levels)
    target: int  # the next level's threshold; the top one's once all are unlocked
    progress: float  # current / target, at most 1: what a bar showing "12 of 50" fills
    unlocked_at: datetime | None  # when the latest unlocked level was, None before the first


def level_reached(levels: tuple[int, ...], value: int) -> int:
    """How many of the levels (strictly increasing thresholds) the value reaches."""
    return sum(1 for threshold in levels if value >= threshold)


def standing(badge: Badge, value: int, unlocked: Mapping[int, datetime]) -> Standing:
    """The member's standing from the metric's value and the levels it has unlocked (level
    number to when). A level is counted as soon as the value reaches it, even before the badge
    engine has stored it; then `unlocked_at` is that of the last stored level."""
    value = max(value, 0)
    stored = max(unlocked, default=0)
    level = max(level_reached(badge.levels, value), min(stored, len(badge.levels)))
    if level >= len(badge.levels):
        target, progress = badge.levels[-1], 1.0
    else:
        target = badge.levels[level]
        progress = min(value / target, 1.0)
    return Standing(
        badge=badge,
        current=value,
        level=level,
        target=target,
        progress=progress,
        unlocked_at=unlocked[stored] if stored else None,
    )


def visible(badge: Badge, unlocked: Mapping[int, datetime]) -> bool:
    """A hidden badge shows once its first level is unlocked."""
    return not badge.hidden or bool(unlocked)


def newly_reached(badge: Badge, value: int, unlocked: Mapping[int, datetime]) -> list[int]:
    """The levels (1-based) the value reaches that are not unlocked yet, lowest first."""
    return [
        level
        for level in range(1, level_reached(badge.levels, max(value, 0)) + 1)
        if level not in unlocked
    ]
