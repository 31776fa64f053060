"""Recording a purchase: the points it earns, once per order per source."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from tortoise.exceptions import IntegrityError

from domain import (
    earning,
    events,
    idempotency,
    ledger,
    members,
    qualifying,
    referrals,
    sql,
    text,
    tiers,
    views,
    wording,
)
from domain.actors import Actor
from domain.clock import utcnow
from domain.errors import DomainError, ErrorCode, InvalidInput
from domain.models import PurchaseLine
from domain.money import canonical, parse_amount, parse_currency_code
from domain.program import CampaignKind, Period, Program
from domain.transaction_kind import TransactionKind
from domain.unit import Unit
from domain.words import counted

MAX_LINES = 500
# A till's clock may run a little fast; a purchase from further in the future is a mistake.
CLOCK_SKEW = timedelta(minutes=10)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
# Tries at recording a purchase while others spend the same campaign budget.
BUDGET_ATTEMPTS = 5


@dataclass(frozen=True)
class LineInput:
    sku: str | None
    category: str | None
    quantity: object
    unit_price: object


@dataclass(frozen=True)
class PurchaseInput:
    member: members.MemberRef
    order_id: str
    amount: object
    currency: object
    shipping: object = None
    tax: object = None
    lines: tuple[LineInput, ...] = ()
    occurred_at: datetime | None = None
    discount: object = None  # off the order as a whole


@dataclass(frozen=True)
class Recorded:
    member: views.MemberView  # as the purchase (and any referral bonus it paid) left it
    purchase: views.PurchaseView
    transaction: views.TransactionView | None  # None when the purchase earned nothing


def _optional(value: str | None, field: str, limit: int) -> str | None:
    return None if value is None else text.plain(value, field, limit)


def parse(data: PurchaseInput, now: datetime) -> tuple[earning.Purchase, datetime | None]:
    """The purchase as given, checked for form only: what the program accepts (its currencies)
    is checked later, after a replay has had its chance to answer."""
    text.plain(data.order_id, "orderId", 128)
    amount = parse_amount(data.amount, "amount")
    currency = parse_currency_code(data.currency, "currency")
    shipping = parse_amount(
        "0" if data.shipping is None else data.shipping, "shipping", allow_zero=True
    )
    tax = parse_amount("0" if data.tax is None else data.tax, "tax", allow_zero=True)
    discount = parse_amount(
        "0" if data.discount is None else data.discount, "discount", allow_zero=True
    )
    if shipping + tax > amount:
        raise InvalidInput(
            "amount",
            "amount must include shipping and tax, so it cannot be smaller than their sum.",
        )
    if len(data.lines) > MAX_LINES:
        raise InvalidInput("lines", f"A purchase can have at most {MAX_LINES} lines.")
    lines = []
    for index, line in enumerate(data.lines):
        where = f"lines[{index}]"
        quantity = line.quantity
        if (
            isinstance(quantity, bool)
            or not isinstance(quantity, int)
            or not (1 <= quantity <= 1_000_000)
        ):
            raise InvalidInput(
                f"{where}.quantity", "quantity must be a whole number from 1 to 1000000."
            )
        lines.append(
            earning.PurchaseLine(
                sku=_optional(line.sku, f"{where}.sku", 100),
                category=_optional(line.category, f"{where}.category", 100),
                quantity=quantity,
                unit_price=parse_amount(line.unit_price, f"{where}.unitPrice", allow_zero=True),
            )
        )
    occurred_at = data.occurred_at
    if occurred_at is not None:
        if occurred_at.tzinfo is None:
            raise InvalidInput("occurredAt", "occurredAt must include a time zone offset.")
        if occurred_at > now + CLOCK_SKEW:
            raise InvalidInput("occurredAt", "occurredAt cannot be in the future.")
        if occurred_at < EARLIEST:
            raise InvalidInput("occurredAt", "occurredAt must be in this century.")
        # Stored in UTC, like every moment we write: SQLite compares them as text.
        occurred_at = occurred_at.astimezone(UTC)
    purchase = earning.Purchase(
        amount=amount,
        currency=currency,
        shipping=shipping,
        tax=tax,
        lines=tuple(lines),
        discount=discount,
    )
    if lines and not earning.lines_add_up(purchase):
        total = sum((line.total for line in lines), Decimal(0))
        raise InvalidInput(
            "lines",
            f"The lines add up to {canonical(total)}; less the discount ({canonical(discount)}) "
            f"and with shipping ({canonical(shipping)}), with or without tax "
            f"({canonical(tax)}), that must be the amount paid ({canonical(amount)}), to the "
            "cent.",
        )
    return purchase, occurred_at


async def record(
    program: Program,
    actor: Actor,
    data: PurchaseInput,
    idempotency_key: object,
    now: datetime | None = None,
) -> Recorded:
    now = now or utcnow()
    purchase, occurred_at = parse(data, now)
    req = idempotency.request(
        actor.scope,
        idempotency_key,
        "recordPurchase",
        {
            "memberId": data.member.id,
            "externalId": data.member.external_id,
            "orderId": data.order_id,
            "amount": canonical(purchase.amount),
            "currency": purchase.currency,
            "shipping": canonical(purchase.shipping),
            "tax": canonical(purchase.tax),
            "discount": canonical(purchase.discount),
            "lines": [
                [ln.sku, ln.category, ln.quantity, canonical(ln.unit_price)]
                for ln in purchase.lines
            ],
            "occurredAt": occurred_at,
        },
    )

    async def work(unit: Unit) -> Recorded:
        accepted_currency(purchase.currency, unit.program)
        member = await members.find(data.member)
        wallet = ledger.Wallet.of(member)
        when = occurred_at or unit.now
        evaluated = await evaluate(unit, purchase, member, actor, when)
        award = evaluated.award
        if award.points > ledger.MAX_MOVEMENT:
            raise DomainError(
                ErrorCode.LIMIT_EXCEEDED,
                f"This purchase would earn {counted(award.points, 'point')}; one purchase earns "
                f"at most {ledger.MAX_MOVEMENT}.",
                "amount",
            )
        transaction = None
        held = hold(unit.program, actor)
        spent = (award.eligible_amount, purchase.currency) if award.eligible_amount > 0 else None
        if award.points > 0:
            movement = await ledger.credit(
                unit,
                wallet,
                award.points,
                ledger.ISSUANCE,
                ledger.Posting(
                    kind=TransactionKind.EARN,
                    source=actor.source,
                    partner=actor.partner_key,
                    reference=data.order_id,
                    description=wording.text(unit.program, "purchase", {"order": data.order_id}),
                    breakdown=award.breakdown_json(),
                    occurred_at=occurred_at,
                    spend=spent,
                ),
                counts_toward_lifetime=True,
                pending_days=held,
            )
            transaction = movement.transaction
            member = ledger.after(member, movement)
        elif spent is not None and qualifying.kept(unit.program):
            # Earned nothing, yet spent money: that still counts toward tiers.
            await qualifying.record(
                unit.conn,
                wallet.member_id,
                points=0,
                occurred_at=when,
                counts_from=unit.now + timedelta(days=held),
                spend=spent,
            )
        try:
            row = await sql.row(
                unit.conn,
                "INSERT INTO purchase (member_id, source, order_id, amount, shipping, tax, "
                "discount, currency, eligible_amount, points, refunded_amount, "
                "points_clawed_back, occurred_at, transaction_id, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, ?, ?, ?) RETURNING id",
                [
                    wallet.member_id,
                    actor.source,
                    data.order_id,
                    purchase.amount,
                    purchase.shipping,
                    purchase.tax,
                    purchase.discount,
                    purchase.currency,
                    award.eligible_amount,
                    award.points,
                    when,
                    None if transaction is None else transaction.id,
                    unit.now,
                ],
            )
        except IntegrityError:
            raise DomainError(
                ErrorCode.DUPLICATE,
                f"Order {data.order_id!r} was already recorded by this source.",
                "orderId",
            ) from None
        if row is None:
            raise RuntimeError("INSERT ... RETURNING gave no row")
        bought = views.PurchaseView(
            id=int(row["id"]),
            member_id=wallet.member_id,
            source=actor.source,
            order_id=data.order_id,
            amount=purchase.amount,
            currency=purchase.currency,
            eligible_amount=award.eligible_amount,
            points=award.points,
            refunded_amount=Decimal(0),
            points_clawed_back=0,
            occurred_at=when,
            transaction_id=None if transaction is None else transaction.id,
        )
        if purchase.lines:
            await PurchaseLine.bulk_create(
                [
                    PurchaseLine(
                        purchase_id=bought.id,
                        sku=ln.sku,
                        category=ln.category,
                        quantity=ln.quantity,
                        unit_price=ln.unit_price,
                    )
                    for ln in purchase.lines
                ],
                using_db=unit.conn,
            )
        unit.emit(
            _event(bought.id, wallet, data, purchase, award, actor.source),
            transaction_id=bought.transaction_id,
        )
        if member.referred_by is not None and unit.program.referral is not None:
            member = await referrals.reward_first_purchase(
                unit, member, purchase, award, bought.id, held
            )
        await charge_budgets(unit, evaluated)
        member = await tiers.settle(unit, member)
        return Recorded(member=member, purchase=bought, transaction=transaction)

    attempts = 0
    while True:
        try:
            return (await idempotency.run_once(req, program, work, Recorded, now)).result
        except BudgetMoved as moved:
            attempts += 1
            if attempts == BUDGET_ATTEMPTS:
                raise DomainError(
                    ErrorCode.LIMIT_EXCEEDED,
                    f"Campaign {moved} is being spent by many purchases at once; try again.",
                    None,
                ) from None


def accepted_currency(currency: str, program: Program) -> None:
    if currency not in program.purchase_rates:
        accepted = ", ".join(sorted(program.purchase_rates))
        raise InvalidInput(
            "currency", f"{currency} is not a currency this program accepts ({accepted})."
        )


def hold(program: Program, actor: Actor) -> int:
    """Days a purchase's points wait: the recording partner's return window, or the program's."""
    partner = program.partners.get(actor.partner_key or "")
    if partner is not None and partner.pending_days is not None:
        return partner.pending_days
    return program.purchase_pending_days


class BudgetMoved(Exception):
    """Another purchase spent a campaign's budget after this one read it: try again."""


@dataclass(frozen=True)
class Evaluated:
    award: earning.Award
    budgets: dict[str, int]  # the budget of each campaign the award charges


async def evaluate(
    unit: Unit, purchase: earning.Purchase, member: views.MemberView, actor: Actor, when: datetime
) -> Evaluated:
    """The points, with what only the database knows: whether this is the member's first
    purchase of the month (asked only if a campaign cares) and what campaign budgets have left.

    Budgets are read without a lock and charged by `charge_budgets`, last: a purchase locks
    wallets first and budget rows last, so purchases never wait on each other in a circle."""
    program = unit.program
    at = earning.Circumstances(
        occurred_at=when,
        tier=program.tiers[tiers.current(program, member)].key,
        partner=actor.partner_key,
    )
    campaigns = earning.active_campaigns(program, at)
    if any(c.kind is CampaignKind.FIRST_PURCHASE_OF_MONTH for c in campaigns):
        # The wallet's lock makes a member's purchases of the month take turns: two at once
        # cannot both be the first.
        await ledger.lock(unit, ledger.Wallet.of(member))
        at = replace(at, first_purchase_of_month=not await _bought_in_month(unit, member, when))
    award = earning.points_for(purchase, at, program)
    budgets = {c.key: c.budget for c in campaigns if c.budget is not None}
    charged = [key for key in award.campaign_points() if key in budgets]
    if not charged:
        return Evaluated(award, {})
    spent = await campaigns_spent(unit, charged)
    award = earning.within_budgets(
        award, {key: max(budgets[key] - spent.get(key, 0), 0) for key in charged}, program
    )
    return Evaluated(award, {key: budgets[key] for key in charged})


async def campaigns_spent(unit: Unit, keys: list[str]) -> dict[str, int]:
    rows = await sql.rows(
        unit.conn,
        f"SELECT campaign_key, spent FROM campaign_budget WHERE campaign_key IN "
        f"({sql.in_list(len(keys))})",
        keys,
    )
    return {r["campaign_key"]: int(r["spent"]) for r in rows}


async def charge_budgets(unit: Unit, evaluated: Evaluated) -> None:
    """Charges each campaign what it gave, unless that would overdraw it (a purchase that
    read the budget at the same time got there first): then BudgetMoved."""
    for key, points in evaluated.award.campaign_points().items():
        if key not in evaluated.budgets:
            continue
        charged = await sql.execute(
            unit.conn,
            "UPDATE campaign_budget SET spent = spent + ? WHERE campaign_key = ? "
            "AND spent + ? <= ?",
            [points, key, points, evaluated.budgets[key]],
        )
        if not charged:
            raise BudgetMoved(key)


async def _bought_in_month(unit: Unit, member: views.MemberView, when: datetime) -> bool:
    """Whether the member has any other purchase in the calendar month of `when`, before or
    after it: a purchase recorded late must not be a second "first" of its month."""
    zone = unit.program.zone
    month = Period.MONTH.start(when, zone)
    assert month is not None
    following = Period.MONTH.start(month.astimezone(zone) + timedelta(days=32), zone)
    found = await sql.row(
        unit.conn,
        "SELECT 1 AS yes FROM purchase WHERE member_id = ? AND occurred_at >= ? "
        "AND occurred_at < ? LIMIT 1",
        [member.id, month, following],
    )
    return found is not None


def _event(
    purchase_id: int,
    wallet: ledger.Wallet,
    data: PurchaseInput,
    purchase: earning.Purchase,
    award: earning.Award,
    source: str,
) -> events.PurchaseRecorded:
    return events.PurchaseRecorded(
        member_id=wallet.member_id,
        purchase_id=purchase_id,
        source=source,
        order_id=data.order_id,
        amount=purchase.amount,
        discount=purchase.discount,
        eligible_amount=award.eligible_amount,
        currency=purchase.currency,
        points=award.points,
        lines=tuple(
            events.PurchasedLine(
                sku=ln.sku, category=ln.category, quantity=ln.quantity, unit_price=ln.unit_price
            )
            for ln in purchase.lines
        ),
    )
