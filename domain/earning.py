"""How many points a purchase or an action earns: pure functions over the program.

A purchase is evaluated by a sequence of rules; each adds a line to the breakdown, and the
total is rounded down once, at the end, so that fractions from several rules are not lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal, localcontext
from typing import Protocol

from domain.program import Program


@dataclass(frozen=True)
class PurchaseLine:
    sku: str | None
    category: str | None
    quantity: int
    unit_price: Decimal


@dataclass(frozen=True)
class Purchase:
    amount: Decimal
    currency: str
    shipping: Decimal = Decimal(0)
    tax: Decimal = Decimal(0)
    lines: tuple[PurchaseLine, ...] = ()

    @property
    def eligible_amount(self) -> Decimal:
        """What the member actually paid for goods: shipping and tax earn nothing."""
        return max(self.amount - self.shipping - self.tax, Decimal(0))


@dataclass(frozen=True)
class BreakdownLine:
    rule: str
    description: str
    points: Decimal

    def as_json(self) -> dict[str, str]:
        return {"rule": self.rule, "description": self.description, "points": str(self.points)}


@dataclass(frozen=True)
class Award:
    points: int
    breakdown: tuple[BreakdownLine, ...]

    def breakdown_json(self) -> list[dict[str, str]]:
        return [line.as_json() for line in self.breakdown]


class PurchaseRule(Protocol):
    def evaluate(self, purchase: Purchase) -> BreakdownLine | None: ...


@dataclass(frozen=True)
class BaseRate:
    """Points per whole currency unit of the eligible amount, by currency."""

    rates: dict[str, Decimal]

    def evaluate(self, purchase: Purchase) -> BreakdownLine | None:
        rate = self.rates.get(purchase.currency)
        if rate is None:
            return None
        eligible = purchase.eligible_amount
        return BreakdownLine(
            rule="base",
            description=f"{rate} points per {purchase.currency} on {eligible} {purchase.currency}",
            points=eligible * rate,
        )


def purchase_rules(program: Program) -> tuple[PurchaseRule, ...]:
    return (BaseRate(dict(program.purchase_rates)),)


def points_for(purchase: Purchase, rules: Sequence[PurchaseRule]) -> Award:
    # Enough digits that no product or sum is rounded before the one floor at the end.
    with localcontext(prec=80):
        lines = tuple(line for rule in rules if (line := rule.evaluate(purchase)) is not None)
        total = sum((line.points for line in lines), Decimal(0))
    points = int(total.to_integral_value(rounding=ROUND_FLOOR)) if total > 0 else 0
    return Award(points=points, breakdown=lines)


def points_for_action(action_key: str, program: Program) -> Award | None:
    action = program.actions.get(action_key)
    if action is None:
        return None
    line = BreakdownLine(
        rule=f"action:{action.key}", description=action.name.get(), points=Decimal(action.points)
    )
    return Award(points=action.points, breakdown=(line,))
