"""The program's public catalog: tiers, badges, leaderboards and campaigns."""

from __future__ import annotations

from datetime import datetime

import strawberry

from domain import program
from schema import ids
from schema.common import Decimal, Node, expose_enum
from schema.partners.types import Partner

expose_enum(
    program.Period,
    name="LimitPeriod",
    description="A calendar period a limit counts in, in the program's time zone.",
    meanings={
        program.Period.DAY: "A calendar day.",
        program.Period.WEEK: "A calendar week, from Monday.",
        program.Period.MONTH: "A calendar month.",
        program.Period.YEAR: "A calendar year.",
        program.Period.LIFETIME: "The member's whole membership: the limit never resets.",
    },
)
expose_enum(
    program.CampaignKind,
    name="CampaignKind",
    description="How a campaign adds to what purchases earn.",
    meanings={
        program.CampaignKind.MULTIPLIER: "Multiplies the points of qualifying purchases.",
        program.CampaignKind.BONUS: "Fixed points on every qualifying purchase.",
        program.CampaignKind.FIRST_PURCHASE_OF_MONTH: "Fixed points on a member's first "
        "qualifying purchase of each calendar month.",
    },
)
expose_enum(
    program.BoardPeriod,
    name="LeaderboardPeriod",
    description="The period a leaderboard ranks over, in the program's time zone.",
    meanings={
        program.BoardPeriod.ALL_TIME: "Since the program began.",
        program.BoardPeriod.WEEK: "The calendar week so far, from Monday.",
        program.BoardPeriod.MONTH: "The calendar month so far.",
    },
)


expose_enum(
    program.QualifyOn,
    name="TierQualification",
    description="What a tier's thresholds count.",
    meanings={
        program.QualifyOn.POINTS: "Points earned (purchases, actions, bonuses, adjustments, "
        "less refunds), once they are no longer pending.",
        program.QualifyOn.SPEND: "Money spent on goods (no shipping or tax, less refunds), in "
        "whole units of the program's spend currency, once the purchase's points are released.",
    },
)
expose_enum(
    program.TierWindow,
    name="TierWindow",
    description="The stretch of time whose activity a tier review judges.",
    meanings={
        program.TierWindow.LIFETIME: "Everything since enrolling; reviewed on the 1st of each "
        "month (so refunds and corrections can lower a tier).",
        program.TierWindow.CALENDAR_YEAR: "The calendar year in the program's time zone; "
        "reviewed each 1 January on the year that ended.",
        program.TierWindow.ROLLING_12_MONTHS: "The 12 months up to the next review, which is "
        "on the 1st of each month in the program's time zone.",
    },
)
expose_enum(
    program.Downgrade,
    name="TierDowngrade",
    description="How far a review lowers a member whose window missed the retain threshold.",
    meanings={
        program.Downgrade.ONE_TIER: "One tier down per review.",
        program.Downgrade.TO_BASE: "Down to the tier the window still reaches by threshold: "
        "the base tier unless it reaches a lower one.",
    },
)


@strawberry.type(description="A level of membership. Public.")
class Tier(Node):
    key: str = strawberry.field(description="The tier's key in the program file.")
    name: str = strawberry.field(description="Its name, in the caller's language.")
    threshold: int = strawberry.field(
        description="The qualifying amount (see `tierRules.qualifyOn`) in a window that "
        "reaches it, at once."
    )
    retain: int = strawberry.field(
        description="The qualifying amount in a window that keeps it at the review; at most "
        "the threshold."
    )
    multiplier: Decimal = strawberry.field(
        description='What its members\' purchases and actions earn, as a multiple ("1.25"): '
        "it adds (multiplier - 1) x the base points, with a breakdown line naming the tier."
    )
    benefits: list[str] = strawberry.field(
        description="What members of this tier get, in the caller's language."
    )

    @classmethod
    def of(cls, tier: program.Tier, language: str | None) -> Tier:
        return cls(
            id=strawberry.ID(ids.global_id("Tier", tier.key)),
            key=tier.key,
            name=tier.name.get(language),
            threshold=tier.threshold,
            retain=tier.keep,
            multiplier=Decimal(str(tier.multiplier)),
            benefits=[b.get(language) for b in tier.benefits],
        )


@strawberry.type(description="How members reach and keep tiers. Public.")
class TierRules:
    qualify_on: program.QualifyOn = strawberry.field(description="What thresholds count.")
    window: program.TierWindow = strawberry.field(description="Which activity counts.")
    downgrade: program.Downgrade = strawberry.field(
        description="How far a review lowers a member who missed the retain threshold."
    )
    spend_currency: str | None = strawberry.field(
        description="With qualifyOn SPEND: the currency whose spending counts; null otherwise."
    )

    @classmethod
    def of(cls, rules: program.TierRules) -> TierRules:
        return cls(
            qualify_on=rules.qualify_on,
            window=rules.window,
            downgrade=rules.downgrade,
            spend_currency=rules.spend_currency,
        )


@strawberry.type(description="An achievement members unlock, in levels. Public.")
class Badge(Node):
    key: str = strawberry.field(description="The badge's key in the program file.")
    name: str = strawberry.field(description="Its name, in the caller's language.")
    description: str | None = strawberry.field(
        description="What it is for, in the caller's language."
    )
    metric: str = strawberry.field(
        description='What counts: "purchases", "spend:RON", "partners", "points_earned", '
        '"referrals", "redemptions", "actions:REVIEW", "streak:<key>" (deploy/program-file.md).'
    )
    levels: list[int] = strawberry.field(description="The count each level is reached at.")
    bonus: list[int] = strawberry.field(
        description="Points unlocking each level gives, one per level; empty for none."
    )

    @classmethod
    def of(cls, badge: program.Badge, language: str | None) -> Badge:
        return cls(
            id=strawberry.ID(ids.global_id("Badge", badge.key)),
            key=badge.key,
            name=badge.name.get(language),
            description=badge.description.get(language) if badge.description else None,
            metric=badge.metric,
            levels=list(badge.levels),
            bonus=list(badge.bonus),
        )


@strawberry.type(description="A time-boxed offer on purchases. Public.")
class Campaign(Node):
    key: str = strawberry.field(description="The campaign's key in the program file.")
    name: str = strawberry.field(description="Its name, in the caller's language.")
    kind: program.CampaignKind = strawberry.field(description="How it adds to earnings.")
    starts_at: datetime = strawberry.field(description="When it begins.")
    ends_at: datetime = strawberry.field(description="When it ends (not included).")
    multiplier: Decimal | None = strawberry.field(
        description='A factor, not money, as the program file writes it ("2", "1.5"), for '
        "MULTIPLIER; null for a campaign of fixed points."
    )
    points: int | None = strawberry.field(
        description="Whole points it gives, for BONUS and FIRST_PURCHASE_OF_MONTH; null for "
        "MULTIPLIER."
    )
    tiers: list[Tier] = strawberry.field(description="Only for these tiers; empty for all.")
    partners: list[Partner] = strawberry.field(description="Only at these partners; empty: all.")
    categories: list[str] = strawberry.field(
        description="Only purchase lines of these categories; empty for all."
    )
    skus: list[str] = strawberry.field(description="Only these SKUs; empty for all.")

    @classmethod
    def of(
        cls, campaign: program.Campaign, prog: program.Program, language: str | None
    ) -> Campaign:
        return cls(
            id=strawberry.ID(ids.global_id("Campaign", campaign.key)),
            key=campaign.key,
            name=campaign.name.get(language),
            kind=campaign.kind,
            starts_at=campaign.starts,
            ends_at=campaign.ends,
            multiplier=Decimal(str(campaign.multiplier)) if campaign.multiplier else None,
            points=campaign.points,
            tiers=[Tier.of(t, language) for t in prog.tiers if t.key in campaign.tiers],
            partners=[
                Partner.of(p, language) for k, p in prog.partners.items() if k in campaign.partners
            ],
            categories=sorted(campaign.selector.categories),
            skus=sorted(campaign.selector.skus),
        )


@strawberry.type(description="A leaderboard the program keeps: what it ranks, over which periods.")
class LeaderboardDefinition(Node):
    key: str = strawberry.field(
        description="The leaderboard's key in the program file, which the board argument of "
        "leaderboard and Member.rank names."
    )
    name: str = strawberry.field(description="Its name, in the caller's language.")
    metric: str = strawberry.field(description='What ranks members: "points_earned"...')
    periods: list[program.BoardPeriod] = strawberry.field(description="The periods it is kept for.")

    @classmethod
    def of(cls, board: program.Leaderboard, language: str | None) -> LeaderboardDefinition:
        return cls(
            id=strawberry.ID(ids.global_id("LeaderboardDefinition", board.key)),
            key=board.key,
            name=board.name.get(language),
            metric=board.metric,
            periods=list(board.periods),
        )


@strawberry.type(
    description="A cap on how often an action earns: at most `count` times per calendar period "
    "in the program's time zone (weeks start on Monday)."
)
class ActionCap:
    count: int = strawberry.field(description="The most times it earns in one period.")
    period: program.Period = strawberry.field(
        description="The calendar period; LIFETIME: ever, for each member."
    )


@strawberry.type(
    description="An action the program rewards (a review, a referral...), which partners and "
    "the operator record with recordAction. Public: anyone may read it. A recordAction with a "
    "reference (the review's own id, say) earns once per recorder: the same reference again "
    "is DUPLICATE."
)
class Action:
    key: str = strawberry.field(description="What recordAction's `action` takes, like REVIEW.")
    name: str = strawberry.field(
        description="In the request's Accept-Language when the program speaks it."
    )
    points: int = strawberry.field(description="Points (a whole number) it earns each time.")
    description: str | None = strawberry.field(
        description="What to do, in the request's language; null when the program says no more."
    )
    caps: list[ActionCap] = strawberry.field(
        description="Per member, the most it earns in each period; empty for no cap. One more "
        "is refused with LIMIT_EXCEEDED."
    )
    cooldown_minutes: int | None = strawberry.field(
        description="Per member, the least time in minutes between two that earn; null for "
        "none. Sooner is refused with LIMIT_EXCEEDED, saying when it earns again."
    )
    pending_days: int = strawberry.field(
        description="Days its points wait before they can be spent; 0: at once."
    )

    @classmethod
    def of(cls, action: program.Action, language: str | None) -> Action:
        return cls(
            key=action.key,
            name=action.name.get(language),
            points=action.points,
            description=action.description.get(language) if action.description else None,
            caps=[ActionCap(count=cap.count, period=cap.period) for cap in action.caps],
            cooldown_minutes=(
                int(action.cooldown.total_seconds() // 60) if action.cooldown else None
            ),
            pending_days=action.pending_days,
        )
