"""How many points a purchase or an action earns: pure functions over the program.

The stacking order, the same everywhere (deploy/program-file.md says it for operators):

1. The eligible amount is what was paid for goods: amount - shipping - tax, shared out over the
   lines in proportion to their totals, without the lines an `exclude` rule names.
2. Below a `minimum_order` amount the purchase earns nothing at all.
3. Base points: eligible amount x the currency's rate.
4. Multipliers, from rules, running campaigns and the member's tier, each add (multiplier - 1)
   x the base points of the lines they name (a tier's: every eligible line). They add up; they
   do not compound: 2x and 3x make 4x.
5. Fixed points: per product, spend thresholds, campaign bonuses, the first purchase of a month.
6. A campaign with a budget gives at most what is left of it (in whole points).
7. The total is rounded down, once, at the end, and is never below zero.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal, localcontext
from typing import Any

from domain import money, wording
from domain.program import Campaign, CampaignKind, Program, PurchaseRule, RuleKind, Selector

ZERO = Decimal(0)


@dataclass(frozen=True)
class PurchaseLine:
    sku: str | None
    category: str | None
    quantity: int
    unit_price: Decimal

    @property
    def total(self) -> Decimal:
        return self.unit_price * self.quantity


@dataclass(frozen=True)
class Purchase:
    amount: Decimal
    currency: str
    shipping: Decimal = ZERO
    tax: Decimal = ZERO
    lines: tuple[PurchaseLine, ...] = ()
    discount: Decimal = ZERO  # taken off the order as a whole, after its lines

    @property
    def goods_paid(self) -> Decimal:
        """What the member paid for goods: shipping and tax earn nothing."""
        return max(self.amount - self.shipping - self.tax, ZERO)


@dataclass(frozen=True)
class Circumstances:
    """What campaigns look at besides the purchase itself."""

    occurred_at: datetime
    tier: str | None = None  # the member's stored tier: its campaigns and its multiplier
    partner: str | None = None
    first_purchase_of_month: bool = False


@dataclass(frozen=True)
class BreakdownLine:
    rule: str
    description: str  # in the program's default language; `say` and `values` make it again
    points: Decimal
    campaign: str | None = None  # the campaign whose budget pays for this line
    say: str | None = None  # its phrase (domain.wording.PHRASES)
    values: Mapping[str, str] = field(default_factory=dict)  # what the phrase was said with
    cut: bool = False  # its campaign's budget ran out

    def as_json(self) -> dict[str, Any]:
        # Shown to four decimals; the total was worked out from the exact values.
        shown = format(self.points.quantize(Decimal("0.0001")), "f").rstrip("0").rstrip(".")
        stored: dict[str, Any] = {
            "rule": self.rule,
            "description": self.description,
            "points": shown or "0",
        }
        if self.say is not None:
            stored["say"] = self.say
        if self.values:
            stored["values"] = dict(self.values)
        if self.cut:
            stored["cut"] = True
        return stored


def said(
    program: Program,
    rule: str,
    phrase: str,
    points: Decimal,
    campaign: str | None = None,
    /,
    **values: object,
) -> BreakdownLine:
    """A line of `points` saying `phrase` with `values` (and the name `rule` names) in the
    program's default language, and keeping both to say it again in another."""
    kept = {key: str(value) for key, value in values.items()}
    text = wording.text(program, phrase, kept, rule=rule)
    return BreakdownLine(rule, text, points, campaign, phrase, kept)


@dataclass(frozen=True)
class Award:
    points: int
    breakdown: tuple[BreakdownLine, ...]
    eligible_amount: Decimal = ZERO

    def breakdown_json(self) -> list[dict[str, Any]]:
        return [line.as_json() for line in self.breakdown]

    def campaign_points(self) -> dict[str, int]:
        """Whole points each campaign contributes: what its budget is charged."""
        return {
            key: int(points.to_integral_value(rounding=ROUND_FLOOR))
            for key, points in self.campaign_shares().items()
            if points > 0
        }

    def campaign_shares(self) -> dict[str, Decimal]:
        """The exact points each campaign's lines add up to, fractions included."""
        shares: dict[str, Decimal] = {}
        for line in self.breakdown:
            if line.campaign is not None:
                shares[line.campaign] = shares.get(line.campaign, ZERO) + line.points
        return shares


@dataclass(frozen=True)
class _Share:
    """A part of the eligible amount, and the line (if any) it belongs to."""

    amount: Decimal
    line: PurchaseLine | None

    def matches(self, selector: Selector) -> bool:
        line = self.line
        return selector.everything or (
            line is not None and (line.sku in selector.skus or line.category in selector.categories)
        )


CENT = Decimal("0.01")


def lines_add_up(purchase: Purchase) -> bool:
    """Whether the lines are the order the amount paid for, to the cent: their totals, less
    the order's discount, plus shipping, and plus tax unless their prices include it."""
    lines = sum((line.total for line in purchase.lines), ZERO)
    paid = purchase.amount.quantize(CENT)
    with_tax_in = lines - purchase.discount + purchase.shipping
    return paid in (with_tax_in.quantize(CENT), (with_tax_in + purchase.tax).quantize(CENT))


def _shares(purchase: Purchase) -> list[_Share]:
    """The amount paid for goods, shared over the lines in proportion to their totals. The last
    priced line takes what is left, so that the shares add up to the amount exactly. Since the
    lines add up to the order (`lines_add_up`), a share is never more than its line's total:
    rules apply to what the lines say, never scaled up from one line to the whole order."""
    if not purchase.lines:
        return [_Share(purchase.goods_paid, None)]
    priced = [line for line in purchase.lines if line.total > 0]
    if not priced:
        # Free lines only: they still count for per-product rules, but earn nothing themselves.
        return [_Share(purchase.goods_paid, None)] + [_Share(ZERO, ln) for ln in purchase.lines]
    lines_total = sum((line.total for line in priced), ZERO)
    shares, given = [], ZERO
    last = priced[-1]
    for line in purchase.lines:
        if line is last:
            amount = purchase.goods_paid - given
        else:
            amount = purchase.goods_paid * line.total / lines_total if line.total > 0 else ZERO
            given += amount
        shares.append(_Share(amount, line))
    return shares


def active_campaigns(program: Program, at: Circumstances) -> list[Campaign]:
    return [
        c
        for c in program.campaigns
        if c.runs_at(at.occurred_at)
        and (not c.tiers or at.tier in c.tiers)
        and (not c.partners or at.partner in c.partners)
    ]


def _rules(program: Program, kind: RuleKind) -> Iterable[PurchaseRule]:
    return (rule for rule in program.purchase_rules if rule.kind is kind)


def points_for(purchase: Purchase, at: Circumstances, program: Program) -> Award:
    # Enough digits that no product or sum is rounded before the one floor at the end.
    with localcontext(prec=80):
        return _evaluate(purchase, at, program)


def _evaluate(purchase: Purchase, at: Circumstances, program: Program) -> Award:
    currency = purchase.currency
    rate = program.purchase_rates.get(currency)
    if rate is None:
        return Award(0, (said(program, "base", "no_rate", ZERO, currency=currency),))
    lines: list[BreakdownLine] = []

    shares = _shares(purchase)
    for rule in _rules(program, RuleKind.EXCLUDE):
        excluded = sum((s.amount for s in shares if s.matches(rule.selector)), ZERO)
        if excluded:
            shares = [s for s in shares if not s.matches(rule.selector)]
            lines.append(
                said(
                    program, f"rule:{rule.key}", "excluded", ZERO, amount=_money(excluded, currency)
                )
            )
    eligible = sum((s.amount for s in shares), ZERO)

    for rule in _rules(program, RuleKind.MINIMUM_ORDER):
        minimum = rule.amounts.get(currency)
        if minimum is not None and eligible < minimum:
            lines.append(
                said(
                    program,
                    f"rule:{rule.key}",
                    "below_minimum",
                    ZERO,
                    amount=_money(minimum, currency),
                )
            )
            return Award(0, tuple(lines), eligible)

    lines.append(
        said(
            program,
            "base",
            "base_one" if rate == 1 else "base",
            eligible * rate,
            rate=rate,
            currency=currency,
            amount=_money(eligible, currency),
        )
    )

    campaigns = active_campaigns(program, at)
    multipliers: list[tuple[BreakdownLine, Decimal, Selector]] = []
    for rule in _rules(program, RuleKind.MULTIPLIER):
        assert rule.multiplier is not None
        label = said(program, f"rule:{rule.key}", "multiplier", ZERO, multiplier=rule.multiplier)
        multipliers.append((label, rule.multiplier, rule.selector))
    for campaign in campaigns:
        if campaign.kind is CampaignKind.MULTIPLIER:
            assert campaign.multiplier is not None
            label = said(
                program,
                f"campaign:{campaign.key}",
                "multiplier",
                ZERO,
                campaign.key,
                multiplier=campaign.multiplier,
            )
            multipliers.append((label, campaign.multiplier, campaign.selector))
    tier = program.tier(at.tier) if at.tier is not None else None
    if tier is not None and tier.multiplier != 1:
        label = said(
            program, f"tier:{tier.key}", "tier_multiplier", ZERO, multiplier=tier.multiplier
        )
        multipliers.append((label, tier.multiplier, Selector()))
    for index, extra in enumerate(_boosts(shares, rate, multipliers)):
        if extra:
            lines.append(replace(multipliers[index][0], points=extra))

    for rule in _rules(program, RuleKind.PER_PRODUCT):
        assert rule.points is not None
        bought = sum(s.line.quantity for s in shares if s.line and s.matches(rule.selector))
        units = min(bought, rule.max_units)
        if units:
            lines.append(
                said(
                    program,
                    f"rule:{rule.key}",
                    "per_product_capped" if bought > units else "per_product",
                    Decimal(units * rule.points),
                    units=units,
                    points=rule.points,
                    max_units=rule.max_units,
                )
            )
    for rule in _rules(program, RuleKind.SPEND_THRESHOLD):
        threshold = rule.amounts.get(currency)
        if threshold is not None and eligible >= threshold and rule.points:
            lines.append(
                said(
                    program,
                    f"rule:{rule.key}",
                    "spend_threshold",
                    Decimal(rule.points),
                    amount=_money(threshold, currency),
                )
            )
    for campaign in campaigns:
        applies = (
            campaign.kind is CampaignKind.BONUS
            and any(s.matches(campaign.selector) for s in shares)
        ) or (campaign.kind is CampaignKind.FIRST_PURCHASE_OF_MONTH and at.first_purchase_of_month)
        if applies and campaign.points:
            lines.append(
                said(
                    program,
                    f"campaign:{campaign.key}",
                    "campaign_bonus",
                    Decimal(campaign.points),
                    campaign.key,
                )
            )
    return _total(tuple(lines), eligible)


def _boosts(
    shares: list[_Share], rate: Decimal, multipliers: list[tuple[BreakdownLine, Decimal, Selector]]
) -> list[Decimal]:
    """What each multiplier adds: (multiplier - 1) x the base points of the lines it names.
    Multipliers below 1 take away, but never more than a line's own points: a line earns at
    least nothing, and what other rules give stays whole."""
    extras = [ZERO] * len(multipliers)
    for share in shares:
        base = share.amount * rate
        wanted = [
            (index, base * (multiplier - 1))
            for index, (_, multiplier, selector) in enumerate(multipliers)
            if share.matches(selector)
        ]
        gains = sum((e for _, e in wanted if e > 0), ZERO)
        losses = [(index, e) for index, e in wanted if e < 0]
        lost = sum((e for _, e in losses), ZERO)
        for index, extra in wanted:
            if extra > 0:
                extras[index] += extra
        if base + gains + lost >= 0:
            for index, extra in losses:
                extras[index] += extra
            continue
        # Too much taken away: each reduction shrinks in proportion, the last one taking the
        # exact rest, so that the line ends at zero and not a rounding error below or above.
        allowed, given = -(base + gains), ZERO
        for position, (index, extra) in enumerate(losses):
            part = allowed - given if position == len(losses) - 1 else allowed * extra / lost
            given += part
            extras[index] += part
    return extras


def within_budgets(award: Award, left: Mapping[str, int], program: Program) -> Award:
    """The award with each budgeted campaign's lines cut to what its budget has left."""
    # Compared with the exact points, fractions included: a budget is never overdrawn by the
    # halves that the final rounding could turn into a whole point.
    cut: dict[str, Decimal] = {
        key: Decimal(left[key])
        for key, points in award.campaign_shares().items()
        if key in left and points > left[key]
    }
    if not cut:
        return award
    lines = []
    for line in award.breakdown:
        if line.campaign in cut:
            allowed = cut[line.campaign]
            given = min(line.points, allowed)
            cut[line.campaign] = allowed - given
            if given < line.points:
                ran_out = wording.text(program, "budget_ran_out", {"line": line.description})
                line = replace(line, points=given, description=ran_out, cut=True)
            else:
                line = replace(line, points=given)
        lines.append(line)
    return _total(tuple(lines), award.eligible_amount)


def _total(lines: tuple[BreakdownLine, ...], eligible: Decimal) -> Award:
    total = sum((line.points for line in lines), ZERO)
    points = int(total.to_integral_value(rounding=ROUND_FLOOR)) if total > 0 else 0
    return Award(points=points, breakdown=lines, eligible_amount=eligible)


def _money(amount: Decimal, currency: str) -> str:
    return f"{money.rounded(amount, currency)} {currency}"


def points_for_action(action_key: str, program: Program, tier: str | None = None) -> Award | None:
    """The action's fixed points, and its share of the member's tier multiplier (`tier`, the
    stored tier's key), rounded down: a 1.25x tier earns 12 points more on a 50-point action."""
    action = program.actions.get(action_key)
    if action is None:
        return None
    lines = [said(program, f"action:{action.key}", "action", Decimal(action.points))]
    boost = program.tier(tier) if tier is not None else None
    if boost is not None and boost.multiplier != 1:
        extra = max(Decimal(action.points) * (boost.multiplier - 1), -Decimal(action.points))
        lines.append(
            said(
                program, f"tier:{boost.key}", "tier_multiplier", extra, multiplier=boost.multiplier
            )
        )
    return _total(tuple(lines), ZERO)


def bonus_line(program: Program, rule: str, phrase: str, points: int) -> dict[str, Any]:
    """The breakdown of a fixed bonus (signup, birthday, referral): one line, its rule."""
    return said(program, rule, phrase, Decimal(points)).as_json()


def upper_bound(purchase: Purchase, program: Program) -> Decimal:
    """The most `points_for` can give this purchase under this program, whatever the
    circumstances: every multiplier and every fixed amount at once."""
    rate = max(program.purchase_rates.values(), default=ZERO)
    multipliers = [r.multiplier for r in program.purchase_rules if r.multiplier] + [
        c.multiplier for c in program.campaigns if c.multiplier
    ]
    boost = 1 + sum((max(m - 1, ZERO) for m in multipliers), ZERO)
    boost += max((max(t.multiplier - 1, ZERO) for t in program.tiers), default=ZERO)
    units = sum(line.quantity for line in purchase.lines)
    fixed = sum(
        Decimal(r.points * min(units, r.max_units))
        if r.kind is RuleKind.PER_PRODUCT
        else Decimal(r.points)
        for r in program.purchase_rules
        if r.points
    ) + sum((Decimal(c.points) for c in program.campaigns if c.points), ZERO)
    return purchase.goods_paid * rate * boost + fixed
