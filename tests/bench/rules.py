"""How fast the earning engine evaluates one purchase: domain.earning.points_for alone.

No database, no HTTP: a program with 50 active purchase rules and campaigns of every kind (the
base test program plus generated sections, read by the real program-file reader), and purchases
of 1, 10 and 50 lines whose skus and categories the rules name. The base program (no rules) is
the reference row. Each figure is the median of several timed runs of many evaluations.

`make bench` prints this table after the others; `python -m tests.bench.rules` prints it alone.
BENCH_RULES_RUNS (timed runs per row) and BENCH_RULES_SECONDS (the length of one run) trade
precision for time. It asserts nothing about time.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal

from domain.earning import Circumstances, Purchase, PurchaseLine, points_for
from domain.program import Program
from domain.program_file import load_program
from tests.helpers import BASE_PROGRAM

RUNS = int(os.environ.get("BENCH_RULES_RUNS", "7"))
SECONDS = float(os.environ.get("BENCH_RULES_SECONDS", "0.25"))
RULE_COUNTS = (0, 50)
LINE_COUNTS = (1, 10, 50)

CATEGORIES = [f"cat-{n}" for n in range(12)] + ["gift-cards", "deposits"]
SKUS = [f"SKU-{n:03d}" for n in range(60)]
# Evaluated in the campaigns' window, as a gold member at The Beanery, first purchase of the
# month: the restricted campaigns of other tiers and partners are looked at and skipped.
AT = Circumstances(
    occurred_at=datetime(2027, 6, 15, 12, 0, tzinfo=UTC),
    tier="gold",
    partner="beanery",
    first_purchase_of_month=True,
)
MULTIPLIERS = ("1.5", "2", "3")
AMOUNTS = '{ RON = "%s", EUR = "%s", USD = "%s", PLN = "%s", TRY = "%s" }'


def _amounts(ron: int) -> str:
    return AMOUNTS % (ron, ron // 5, ron // 4, ron, ron * 7)


def _names(items: list[str]) -> str:
    return "[" + ", ".join(f'"{item}"' for item in items) + "]"


def rule_sections() -> list[str]:
    """50 program-file sections: 30 purchase rules and 20 campaigns, every kind."""
    sections = []

    def rule(key: str, kind: str, body: str) -> None:
        sections.append(
            f'[[purchase_rules]]\nkey = "{key}"\nname = "Rule {key}"\nkind = "{kind}"\n{body}\n'
        )

    def campaign(key: str, kind: str, body: str) -> None:
        sections.append(
            f'[[campaigns]]\nkey = "{key}"\nname = "Campaign {key}"\nkind = "{kind}"\n'
            f"starts = 2026-01-01\nends = 2030-01-01\n{body}\n"
        )

    rule("no-gift-cards", "exclude", 'categories = ["gift-cards"]')
    rule("no-deposits", "exclude", 'categories = ["deposits"]')
    rule("minimum", "minimum_order", f"amounts = {_amounts(5)}")
    for n in range(8):  # multipliers by category or sku
        selector = (
            f"categories = {_names(CATEGORIES[n : n + 2])}"
            if n % 2 == 0
            else f"skus = {_names(SKUS[n * 5 : n * 5 + 5])}"
        )
        rule(f"multiplier-{n}", "multiplier", f'{selector}\nmultiplier = "{MULTIPLIERS[n % 3]}"')
    for n in range(10):  # fixed points per unit of some products
        rule(f"per-product-{n}", "per_product", f"skus = {_names(SKUS[n * 3 : n * 3 + 3])}")
        sections[-1] += f"points = {5 + n}\n"
    for n in range(9):  # spend thresholds, some reached, some not
        rule(
            f"threshold-{n}",
            "spend_threshold",
            f"amounts = {_amounts(50 * (n + 1) ** 2)}\npoints = {20 * (n + 1)}",
        )
    for n in range(6):  # multiplier campaigns, some for a tier or partner
        restriction = ["", 'tiers = ["gold"]', 'partners = ["beanery"]', 'tiers = ["silver"]'][
            n % 4
        ]
        selector = "" if n % 3 == 0 else f"categories = {_names(CATEGORIES[n : n + 3])}"
        campaign(
            f"boost-{n}",
            "multiplier",
            f'multiplier = "{2 + n % 2}"\n{selector}\n{restriction}\nbudget = 1000000',
        )
    for n in range(10):  # bonus campaigns on some lines, some restricted
        restriction = ["", 'partners = ["skyways"]', 'tiers = ["gold", "silver"]'][n % 3]
        selector = (
            f"skus = {_names(SKUS[n * 4 : n * 4 + 4])}"
            if n % 2
            else f"categories = {_names(CATEGORIES[n : n + 1])}"
        )
        campaign(f"bonus-{n}", "bonus", f"points = {10 * (n + 1)}\n{selector}\n{restriction}")
    for n in range(4):  # first purchase of the month
        restriction = ['partners = ["beanery"]', "", 'tiers = ["bronze"]', 'tiers = ["gold"]'][n]
        campaign(f"first-of-month-{n}", "first_purchase_of_month", f"points = {25 * (n + 1)}")
        sections[-1] += f"{restriction}\n"
    assert len(sections) == 50
    return sections


def program(rules: int) -> Program:
    text = BASE_PROGRAM.read_text(encoding="utf-8") + "\n" + "\n".join(rule_sections()[:rules])
    loaded = load_program(text)
    assert len(loaded.purchase_rules) + len(loaded.campaigns) == rules
    return loaded


def purchase(lines: int, seed: int = 7) -> Purchase:
    rng = random.Random(seed * 1000 + lines)
    items = tuple(
        PurchaseLine(
            sku=rng.choice(SKUS),
            category=rng.choice(CATEGORIES),
            quantity=rng.randint(1, 3),
            unit_price=Decimal(rng.randint(100, 20_000)) / 100,
        )
        for _ in range(lines)
    )
    goods = sum((item.total for item in items), Decimal(0))
    shipping, tax = Decimal("9.99"), (goods * Decimal("0.19")).quantize(Decimal("0.01"))
    return Purchase(
        amount=goods + shipping + tax, currency="RON", shipping=shipping, tax=tax, lines=items
    )


def measure(prog: Program, bought: Purchase) -> tuple[float, int]:
    """Median seconds per evaluation over RUNS runs of about SECONDS each, and the number of
    breakdown lines (how many rules and campaigns had something to say)."""
    award = points_for(bought, AT, prog)
    assert award.points > 0
    # Calibrate: enough evaluations per run to last about SECONDS.
    count, elapsed = 1, 0.0
    while elapsed < SECONDS / 10:
        count *= 2
        start = time.perf_counter()
        for _ in range(count):
            points_for(bought, AT, prog)
        elapsed = time.perf_counter() - start
    count = max(1, int(count * SECONDS / elapsed))
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        for _ in range(count):
            points_for(bought, AT, prog)
        samples.append((time.perf_counter() - start) / count)
    return statistics.median(samples), len(award.breakdown)


def print_table() -> None:
    print(
        f"purchase evaluation (domain.earning.points_for, no database), "
        f"Python {sys.version.split()[0]}, median of {RUNS} runs of ~{SECONDS:g} s"
    )
    print()
    print(f"{'rules':>7}{'lines':>7}{'breakdown':>11}{'evaluations/s':>16}{'µs/evaluation':>16}")
    for rules in RULE_COUNTS:
        prog = program(rules)
        for lines in LINE_COUNTS:
            seconds, breakdown = measure(prog, purchase(lines))
            print(f"{rules:>7}{lines:>7}{breakdown:>11}{1 / seconds:>16,.0f}{seconds * 1e6:>16.1f}")
    print()


if __name__ == "__main__":
    print_table()
