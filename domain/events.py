"""The event catalogue: every event the domain emits, declared once, with its payload's fields.

Emitters build these, and `Unit.emit` takes nothing else; consumers read stored events back
into them with `read`, which refuses a type nobody declared. An event's payload is its fields
in camelCase JSON (decimals as exact text, moments in ISO 8601), plus `occurredAt`, the moment
of the operation that emitted it, in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar

from domain import results


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


CATALOGUE: dict[str, type[DomainEvent]] = {}


@dataclass(frozen=True)
class DomainEvent:
    """One kind of event. Every subclass declares its TYPE, and its member."""

    TYPE: ClassVar[str]
    member_id: int

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.TYPE in CATALOGUE:
            raise TypeError(f"event type {cls.TYPE!r} is declared twice")
        CATALOGUE[cls.TYPE] = cls

    def payload(self, occurred_at: datetime) -> dict[str, Any]:
        return {**results.as_data(self, name=_camel), "occurredAt": occurred_at.isoformat()}


class UndeclaredEvent(ValueError):
    pass


def read(type_name: str, payload: dict[str, Any]) -> tuple[DomainEvent, datetime | None]:
    """A stored event as its declared kind, and when it happened."""
    kind = CATALOGUE.get(type_name)
    if kind is None:
        raise UndeclaredEvent(f"no event type {type_name!r} is declared")
    return results.from_data(kind, payload, name=_camel), occurred_at(payload)


def occurred_at(payload: dict[str, Any]) -> datetime | None:
    """When a stored event happened, without reading the rest of it."""
    moment = payload.get("occurredAt")
    return datetime.fromisoformat(moment) if isinstance(moment, str) else None


@dataclass(frozen=True)
class MemberEnrolled(DomainEvent):
    TYPE = "member.enrolled"
    external_id: str
    referred_by: int | None
    source: str


@dataclass(frozen=True)
class PurchasedLine:
    sku: str | None
    category: str | None
    quantity: int
    unit_price: Decimal


@dataclass(frozen=True)
class PurchaseRecorded(DomainEvent):
    TYPE = "purchase.recorded"
    purchase_id: int
    source: str
    order_id: str
    amount: Decimal
    discount: Decimal
    eligible_amount: Decimal
    currency: str
    points: int
    lines: tuple[PurchasedLine, ...]


@dataclass(frozen=True)
class PurchaseRefunded(DomainEvent):
    TYPE = "purchase.refunded"
    purchase_id: int
    order_id: str
    amount: Decimal
    refunded_in_all: Decimal
    points: int
    source: str


@dataclass(frozen=True)
class ReferralRewarded(DomainEvent):
    """The referee's first purchase paid both members; `member_id` is the referee."""

    TYPE = "referral.rewarded"
    referrer_id: int | None
    referee_id: int
    purchase_id: int
    referee_points: int
    referrer_points: int


@dataclass(frozen=True)
class ActionRecorded(DomainEvent):
    TYPE = "action.recorded"
    action: str
    reference: str | None
    points: int
    source: str


@dataclass(frozen=True)
class PointsChanged(DomainEvent):
    TYPE = "points.changed"
    transaction_id: int
    kind: str
    delta: int
    balance: int
    pending: int
    lifetime: int
    debt: int


@dataclass(frozen=True)
class PointsReleased(DomainEvent):
    TYPE = "points.released"
    points: int
    repaid: int
    balance: int
    pending: int


@dataclass(frozen=True)
class PointsExpiring(DomainEvent):
    TYPE = "points.expiring"
    points: int
    expires_at: datetime


@dataclass(frozen=True)
class PointsExpired(DomainEvent):
    TYPE = "points.expired"
    points: int
    transaction_id: int
    expired_at: tuple[datetime, ...]


@dataclass(frozen=True)
class PointsAdjusted(DomainEvent):
    TYPE = "points.adjusted"
    points: int
    reason: str
    source: str


@dataclass(frozen=True)
class RewardRedeemed(DomainEvent):
    TYPE = "reward.redeemed"
    redemption_id: int
    reward: str
    points: int
    source: str


@dataclass(frozen=True)
class RedemptionFulfilled(DomainEvent):
    TYPE = "redemption.fulfilled"
    redemption_id: int
    reward: str
    source: str


@dataclass(frozen=True)
class RedemptionCancelled(DomainEvent):
    TYPE = "redemption.cancelled"
    redemption_id: int
    reward: str
    points: int
    source: str


@dataclass(frozen=True)
class PartnerAccountLinked(DomainEvent):
    TYPE = "partner.account_linked"
    partner: str
    partner_member_id: str
    source: str


class TierChangeReason(StrEnum):
    QUALIFIED = "QUALIFIED"  # activity reached a higher tier's threshold (at once)
    REVIEW = "REVIEW"  # the review found the window below the tier's retain threshold


@dataclass(frozen=True)
class TierChanged(DomainEvent):
    """A member's stored tier changed. `from_tier` is None only when a member who had no tier
    stored (enrolled before tiers were stored) is given its first one; a new member starts at
    the base tier, so its first upgrade is from the base tier's key."""

    TYPE = "tier.changed"
    from_tier: str | None
    to_tier: str
    reason: TierChangeReason


@dataclass(frozen=True)
class BadgeUnlocked(DomainEvent):
    """A member reached a level (1-based) of a badge; `bonus_points` were credited with it."""

    TYPE = "badge.unlocked"
    badge: str
    level: int
    bonus_points: int


@dataclass(frozen=True)
class LeaderboardOptOutSet(DomainEvent):
    """The member asked to be left off the leaderboards (or to be back on them)."""

    TYPE = "member.leaderboard_opt_out"
    opted_out: bool
    source: str
