"""The program: what earns points, what they buy, tiers, campaigns and partners.

These frozen dataclasses are what the services compute with. The operator writes them as one
TOML file, which `domain.program_file` reads and validates.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

MAX_POINTS = 1_000_000_000


@dataclass(frozen=True)
class Text:
    """A name or description, in one or more languages; the first one given is the fallback."""

    translations: Mapping[str, str]

    def get(self, language: str | None = None) -> str:
        if language and language in self.translations:
            return self.translations[language]
        return next(iter(self.translations.values()))


@dataclass(frozen=True)
class Expiry:
    """When a lot of points expires: `days` after it is credited (at the end of that local
    day), at the end of the year `years_after` the year it was credited, or never."""

    days: int | None = None
    end_of_year: int | None = None

    def expires_at(self, credited: datetime, zone: ZoneInfo) -> datetime | None:
        local = credited.astimezone(zone).date()
        if self.days is not None:
            last_day = local + timedelta(days=self.days)
        elif self.end_of_year is not None:
            last_day = date(local.year + self.end_of_year, 12, 31)
        else:
            return None
        return datetime.combine(last_day + timedelta(days=1), time(), zone).astimezone(UTC)


NEVER = Expiry()


@dataclass(frozen=True)
class Selector:
    """Which purchase lines a rule looks at; empty means the whole purchase."""

    skus: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()
    # Worked out once: the earning engine asks for every line under every rule.
    everything: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "everything", not self.skus and not self.categories)

    def matches(self, sku: str | None, category: str | None) -> bool:
        return self.everything or sku in self.skus or category in self.categories


class RuleKind(StrEnum):
    MULTIPLIER = "multiplier"  # extra points on matching lines: (multiplier - 1) x base
    EXCLUDE = "exclude"  # matching lines earn nothing (gift cards, deposits...)
    PER_PRODUCT = "per_product"  # fixed points per unit of a matching product
    MINIMUM_ORDER = "minimum_order"  # below this eligible amount the purchase earns nothing
    SPEND_THRESHOLD = "spend_threshold"  # fixed bonus once the eligible amount reaches a level


# A per-product rule pays for at most this many units of one purchase unless it says otherwise:
# a till that sends "OWN-CUP x 1000000" earns for ten cups, not for a million.
DEFAULT_MAX_UNITS = 10


@dataclass(frozen=True)
class PurchaseRule:
    key: str
    name: Text
    kind: RuleKind
    selector: Selector = Selector()
    multiplier: Decimal | None = None
    points: int | None = None
    amounts: Mapping[str, Decimal] = field(default_factory=dict)  # by currency
    max_units: int = DEFAULT_MAX_UNITS  # per_product: the units of one purchase it pays for


class CampaignKind(StrEnum):
    MULTIPLIER = "multiplier"  # e.g. double points on a weekend
    BONUS = "bonus"  # fixed points on every qualifying purchase
    FIRST_PURCHASE_OF_MONTH = "first_purchase_of_month"  # fixed points, once a calendar month


@dataclass(frozen=True)
class Campaign:
    key: str
    name: Text
    kind: CampaignKind
    starts: datetime
    ends: datetime  # exclusive
    multiplier: Decimal | None = None
    points: int | None = None
    selector: Selector = Selector()
    tiers: frozenset[str] = frozenset()
    partners: frozenset[str] = frozenset()
    budget: int | None = None  # points the campaign may give, in all

    def runs_at(self, moment: datetime) -> bool:
        return self.starts <= moment < self.ends


class Period(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"
    LIFETIME = "lifetime"

    def start(self, moment: datetime, zone: ZoneInfo) -> datetime | None:
        """Where the calendar period holding `moment` began, in the program's time zone."""
        local = moment.astimezone(zone).date()
        if self is Period.DAY:
            first = local
        elif self is Period.WEEK:
            first = local - timedelta(days=local.weekday())  # ISO weeks start on Monday
        elif self is Period.MONTH:
            first = local.replace(day=1)
        elif self is Period.YEAR:
            first = local.replace(month=1, day=1)
        else:
            return None
        return datetime.combine(first, time(), zone).astimezone(UTC)


@dataclass(frozen=True)
class Cap:
    count: int
    period: Period

    @property
    def per(self) -> str:
        """The period as a sentence ends with it: "per day", "in all"."""
        return "in all" if self.period is Period.LIFETIME else f"per {self.period.value}"


@dataclass(frozen=True)
class Action:
    key: str
    name: Text
    points: int
    caps: tuple[Cap, ...] = ()
    cooldown: timedelta | None = None
    pending_days: int = 0
    expiry: Expiry | None = None  # None: the program's
    description: Text | None = None  # what to do, for members


@dataclass(frozen=True)
class Referral:
    referrer_points: int
    referee_points: int
    minimum: Mapping[str, Decimal] = field(default_factory=dict)  # first purchase, by currency
    max_per_referrer: int | None = None


@dataclass(frozen=True)
class Tier:
    key: str
    name: Text
    threshold: int  # the qualifying amount that reaches it
    benefits: tuple[Text, ...]
    retain: int | None = None  # the amount that keeps it at a review; None: the threshold
    multiplier: Decimal = Decimal(1)  # on what its members earn (1: nothing more)

    @property
    def keep(self) -> int:
        """What a review wants to see in the window for a member to keep this tier."""
        return self.threshold if self.retain is None else self.retain


class QualifyOn(StrEnum):
    POINTS = "points"  # points earned (lifetime-counting, once released)
    SPEND = "spend"  # money spent on goods, in whole units of `TierRules.spend_currency`


class TierWindow(StrEnum):
    LIFETIME = "lifetime"  # everything since enrolling; reviewed on the 1st of each month
    CALENDAR_YEAR = "calendar_year"  # this calendar year; reviewed each 1 January
    ROLLING_12_MONTHS = "rolling_12_months"  # the 12 months up to the next monthly review


class Downgrade(StrEnum):
    ONE_TIER = "one_tier"  # at most one tier down per review
    TO_BASE = "to_base"  # down to what the window qualifies for, the base tier at worst


@dataclass(frozen=True)
class TierRules:
    """How members reach and keep tiers. The defaults are lifetime points, one tier at a time."""

    qualify_on: QualifyOn = QualifyOn.POINTS
    window: TierWindow = TierWindow.LIFETIME
    downgrade: Downgrade = Downgrade.ONE_TIER
    spend_currency: str | None = None  # with qualify_on = spend: the currency counted

    @property
    def from_account(self) -> bool:
        """Lifetime points are the wallet's own figures: no activity needs summing."""
        return self.qualify_on is QualifyOn.POINTS and self.window is TierWindow.LIFETIME


@dataclass(frozen=True)
class Reward:
    key: str
    name: Text
    description: Text | None
    points_cost: int
    stock: int | None
    partner: str | None
    limit: Cap | None = None  # per member
    min_tier: str | None = None


class Direction(StrEnum):
    IN = "IN"  # partner currency into coalition points
    OUT = "OUT"  # coalition points out to the partner's currency


@dataclass(frozen=True)
class ConversionRate:
    """`points` coalition points for `partner_units` of the partner's currency, moved in whole
    blocks of that size, with a fee in percent taken from what arrives."""

    direction: Direction
    points: int
    partner_units: int
    effective_from: datetime
    fee_percent: Decimal = Decimal(0)
    minimum_blocks: int = 1


@dataclass(frozen=True)
class Partner:
    key: str
    name: Text
    currency: str
    rates: tuple[ConversionRate, ...] = ()
    # Its return window: points for purchases it records wait this long (else the program's).
    pending_days: int | None = None

    def rate(self, direction: Direction, at: datetime) -> ConversionRate | None:
        """The rate in force at `at`: the latest one that had taken effect."""
        current = [r for r in self.rates if r.direction is direction and r.effective_from <= at]
        return max(current, key=lambda r: r.effective_from) if current else None


@dataclass(frozen=True)
class Badge:
    """Levels of one achievement over a metric (gamification.badges says how each metric is
    counted): `levels` like (1, 10, 50) are its bronze, silver and gold."""

    key: str
    name: Text
    description: Text | None
    metric: str
    levels: tuple[int, ...]
    # Listed to a member only once it has unlocked the first level, and never in the catalog.
    hidden: bool = False
    # Points given on unlocking each level, one per level; empty for none.
    bonus: tuple[int, ...] = ()

    def bonus_for(self, level: int) -> int:
        """The points unlocking `level` (1-based) gives."""
        return self.bonus[level - 1] if self.bonus else 0


class StreakPeriod(StrEnum):
    DAY = "day"
    WEEK = "week"  # ISO weeks, Monday to Sunday


@dataclass(frozen=True)
class Streak:
    """Consecutive days or weeks, in the program's time zone, with a qualifying activity
    (`purchases`, or `actions:<KEY>`); `grace` missed periods in a streak do not break it
    (gamification.streaks defines it exactly)."""

    key: str
    name: Text
    description: Text | None
    period: StreakPeriod
    activity: str
    grace: int = 0


class BoardPeriod(StrEnum):
    ALL_TIME = "ALL_TIME"
    WEEK = "WEEK"
    MONTH = "MONTH"


@dataclass(frozen=True)
class Leaderboard:
    """A ranking of members by a metric, kept for each of its periods."""

    key: str
    name: Text
    metric: str
    periods: tuple[BoardPeriod, ...]
    # Kept for one partner's dealings only (its purchases, the points they earned).
    partner: str | None = None


@dataclass(frozen=True)
class Program:
    name: Text
    timezone: str
    languages: tuple[str, ...]
    purchase_rates: Mapping[str, Decimal]
    expiry: Expiry
    actions: Mapping[str, Action]
    tiers: tuple[Tier, ...]
    rewards: Mapping[str, Reward]
    partners: Mapping[str, Partner]
    digest: str
    source: str = field(repr=False)
    purchase_rules: tuple[PurchaseRule, ...] = ()
    campaigns: tuple[Campaign, ...] = ()
    purchase_pending_days: int = 0
    reminder_days: int | None = None
    referral: Referral | None = None
    signup_points: int | None = None
    birthday_points: int | None = None
    badges: tuple[Badge, ...] = ()
    streaks: tuple[Streak, ...] = ()
    leaderboards: tuple[Leaderboard, ...] = ()
    # How the ledger's phrases are said, by phrase (domain.wording.PHRASES); the others are said
    # in English.
    wording: Mapping[str, Text] = field(default_factory=dict)
    # Set once the program is applied: the version every transaction records.
    version: int | None = None
    tier_rules: TierRules = TierRules()

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def tier_for(self, qualifying_points: int) -> Tier:
        return self.tiers[tier_index(qualifying_points, self.tiers)]

    def tier(self, key: str) -> Tier | None:
        return next((tier for tier in self.tiers if tier.key == key), None)

    def tier_rank(self, key: str) -> int:
        return next(index for index, tier in enumerate(self.tiers) if tier.key == key)


def tier_index(qualifying_points: int, tiers: Sequence[Tier]) -> int:
    """The position of the highest tier whose threshold the points reach (the first at least)."""
    index = 0
    for position, tier in enumerate(tiers):
        if qualifying_points >= tier.threshold:
            index = position
    return index


def birthday_in(year: int, birthday: date) -> date:
    """The day a birthday is celebrated in `year`: 29 February falls on the 28th otherwise."""
    if birthday.month == 2 and birthday.day == 29 and not calendar.isleap(year):
        return date(year, 2, 28)
    return birthday.replace(year=year)
