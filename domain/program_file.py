"""Reading the program file: TOML in, a `Program` out, or every mistake with its location.

`load_program` never lets a traceback through: a problem reads like
`purchase_rules[3].multiplier: must be greater than 0 and at most 100`. The format is
described, section by section, in deploy/program-file.md; app/demo_program.toml uses all of it.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import re
import string
import tomllib
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from domain.program import (
    DEFAULT_MAX_UNITS,
    MAX_POINTS,
    NEVER,
    Action,
    Badge,
    BoardPeriod,
    Campaign,
    CampaignKind,
    Cap,
    ConversionRate,
    Direction,
    Downgrade,
    Expiry,
    Leaderboard,
    Partner,
    Period,
    Program,
    PurchaseRule,
    QualifyOn,
    Referral,
    Reward,
    RuleKind,
    Selector,
    Streak,
    StreakPeriod,
    Text,
    Tier,
    TierRules,
    TierWindow,
)
from domain.wording import PHRASES, placeholders

CURRENCY_CODE = re.compile(r"[A-Z]{3}")
ACTION_KEY = re.compile(r"[A-Z][A-Z0-9_]{1,63}")
ENTITY_KEY = re.compile(r"[a-z][a-z0-9_-]{0,63}")
PARTNER_CURRENCY = re.compile(r"[A-Z][A-Z0-9]{1,9}")
LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Z]{2})?")
LINE_KEY = re.compile(r"[^\s\x00-\x1f\x7f]{1,100}")
BADGE_METRIC = re.compile(
    r"purchases|points_earned|referrals|redemptions|actions:[A-Z][A-Z0-9_]{1,63}"
)
# A badge counts what a leaderboard can rank, and also money spent in one currency, the distinct
# partners dealt with, and the longest run of one of the program's streaks.
BADGE_ONLY_METRIC = re.compile(
    rf"{BADGE_METRIC.pattern}|spend:[A-Z]{{3}}|partners|streak:{ENTITY_KEY.pattern}"
)
STREAK_ACTIVITY = re.compile(r"purchases|actions:[A-Z][A-Z0-9_]{1,63}")
# What a board kept for one partner can rank: its dealings carry the partner.
PARTNER_BOARD_METRICS = ("points_earned", "purchases")
# Digits, with at most six after the point: no exponents, underscores or spaces.
_PLAIN_DECIMAL = re.compile(r"-?[0-9]{1,12}(\.[0-9]{1,6})?")

MAX_RATE = Decimal(10_000)
MAX_MULTIPLIER = Decimal(100)
MAX_AMOUNT = Decimal(10**12)
MAX_DAYS = 36_500
MAX_STREAK_GRACE = 30

T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)

# The settings each kind of rule and campaign takes, beyond key, name and kind.
RULE_SETTINGS = {
    RuleKind.MULTIPLIER: {"multiplier", "skus", "categories"},
    RuleKind.EXCLUDE: {"skus", "categories"},
    RuleKind.PER_PRODUCT: {"points", "skus", "categories", "max_units"},
    RuleKind.MINIMUM_ORDER: {"amounts"},
    RuleKind.SPEND_THRESHOLD: {"points", "amounts"},
}
CAMPAIGN_SETTINGS = {
    CampaignKind.MULTIPLIER: {"multiplier", "skus", "categories"},
    CampaignKind.BONUS: {"points", "skus", "categories"},
    CampaignKind.FIRST_PURCHASE_OF_MONTH: {"points"},
}
_RULE_KEYS = {"multiplier", "points", "amounts", "skus", "categories", "max_units"}
_CAMPAIGN_KEYS = {"multiplier", "points", "skus", "categories"}

TOP_LEVEL = {
    "program",
    "points",
    "purchases",
    "purchase_rules",
    "campaigns",
    "actions",
    "referral",
    "signup",
    "birthday",
    "tiers",
    "tier_rules",
    "rewards",
    "partners",
    "badges",
    "leaderboards",
    "wording",
    "streaks",
}


@dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ProgramInvalid(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def load_program(source: str) -> Program:
    try:
        document = tomllib.loads(source)
    except tomllib.TOMLDecodeError as error:
        raise ProgramInvalid([Problem("", f"not valid TOML: {error}")]) from None
    reader = _Reader()
    program = _read_program(reader, document, source)
    if reader.problems or program is None:
        raise ProgramInvalid(reader.problems)
    return program


@functools.cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _read_program(r: _Reader, doc: dict[str, Any], source: str) -> Program | None:
    r.only_keys(doc, "", TOP_LEVEL)
    head = r.table(doc, "program", required=True)
    name = r.text(head, "program.name", required=True)
    timezone = r.string(head, "program.timezone", default="UTC")
    if timezone is not None and timezone not in _time_zones():
        r.problem("program.timezone", f"unknown time zone {timezone!r}")
        timezone = None
    r.zone = ZoneInfo(timezone or "UTC")
    languages = r.string_list(head, "program.languages", pattern=LANGUAGE) or ("en",)
    r.only_keys(head, "program", {"name", "timezone", "languages"})

    points = r.table(doc, "points")
    expiry = r.expiry(points, "points.expiry") or NEVER
    reminder_days = r.integer(points, "points.reminder_days", low=1, high=365)
    r.only_keys(points, "points", {"expiry", "reminder_days"})

    purchases = r.table(doc, "purchases", required=True)
    rates = _read_rates(r, purchases)
    pending_days = r.integer(purchases, "purchases.pending_days", low=0, high=365) or 0
    r.only_keys(purchases, "purchases", {"rates", "pending_days"})
    r.currencies = frozenset(rates)

    actions = {a.key: a for _, a in r.keyed_list(doc, "actions", ACTION_KEY, _read_action)}
    tiers = _read_tiers(r, doc)
    tier_rules = _read_tier_rules(r, doc)
    r.tier_keys = frozenset(t.key for t in tiers)
    partners = {p.key: p for _, p in r.keyed_list(doc, "partners", ENTITY_KEY, _read_partner)}
    r.partner_keys = frozenset(partners)
    rewards = {}
    for index, reward in r.keyed_list(doc, "rewards", ENTITY_KEY, _read_reward):
        rewards[reward.key] = reward
        if reward.partner is not None and reward.partner not in partners:
            r.problem(f"rewards[{index}].partner", f"no partner has the key {reward.partner!r}")
    rules = r.keyed_list(doc, "purchase_rules", ENTITY_KEY, _read_rule)
    campaigns = r.keyed_list(doc, "campaigns", ENTITY_KEY, _read_campaign)
    streaks = r.keyed_list(doc, "streaks", ENTITY_KEY, _read_streak)
    r.streak_keys = frozenset(streak.key for _, streak in streaks)
    badges = r.keyed_list(doc, "badges", ENTITY_KEY, _read_badge)
    boards = r.keyed_list(doc, "leaderboards", ENTITY_KEY, _read_leaderboard)
    for section, items in (("badges", badges), ("leaderboards", boards)):
        for index, item in items:
            action = item.metric.removeprefix("actions:")
            if item.metric.startswith("actions:") and action not in actions:
                r.problem(f"{section}[{index}].metric", f"no action has the key {action!r}")
    for index, streak in streaks:
        action = streak.activity.removeprefix("actions:")
        if streak.activity.startswith("actions:") and action not in actions:
            r.problem(f"streaks[{index}].activity", f"no action has the key {action!r}")
    referral = _read_referral(r, doc)
    signup = _read_points_section(r, doc, "signup")
    birthday = _read_points_section(r, doc, "birthday")
    wording = _read_wording(r, doc)

    if r.problems or name is None or timezone is None:
        return None
    return Program(
        name=name,
        timezone=timezone,
        languages=tuple(languages),
        purchase_rates=rates,
        expiry=expiry,
        actions=actions,
        tiers=tiers,
        rewards=rewards,
        partners=partners,
        digest=hashlib.sha256(source.encode()).hexdigest(),
        source=source,
        purchase_rules=tuple(rule for _, rule in rules),
        campaigns=tuple(campaign for _, campaign in campaigns),
        purchase_pending_days=pending_days,
        reminder_days=reminder_days,
        referral=referral,
        signup_points=signup,
        birthday_points=birthday,
        badges=tuple(badge for _, badge in badges),
        streaks=tuple(streak for _, streak in streaks),
        leaderboards=tuple(board for _, board in boards),
        wording=wording,
        tier_rules=tier_rules,
    )


def _read_rates(r: _Reader, purchases: dict[str, Any]) -> dict[str, Decimal]:
    if "rates" not in purchases:
        r.problem("purchases.rates", "is required: the points earned per unit of each currency")
        return {}
    table = r.table(purchases, "purchases.rates")
    rates: dict[str, Decimal] = {}
    for currency, value in table.items():
        path = f"purchases.rates.{currency}"
        if not CURRENCY_CODE.fullmatch(currency):
            r.problem(path, "currency must be an ISO 4217 code of three capital letters")
            continue
        rate = r.decimal_value(value, path, low=Decimal(0), high=MAX_RATE)
        if rate is not None:
            rates[currency] = rate
    if not table and isinstance(purchases.get("rates"), dict):
        r.problem("purchases.rates", "give the points earned per unit of at least one currency")
    return rates


def _read_action(r: _Reader, item: dict[str, Any], path: str, key: str) -> Action | None:
    allowed = {"key", "name", "description", "points", "caps", "cooldown_minutes", "expiry"}
    r.only_keys(item, path, allowed | {"pending_days"})
    name = r.text(item, f"{path}.name", required=True)
    description = r.text(item, f"{path}.description")
    points = r.integer(item, f"{path}.points", low=1, high=MAX_POINTS, required=True)
    caps = r.caps(item, f"{path}.caps")
    cooldown = r.integer(item, f"{path}.cooldown_minutes", low=1, high=525_600)
    pending = r.integer(item, f"{path}.pending_days", low=0, high=365) or 0
    expiry = r.expiry(item, f"{path}.expiry")
    if name is None or points is None:
        return None
    return Action(
        key=key,
        name=name,
        points=points,
        caps=caps,
        cooldown=timedelta(minutes=cooldown) if cooldown else None,
        pending_days=pending,
        expiry=expiry,
        description=description,
    )


def _read_tier(r: _Reader, item: dict[str, Any], path: str, key: str) -> Tier | None:
    r.only_keys(item, path, {"key", "name", "threshold", "benefits", "retain", "multiplier"})
    name = r.text(item, f"{path}.name", required=True)
    threshold = r.integer(item, f"{path}.threshold", low=0, high=MAX_POINTS, required=True)
    benefits = r.text_list(item, f"{path}.benefits")
    retain = r.integer(item, f"{path}.retain", low=0, high=MAX_POINTS)
    if retain is not None and threshold is not None and retain > threshold:
        r.problem(f"{path}.retain", "must be at most the tier's threshold")
        retain = None
    multiplier = Decimal(1)
    if "multiplier" in item:
        multiplier = r.multiplier(item, f"{path}.multiplier") or Decimal(1)
    if name is None or threshold is None:
        return None
    return Tier(
        key=key,
        name=name,
        threshold=threshold,
        benefits=benefits,
        retain=retain,
        multiplier=multiplier,
    )


def _read_tier_rules(r: _Reader, doc: dict[str, Any]) -> TierRules:
    """How tiers are reached and kept: `[tier_rules]`, every key optional."""
    table = r.table(doc, "tier_rules")
    r.only_keys(table, "tier_rules", {"qualify_on", "window", "downgrade", "spend_currency"})
    qualify_on = r.choice(table, "tier_rules.qualify_on", QualifyOn) or QualifyOn.POINTS
    window = r.choice(table, "tier_rules.window", TierWindow) or TierWindow.LIFETIME
    downgrade = r.choice(table, "tier_rules.downgrade", Downgrade) or Downgrade.ONE_TIER
    currency = r.string(table, "tier_rules.spend_currency", pattern=CURRENCY_CODE)
    if qualify_on is QualifyOn.SPEND and currency is None and "spend_currency" not in table:
        r.problem(
            "tier_rules.spend_currency",
            'is required with qualify_on = "spend": the currency whose spending counts',
        )
    elif currency is not None and qualify_on is not QualifyOn.SPEND:
        r.problem("tier_rules.spend_currency", 'has no meaning unless qualify_on = "spend"')
    elif currency is not None and currency not in r.currencies:
        r.problem("tier_rules.spend_currency", "is not a currency of purchases.rates")
    return TierRules(
        qualify_on=qualify_on, window=window, downgrade=downgrade, spend_currency=currency
    )


def _read_tiers(r: _Reader, doc: dict[str, Any]) -> tuple[Tier, ...]:
    read = r.keyed_list(doc, "tiers", ENTITY_KEY, _read_tier)
    if not read:
        if not r.problems_under("tiers"):
            r.problem(
                "tiers",
                "define at least one tier (the first, with threshold 0, is where every member "
                "starts)",
            )
        return ()
    first_index, first = read[0]
    if first_index == 0 and first.threshold != 0:
        r.problem("tiers[0].threshold", "the first tier must have threshold 0")
    for (_, before), (index, tier) in itertools.pairwise(read):
        if tier.threshold <= before.threshold:
            r.problem(
                f"tiers[{index}].threshold",
                "tiers must be listed in order of strictly increasing threshold",
            )
    return tuple(tier for _, tier in read)


def _read_reward(r: _Reader, item: dict[str, Any], path: str, key: str) -> Reward | None:
    r.only_keys(
        item,
        path,
        {"key", "name", "description", "points_cost", "stock", "partner", "limit", "min_tier"},
    )
    name = r.text(item, f"{path}.name", required=True)
    description = r.text(item, f"{path}.description")
    cost = r.integer(item, f"{path}.points_cost", low=1, high=MAX_POINTS, required=True)
    stock = r.integer(item, f"{path}.stock", low=0, high=MAX_POINTS)
    partner = r.string(item, f"{path}.partner", pattern=ENTITY_KEY)
    limit = r.limit(item, f"{path}.limit")
    min_tier = r.reference(item, f"{path}.min_tier", r.tier_keys, "tier")
    if name is None or cost is None:
        return None
    return Reward(
        key=key,
        name=name,
        description=description,
        points_cost=cost,
        stock=stock,
        partner=partner,
        limit=limit,
        min_tier=min_tier,
    )


def _read_partner(r: _Reader, item: dict[str, Any], path: str, key: str) -> Partner | None:
    r.only_keys(item, path, {"key", "name", "currency", "rates", "pending_days"})
    name = r.text(item, f"{path}.name", required=True)
    currency = r.string(item, f"{path}.currency", pattern=PARTNER_CURRENCY, required=True)
    rates = r.items(item, f"{path}.rates", _read_rate)
    pending_days = r.integer(item, f"{path}.pending_days", low=0, high=365)
    if name is None or currency is None:
        return None
    return Partner(
        key=key, name=name, currency=currency, rates=tuple(rates), pending_days=pending_days
    )


def _read_rate(r: _Reader, item: dict[str, Any], path: str) -> ConversionRate | None:
    r.only_keys(
        item,
        path,
        {"direction", "points", "partner_units", "effective_from", "fee_percent", "minimum_blocks"},
    )
    direction = r.choice(item, f"{path}.direction", Direction, required=True)
    points = r.integer(item, f"{path}.points", low=1, high=MAX_POINTS, required=True)
    units = r.integer(item, f"{path}.partner_units", low=1, high=MAX_POINTS, required=True)
    effective = r.moment(item, f"{path}.effective_from", required=True)
    fee = r.percent(item, f"{path}.fee_percent")
    minimum = r.integer(item, f"{path}.minimum_blocks", low=1, high=MAX_POINTS) or 1
    if direction is None or points is None or units is None or effective is None:
        return None
    return ConversionRate(
        direction=direction,
        points=points,
        partner_units=units,
        effective_from=effective,
        fee_percent=fee,
        minimum_blocks=minimum,
    )


def _read_rule(r: _Reader, item: dict[str, Any], path: str, key: str) -> PurchaseRule | None:
    r.only_keys(item, path, {"key", "name", "kind", *_RULE_KEYS})
    name = r.text(item, f"{path}.name", required=True)
    kind = r.choice(item, f"{path}.kind", RuleKind, required=True)
    selector = r.selector(item, path)
    max_units = r.integer(item, f"{path}.max_units", low=1, high=1_000_000)
    if kind is None or name is None:
        return None
    if kind in (RuleKind.EXCLUDE, RuleKind.PER_PRODUCT) and selector.everything:
        r.problem(path, f"a {kind} rule needs skus or categories to say which lines it is about")
    multiplier = points = None
    amounts: dict[str, Decimal] = {}
    if kind is RuleKind.MULTIPLIER:
        multiplier = r.multiplier(item, f"{path}.multiplier")
    if kind in (RuleKind.PER_PRODUCT, RuleKind.SPEND_THRESHOLD):
        points = r.integer(item, f"{path}.points", low=1, high=MAX_POINTS, required=True)
    if kind in (RuleKind.MINIMUM_ORDER, RuleKind.SPEND_THRESHOLD):
        amounts = r.amounts(item, f"{path}.amounts", required=True)
    r.meaningless(item, path, RULE_SETTINGS[kind], f"a {kind} rule", _RULE_KEYS)
    if (kind is RuleKind.MULTIPLIER and multiplier is None) or (
        kind in (RuleKind.PER_PRODUCT, RuleKind.SPEND_THRESHOLD) and points is None
    ):
        return None
    return PurchaseRule(
        key=key,
        name=name,
        kind=kind,
        selector=selector,
        multiplier=multiplier,
        points=points,
        amounts=amounts,
        max_units=DEFAULT_MAX_UNITS if max_units is None else max_units,
    )


def _read_campaign(r: _Reader, item: dict[str, Any], path: str, key: str) -> Campaign | None:
    r.only_keys(
        item,
        path,
        {
            "key",
            "name",
            "kind",
            "starts",
            "ends",
            "multiplier",
            "points",
            "skus",
            "categories",
            "tiers",
            "partners",
            "budget",
        },
    )
    name = r.text(item, f"{path}.name", required=True)
    kind = r.choice(item, f"{path}.kind", CampaignKind, required=True)
    starts = r.moment(item, f"{path}.starts", required=True)
    ends = r.moment(item, f"{path}.ends", required=True)
    if starts is not None and ends is not None and ends <= starts:
        r.problem(f"{path}.ends", "must be after starts")
    selector = r.selector(item, path)
    tiers = r.references(item, f"{path}.tiers", r.tier_keys, "tier")
    partners = r.references(item, f"{path}.partners", r.partner_keys, "partner")
    budget = r.integer(item, f"{path}.budget", low=1, high=MAX_POINTS)
    multiplier = points = None
    if kind is CampaignKind.MULTIPLIER:
        multiplier = r.multiplier(item, f"{path}.multiplier")
    elif kind is not None:
        points = r.integer(item, f"{path}.points", low=1, high=MAX_POINTS, required=True)
    if kind is not None:
        r.meaningless(item, path, CAMPAIGN_SETTINGS[kind], f"a {kind} campaign", _CAMPAIGN_KEYS)
    if (
        name is None
        or kind is None
        or starts is None
        or ends is None
        or (multiplier is None and points is None)
    ):
        return None
    return Campaign(
        key=key,
        name=name,
        kind=kind,
        starts=starts,
        ends=ends,
        multiplier=multiplier,
        points=points,
        selector=selector,
        tiers=tiers,
        partners=partners,
        budget=budget,
    )


def _read_badge(r: _Reader, item: dict[str, Any], path: str, key: str) -> Badge | None:
    r.only_keys(item, path, {"key", "name", "description", "metric", "levels", "hidden", "bonus"})
    name = r.text(item, f"{path}.name", required=True)
    description = r.text(item, f"{path}.description")
    metric = r.string(item, f"{path}.metric", required=True, pattern=BADGE_ONLY_METRIC)
    kind, _, of = (metric or "").partition(":")
    if kind == "spend" and of not in r.currencies:
        r.problem(f"{path}.metric", f"{of} is not a currency of purchases.rates")
        metric = None
    if kind == "streak" and of not in r.streak_keys:
        r.problem(f"{path}.metric", f"no streak has the key {of!r}")
        metric = None
    levels = r.levels(item, f"{path}.levels")
    hidden = r.boolean(item, f"{path}.hidden")
    bonus = _read_bonus(r, item, f"{path}.bonus", levels)
    if name is None or metric is None or not levels or bonus is None:
        return None
    return Badge(
        key=key,
        name=name,
        description=description,
        metric=metric,
        levels=levels,
        hidden=hidden,
        bonus=bonus,
    )


def _read_bonus(
    r: _Reader, item: dict[str, Any], path: str, levels: tuple[int, ...]
) -> tuple[int, ...] | None:
    """Points per level: one number for every level, or a list with one per level."""
    value = item.get("bonus")
    if value is None:
        return ()
    if isinstance(value, list):
        if levels and len(value) != len(levels):
            r.problem(path, f"give one number per level ({len(levels)}), or one for them all")
            return None
        given = [
            r.integer({f"bonus[{index}]": points}, f"{path}[{index}]", low=0, high=MAX_POINTS)
            for index, points in enumerate(value)
        ]
        if any(points is None for points in given):
            return None
        return tuple(points for points in given if points is not None)
    points = r.integer(item, path, low=0, high=MAX_POINTS)
    if points is None:
        return None
    return tuple(points for _ in levels)


def _read_streak(r: _Reader, item: dict[str, Any], path: str, key: str) -> Streak | None:
    r.only_keys(item, path, {"key", "name", "description", "period", "activity", "grace"})
    name = r.text(item, f"{path}.name", required=True)
    description = r.text(item, f"{path}.description")
    period = r.choice(item, f"{path}.period", StreakPeriod, required=True)
    activity = r.string(item, f"{path}.activity", required=True, pattern=STREAK_ACTIVITY)
    grace = r.integer(item, f"{path}.grace", low=0, high=MAX_STREAK_GRACE) or 0
    if name is None or period is None or activity is None:
        return None
    return Streak(
        key=key,
        name=name,
        description=description,
        period=period,
        activity=activity,
        grace=grace,
    )


def _read_leaderboard(r: _Reader, item: dict[str, Any], path: str, key: str) -> Leaderboard | None:
    r.only_keys(item, path, {"key", "name", "metric", "periods", "partner"})
    name = r.text(item, f"{path}.name", required=True)
    metric = r.string(item, f"{path}.metric", required=True, pattern=BADGE_METRIC)
    partner = r.string(item, f"{path}.partner")
    if partner is not None and partner not in r.partner_keys:
        r.problem(f"{path}.partner", f"no partner has the key {partner!r}")
    if partner is not None and metric not in (None, *PARTNER_BOARD_METRICS):
        r.problem(
            f"{path}.partner", f"a partner's board ranks {' or '.join(PARTNER_BOARD_METRICS)}"
        )
    periods: list[BoardPeriod] = []
    listed = item.get("periods", ["ALL_TIME"])
    if not isinstance(listed, list) or not listed:
        r.problem(f"{path}.periods", 'must be a list like ["ALL_TIME", "WEEK", "MONTH"]')
    else:
        known = {p.value: p for p in BoardPeriod}
        for index, value in enumerate(listed):
            if value not in known:
                r.problem(f"{path}.periods[{index}]", f"{value!r} is not one of {', '.join(known)}")
            elif known[value] not in periods:
                periods.append(known[value])
    if name is None or metric is None or not periods:
        return None
    return Leaderboard(key=key, name=name, metric=metric, periods=tuple(periods), partner=partner)


def _read_referral(r: _Reader, doc: dict[str, Any]) -> Referral | None:
    if "referral" not in doc:
        return None
    section = r.table(doc, "referral")
    r.only_keys(
        section, "referral", {"referrer_points", "referee_points", "minimum", "max_per_referrer"}
    )
    referrer = r.integer(section, "referral.referrer_points", low=0, high=MAX_POINTS, required=True)
    referee = r.integer(section, "referral.referee_points", low=0, high=MAX_POINTS, required=True)
    minimum = r.amounts(section, "referral.minimum")
    cap = r.integer(section, "referral.max_per_referrer", low=1, high=MAX_POINTS)
    if referrer == 0 and referee == 0:
        r.problem("referral", "give points to the referrer, the new member, or both")
    if referrer is None or referee is None:
        return None
    return Referral(referrer, referee, minimum, cap)


def _read_points_section(r: _Reader, doc: dict[str, Any], name: str) -> int | None:
    if name not in doc:
        return None
    section = r.table(doc, name)
    r.only_keys(section, name, {"points"})
    return r.integer(section, f"{name}.points", low=1, high=MAX_POINTS, required=True)


def _read_wording(r: _Reader, doc: dict[str, Any]) -> dict[str, Text]:
    """How the program says the ledger's phrases: each a translatable text that may use the
    placeholders its English does, and no others."""
    section = r.table(doc, "wording")
    wording: dict[str, Text] = {}
    for phrase, value in section.items():
        path = f"wording.{phrase}"
        if phrase not in PHRASES:
            r.problem(path, f"is not a phrase; the phrases are {', '.join(sorted(PHRASES))}")
            continue
        worded = r.text_value(value, path)
        if worded is None:
            continue
        allowed = placeholders(PHRASES[phrase])
        shown = ", ".join(f"{{{name}}}" for name in sorted(allowed)) or "none"
        good = True
        for language, template in worded.translations.items():
            where = f"{path}.{language}" if language else path
            try:
                fields = list(string.Formatter().parse(template))
            except ValueError:
                r.problem(where, "write a brace as {{ or }} unless it names a placeholder")
                good = False
                continue
            for _, name, spec, conversion in fields:
                if name is not None and name not in allowed:
                    r.problem(where, f"{{{name}}} is not a placeholder of it (it has {shown})")
                    good = False
                elif spec or conversion:
                    r.problem(where, f"write {{{name}}} as it is, with nothing after its name")
                    good = False
        if good:
            wording[phrase] = worded
    return wording


class _Reader:
    """Reads values out of the parsed TOML, collecting every problem with its location."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.zone = ZoneInfo("UTC")
        self.currencies: frozenset[str] = frozenset()
        self.tier_keys: frozenset[str] = frozenset()
        self.partner_keys: frozenset[str] = frozenset()
        self.streak_keys: frozenset[str] = frozenset()

    def problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def problems_under(self, path: str) -> bool:
        return any(
            p.path == path or p.path.startswith((f"{path}[", f"{path}.")) for p in self.problems
        )

    @staticmethod
    def _leaf(path: str) -> str:
        return path.rsplit(".", 1)[-1]

    def only_keys(self, table: dict[str, Any], path: str, allowed: set[str]) -> None:
        for key in table:
            if key not in allowed:
                where = f"{path}.{key}" if path else key
                self.problem(where, f"unknown key (expected one of: {', '.join(sorted(allowed))})")

    def table(self, parent: dict[str, Any], path: str, required: bool = False) -> dict[str, Any]:
        value = parent.get(self._leaf(path))
        if value is None:
            if required:
                self.problem(path, "is required")
            return {}
        if not isinstance(value, dict):
            self.problem(path, "must be a table")
            return {}
        return value

    def string(
        self,
        parent: dict[str, Any],
        path: str,
        *,
        required: bool = False,
        default: str | None = None,
        pattern: re.Pattern[str] | None = None,
    ) -> str | None:
        value = parent.get(self._leaf(path))
        if value is None:
            if required:
                self.problem(path, "is required")
            return default
        if not isinstance(value, str) or not value.strip():
            self.problem(path, "must be a non-empty string")
            return None
        if pattern is not None and not pattern.fullmatch(value):
            self.problem(path, f"{value!r} does not match the pattern {pattern.pattern}")
            return None
        return value

    def string_list(
        self, parent: dict[str, Any], path: str, pattern: re.Pattern[str]
    ) -> tuple[str, ...] | None:
        value = parent.get(self._leaf(path))
        if value is None:
            return None
        if not isinstance(value, list) or not value:
            self.problem(path, "must be a non-empty list of strings")
            return None
        good = []
        for index, item in enumerate(value):
            if not isinstance(item, str) or not pattern.fullmatch(item):
                self.problem(f"{path}[{index}]", f"must match the pattern {pattern.pattern}")
            else:
                good.append(item)
        return tuple(good)

    def boolean(self, parent: dict[str, Any], path: str) -> bool:
        """true or false; false when left out."""
        value = parent.get(self._leaf(path), False)
        if not isinstance(value, bool):
            self.problem(path, "must be true or false")
            return False
        return value

    def choice(
        self, parent: dict[str, Any], path: str, kinds: type[E], required: bool = False
    ) -> E | None:
        value = parent.get(self._leaf(path))
        if value is None:
            if required:
                self.problem(path, f"is required: one of {', '.join(k.value for k in kinds)}")
            return None
        for kind in kinds:
            if value == kind.value:
                return kind
        self.problem(path, f"{value!r} is not one of {', '.join(k.value for k in kinds)}")
        return None

    def integer(
        self, parent: dict[str, Any], path: str, *, low: int, high: int, required: bool = False
    ) -> int | None:
        value = parent.get(self._leaf(path))
        if value is None:
            if required:
                self.problem(path, "is required")
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.problem(path, f"must be a whole number from {low} to {high}")
            return None
        return value

    def number(self, value: Any, path: str, example: str) -> Decimal | None:
        """A plain decimal number; `example` shows the operator how to write one."""
        # Floats are accepted through their shortest decimal spelling, which is what was typed.
        text = str(value) if isinstance(value, (int, float, str)) else None
        if isinstance(value, bool) or text is None or not _PLAIN_DECIMAL.fullmatch(text):
            self.problem(path, f"{value!r} is not a number written like {example}")
            return None
        return Decimal(text)

    def decimal_value(
        self, value: Any, path: str, *, low: Decimal, high: Decimal
    ) -> Decimal | None:
        number = self.number(value, path, '1 or "1.5"')
        if number is not None and not low < number <= high:
            self.problem(path, f"must be greater than {low} and at most {high}")
            return None
        return number

    def percent(self, parent: dict[str, Any], path: str) -> Decimal:
        """A percentage from 0 to 99; 0 when it is left out."""
        value = parent.get(self._leaf(path))
        if value is None:
            return Decimal(0)
        number = self.number(value, path, '2 or "2.5"')
        if number is None:
            return Decimal(0)
        if not 0 <= number <= 99:
            self.problem(path, "must be from 0 to 99")
            return Decimal(0)
        return number

    def multiplier(self, parent: dict[str, Any], path: str) -> Decimal | None:
        if self._leaf(path) not in parent:
            self.problem(path, "is required")
            return None
        return self.decimal_value(
            parent[self._leaf(path)], path, low=Decimal(0), high=MAX_MULTIPLIER
        )

    def amounts(
        self, parent: dict[str, Any], path: str, required: bool = False
    ) -> dict[str, Decimal]:
        """Money amounts by currency, each currency one the program earns in."""
        table = self.table(parent, path, required=required)
        amounts = {}
        for currency, value in table.items():
            where = f"{path}.{currency}"
            if currency not in self.currencies:
                self.problem(where, "is not a currency of purchases.rates")
                continue
            amount = self.decimal_value(value, where, low=Decimal(0), high=MAX_AMOUNT)
            if amount is not None:
                amounts[currency] = amount
        if required and not table and isinstance(parent.get(self._leaf(path)), dict):
            self.problem(path, "give an amount for at least one currency")
        return amounts

    def moment(self, parent: dict[str, Any], path: str, required: bool = False) -> datetime | None:
        """A TOML date or date-time; without an offset it is read in the program's time zone."""
        value = parent.get(self._leaf(path))
        if value is None:
            if required:
                self.problem(path, "is required: a date like 2026-11-27 or 2026-11-27T18:00:00")
            return None
        if isinstance(value, datetime):
            moment = value if value.tzinfo else value.replace(tzinfo=self.zone)
            return moment.astimezone(UTC)
        if isinstance(value, date):
            return datetime.combine(value, time(), self.zone).astimezone(UTC)
        self.problem(path, "must be a TOML date or date-time, like 2026-11-27T18:00:00, unquoted")
        return None

    def expiry(self, parent: dict[str, Any], path: str) -> Expiry | None:
        value = parent.get(self._leaf(path))
        if value is None:
            return None
        if value == "never":
            return NEVER
        if isinstance(value, dict) and len(value) == 1:
            if "days" in value:
                days = self.integer(value, f"{path}.days", low=1, high=MAX_DAYS)
                return Expiry(days=days) if days else None
            if "end_of_year" in value:
                years = self.integer(value, f"{path}.end_of_year", low=0, high=100)
                return Expiry(end_of_year=years) if years is not None else None
        self.problem(
            path,
            'must be "never", { days = N } or { end_of_year = N } (N years after the year '
            "of earning)",
        )
        return None

    def caps(self, parent: dict[str, Any], path: str) -> tuple[Cap, ...]:
        table = self.table(parent, path)
        caps = []
        for name in table:
            period = next((p for p in Period if p.value == name), None)
            if period is None:
                self.problem(
                    f"{path}.{name}", f"is not a period ({', '.join(p.value for p in Period)})"
                )
                continue
            checked = self.integer(table, f"{path}.{name}", low=1, high=MAX_POINTS)
            if checked is not None:
                caps.append(Cap(checked, period))
        return tuple(caps)

    def limit(self, parent: dict[str, Any], path: str) -> Cap | None:
        if self._leaf(path) not in parent:
            return None
        table = self.table(parent, path)
        self.only_keys(table, path, {"count", "period"})
        count = self.integer(table, f"{path}.count", low=1, high=MAX_POINTS, required=True)
        period = self.choice(table, f"{path}.period", Period, required=True)
        return Cap(count, period) if count is not None and period is not None else None

    def meaningless(
        self, item: dict[str, Any], path: str, allowed: set[str], what: str, known: set[str]
    ) -> None:
        """Settings the section knows but this kind does not use (unknown ones are reported as
        unknown keys, once)."""
        for setting in sorted(known & set(item) - allowed):
            self.problem(f"{path}.{setting}", f"has no meaning for {what}")

    def selector(self, parent: dict[str, Any], path: str) -> Selector:
        skus = self.string_list(parent, f"{path}.skus", LINE_KEY) or ()
        categories = self.string_list(parent, f"{path}.categories", LINE_KEY) or ()
        return Selector(frozenset(skus), frozenset(categories))

    def reference(
        self, parent: dict[str, Any], path: str, known: frozenset[str], what: str
    ) -> str | None:
        value = self.string(parent, path)
        if value is not None and value not in known:
            self.problem(path, f"no {what} has the key {value!r}")
            return None
        return value

    def references(
        self, parent: dict[str, Any], path: str, known: frozenset[str], what: str
    ) -> frozenset[str]:
        values = self.string_list(parent, path, ENTITY_KEY) or ()
        for index, value in enumerate(values):
            if value not in known:
                self.problem(f"{path}[{index}]", f"no {what} has the key {value!r}")
        return frozenset(v for v in values if v in known)

    def levels(self, parent: dict[str, Any], path: str) -> tuple[int, ...]:
        value = parent.get(self._leaf(path))
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        ):
            self.problem(path, "must be a list of whole numbers, like [1, 10, 50]")
            return ()
        if value[0] < 1 or any(b <= a for a, b in itertools.pairwise(value)):
            self.problem(path, "levels must start at 1 or more and increase strictly")
            return ()
        return tuple(value)

    def text(self, parent: dict[str, Any], path: str, required: bool = False) -> Text | None:
        value = parent.get(self._leaf(path))
        if value is None:
            if required:
                self.problem(path, "is required")
            return None
        return self.text_value(value, path)

    def text_value(self, value: Any, path: str) -> Text | None:
        if isinstance(value, str) and value.strip():
            return Text({"": value})
        if isinstance(value, dict) and value:
            good: dict[str, str] = {}
            for language, words in value.items():
                if not LANGUAGE.fullmatch(language):
                    self.problem(f"{path}.{language}", "is not a language code such as en or ro")
                elif not isinstance(words, str) or not words.strip():
                    self.problem(f"{path}.{language}", "must be a non-empty string")
                else:
                    good[language] = words
            return Text(good) if len(good) == len(value) else None
        self.problem(path, 'must be a string, or a table of languages like { en = "Gold" }')
        return None

    def text_list(self, parent: dict[str, Any], path: str) -> tuple[Text, ...]:
        value = parent.get(self._leaf(path))
        if value is None:
            return ()
        if not isinstance(value, list):
            self.problem(path, "must be a list")
            return ()
        texts = (self.text_value(item, f"{path}[{index}]") for index, item in enumerate(value))
        return tuple(t for t in texts if t is not None)

    def items(
        self,
        parent: dict[str, Any],
        path: str,
        read: Callable[[_Reader, dict[str, Any], str], T | None],
    ) -> list[T]:
        """The valid entries of an array of tables that have no keys of their own."""
        values = parent.get(self._leaf(path), [])
        if not isinstance(values, list):
            self.problem(path, "must be an array of tables")
            return []
        result = []
        for index, item in enumerate(values):
            if not isinstance(item, dict):
                self.problem(f"{path}[{index}]", "must be a table")
                continue
            value = read(self, item, f"{path}[{index}]")
            if value is not None:
                result.append(value)
        return result

    def keyed_list(
        self,
        doc: dict[str, Any],
        name: str,
        key_pattern: re.Pattern[str],
        read: Callable[[_Reader, dict[str, Any], str, str], T | None],
    ) -> list[tuple[int, T]]:
        """The valid entries of an array of tables, each with its position in the file, so that
        later checks name the entry the operator wrote, not its place among the valid ones."""
        items = doc.get(name, [])
        if not isinstance(items, list):
            self.problem(name, f"must be an array of tables, written [[{name}]]")
            return []
        result: list[tuple[int, T]] = []
        keys: set[str] = set()
        for index, item in enumerate(items):
            path = f"{name}[{index}]"
            if not isinstance(item, dict):
                self.problem(path, "must be a table")
                continue
            key = self.string(item, f"{path}.key", required=True, pattern=key_pattern)
            if key is None:
                continue
            if key in keys:
                self.problem(f"{path}.key", f"{key!r} is used twice")
                continue
            keys.add(key)
            value = read(self, item, path, key)
            if value is not None:
                result.append((index, value))
        return result
