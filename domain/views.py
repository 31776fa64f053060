"""Read models: members and their transactions as the API shows them.

The write path builds them from what it has just written (so a mutation answers without
reading back), and the read path from rows; both spell them the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from domain import sql
from domain.transaction_kind import TransactionKind


@dataclass(frozen=True)
class MemberView:
    id: int
    external_id: str
    display_name: str | None
    email: str | None
    birthday: date | None
    referral_code: str
    created_at: datetime
    referred_by: int | None
    account_id: int
    balance: int
    pending: int
    lifetime: int
    debt: int
    tier: str | None = None  # the stored tier's key; None: never given one (the base tier)

    @property
    def qualifying_points(self) -> int:
        """What lifetime-points tiers count: lifetime earnings less those still pending. Points
        a return may yet take back never lift a tier (nor open a reward or campaign kept for
        one); they count once released. Windowed tiers sum `domain.qualifying` instead."""
        return max(self.lifetime - self.pending, 0)


@dataclass(frozen=True)
class TransactionView:
    id: int
    member_id: int
    kind: TransactionKind
    points: int
    balance_after: int
    description: str | None
    reference: str | None
    partner: str | None  # whose dealing it is; None for the program's and the operator's
    occurred_at: datetime
    created_at: datetime
    # How an earning was worked out: {rule, description, points} per rule that contributed,
    # as stored (JSON text, or already parsed); `breakdown_of` reads it.
    breakdown: Any = ()


@dataclass(frozen=True)
class ExpiringView:
    expires_at: datetime
    points: int


@dataclass(frozen=True)
class PendingView:
    available_at: datetime
    points: int


@dataclass(frozen=True)
class RedemptionView:
    id: int
    member_id: int
    reward_key: str
    points: int
    code: str
    status: str
    transaction_id: int
    partner: str | None  # the partner whose reward it is, as it was when redeemed
    created_at: datetime
    cancelled_at: datetime | None
    fulfilled_at: datetime | None


@dataclass(frozen=True)
class PurchaseView:
    id: int
    member_id: int
    source: str
    order_id: str
    amount: Decimal
    currency: str
    eligible_amount: Decimal
    points: int
    refunded_amount: Decimal
    points_clawed_back: int
    occurred_at: datetime
    transaction_id: int | None


REDEMPTION_SELECT = (
    "SELECT r.id, r.member_id, r.reward_key, r.points, r.code, r.status, r.transaction_id, "
    "r.created_at, r.cancelled_at, r.fulfilled_at, t.partner FROM redemption r "
    "JOIN ledger_transaction t ON t.id = r.transaction_id"
)


def redemption_view(r: dict[str, Any]) -> RedemptionView:
    return RedemptionView(
        id=int(r["id"]),
        member_id=int(r["member_id"]),
        reward_key=r["reward_key"],
        points=int(r["points"]),
        code=r["code"],
        status=r["status"],
        transaction_id=int(r["transaction_id"]),
        partner=r["partner"],
        created_at=sql.to_datetime(r["created_at"]),
        cancelled_at=None if r["cancelled_at"] is None else sql.to_datetime(r["cancelled_at"]),
        fulfilled_at=None if r["fulfilled_at"] is None else sql.to_datetime(r["fulfilled_at"]),
    )


PURCHASE_COLUMNS = (
    "p.id, p.member_id, p.source, p.order_id, p.amount, p.currency, p.eligible_amount, "
    "p.points, p.refunded_amount, p.points_clawed_back, p.occurred_at, p.transaction_id"
)


def purchase_view(r: dict[str, Any]) -> PurchaseView:
    return PurchaseView(
        id=int(r["id"]),
        member_id=int(r["member_id"]),
        source=r["source"],
        order_id=r["order_id"],
        amount=Decimal(str(r["amount"])),
        currency=r["currency"],
        eligible_amount=Decimal(str(r["eligible_amount"])),
        points=int(r["points"]),
        refunded_amount=Decimal(str(r["refunded_amount"])),
        points_clawed_back=int(r["points_clawed_back"]),
        occurred_at=sql.to_datetime(r["occurred_at"]),
        transaction_id=None if r["transaction_id"] is None else int(r["transaction_id"]),
    )


MEMBER_SELECT = (
    "SELECT m.id, m.external_id, m.display_name, m.email, m.birthday, m.referral_code, "
    "m.created_at, m.referred_by_id, m.account_id, a.balance, a.pending, a.lifetime, a.debt, "
    "mt.tier_key FROM member m JOIN account a ON a.id = m.account_id "
    "LEFT JOIN member_tier mt ON mt.member_id = m.id"
)


def member_view(r: dict[str, Any]) -> MemberView:
    return MemberView(
        id=int(r["id"]),
        external_id=r["external_id"],
        display_name=r["display_name"],
        email=r["email"],
        birthday=sql.to_date(r["birthday"]),
        referral_code=r["referral_code"],
        created_at=sql.to_datetime(r["created_at"]),
        referred_by=r["referred_by_id"],
        account_id=int(r["account_id"]),
        balance=int(r["balance"]),
        pending=int(r["pending"]),
        lifetime=int(r["lifetime"]),
        debt=int(r["debt"]),
        tier=r.get("tier_key"),
    )


TRANSACTION_COLUMNS = (
    "t.id, t.member_id, t.kind, t.description, t.reference, t.partner, t.occurred_at, "
    "t.created_at, t.breakdown, e.amount, e.balance_after"
)


def transaction_view(r: dict[str, Any]) -> TransactionView:
    return TransactionView(
        id=int(r["id"]),
        member_id=int(r["member_id"]),
        kind=TransactionKind(r["kind"]),
        points=int(r["amount"]),
        balance_after=int(r["balance_after"]),
        description=r["description"],
        reference=r["reference"],
        partner=r["partner"],
        occurred_at=sql.to_datetime(r["occurred_at"]),
        created_at=sql.to_datetime(r["created_at"]),
        breakdown=r["breakdown"],
    )


def breakdown_of(view: TransactionView) -> list[dict[str, Any]]:
    lines = sql.to_json(view.breakdown) or []
    return [line for line in lines if isinstance(line, dict)]
