"""Tier arithmetic: qualification windows, upgrades and reviews, as pure functions.

What always holds:
- A window is the stretch of time whose qualifying amount a review looks at, and it ends at
  that review: `window_at(moment).start <= moment < window_at(moment).review_at`.
- Reviews happen at edges in the program's time zone: the 1st of each month at midnight for
  the lifetime and rolling windows, 1 January at midnight for the calendar year.
- An upgrade never lowers a tier; a review lowers one only when the window's amount is below
  the tier's `keep` (its retain threshold), and then by exactly one tier (`one_tier`) or to
  what the amount still reaches by threshold (`to_base`: the base tier at worst).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from domain.program import Downgrade, Tier, TierRules, TierWindow, tier_index

_JUST_BEFORE = timedelta(microseconds=1)


@dataclass(frozen=True)
class Window:
    start: datetime | None  # None: since the beginning (lifetime)
    review_at: datetime  # the next review, which judges this window; it ends here


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), zone).astimezone(UTC)


def _next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def window_at(rules: TierRules, zone: ZoneInfo, moment: datetime) -> Window:
    """The window `moment` falls in, and the review that closes it."""
    today = moment.astimezone(zone).date()
    if rules.window is TierWindow.CALENDAR_YEAR:
        return Window(
            start=_midnight(date(today.year, 1, 1), zone),
            review_at=_midnight(date(today.year + 1, 1, 1), zone),
        )
    review = _next_month(today)
    if rules.window is TierWindow.ROLLING_12_MONTHS:
        return Window(
            start=_midnight(review.replace(year=review.year - 1), zone),
            review_at=_midnight(review, zone),
        )
    return Window(start=None, review_at=_midnight(review, zone))


def last_review(rules: TierRules, zone: ZoneInfo, moment: datetime) -> datetime:
    """The latest review edge at or before `moment`."""
    today = moment.astimezone(zone).date()
    if rules.window is TierWindow.CALENDAR_YEAR:
        return _midnight(date(today.year, 1, 1), zone)
    return _midnight(today.replace(day=1), zone)


def reviewed_window(rules: TierRules, zone: ZoneInfo, edge: datetime) -> Window:
    """The window the review at `edge` judges: the one that ends there."""
    return window_at(rules, zone, edge - _JUST_BEFORE)


def position(tiers: Sequence[Tier], key: str | None) -> int:
    """Where a stored tier stands; a tier the program no longer has counts as the base."""
    return next((index for index, tier in enumerate(tiers) if tier.key == key), 0)


def upgraded(current: int, amount: int, tiers: Sequence[Tier]) -> int:
    """The tier after activity: the highest whose threshold the amount reaches, never lower."""
    return max(current, tier_index(amount, tiers))


def reviewed(current: int, amount: int, tiers: Sequence[Tier], downgrade: Downgrade) -> int:
    """The tier after a review of a window whose qualifying amount is `amount`."""
    reached = tier_index(amount, tiers)
    if amount >= tiers[current].keep:
        return max(current, reached)
    if downgrade is Downgrade.ONE_TIER:
        return max(current - 1, 0)
    return min(reached, max(current - 1, 0))


@dataclass(frozen=True)
class Standing:
    """Where a member stands: its stored tier, and what the window says about the next."""

    current: Tier
    next: Tier | None
    amount: int  # the window's qualifying amount so far
    progress: float  # 0..1 of the way from the current tier's threshold to the next one's
    to_next: int | None  # still to qualify for the next tier; None at the top
    retain_by: int  # still needed in this window to keep the current tier at the review


def standing(current: int, amount: int, tiers: Sequence[Tier]) -> Standing:
    if not tiers:
        raise ValueError("a program has at least one tier")
    amount = max(amount, 0)
    tier = tiers[current]
    retain_by = max(tier.keep - amount, 0)
    following = tiers[current + 1] if current + 1 < len(tiers) else None
    if following is None:
        return Standing(tier, None, amount, 1.0, None, retain_by)
    span = following.threshold - tier.threshold
    done = amount - tier.threshold
    return Standing(
        current=tier,
        next=following,
        amount=amount,
        progress=min(max(done / span, 0.0), 1.0) if span > 0 else 1.0,
        to_next=max(following.threshold - amount, 0),
        retain_by=retain_by,
    )
