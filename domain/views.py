"""Read models: members and their transactions as the API shows them.

The write path builds them from what it has just written (so a mutation answers without
reading back), and the read path from rows; both spell them the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from domain import sql


@dataclass(frozen=True)
class MemberView:
    id: int
    external_id: str
    display_name: str | None
    email: str | None
    birthday: date | None
    referral_code: str
    created_at: datetime
    account_id: int
    balance: int
    pending: int
    lifetime: int


@dataclass(frozen=True)
class TransactionView:
    id: int
    member_id: int
    kind: str
    points: int
    balance_after: int
    description: str | None
    reference: str | None
    occurred_at: datetime
    created_at: datetime


@dataclass(frozen=True)
class ExpiringView:
    expires_at: datetime
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
    created_at: datetime
    cancelled_at: datetime | None


MEMBER_SELECT = (
    "SELECT m.id, m.external_id, m.display_name, m.email, m.birthday, m.referral_code, "
    "m.created_at, m.account_id, a.balance, a.pending, a.lifetime "
    "FROM member m JOIN account a ON a.id = m.account_id"
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
        account_id=int(r["account_id"]),
        balance=int(r["balance"]),
        pending=int(r["pending"]),
        lifetime=int(r["lifetime"]),
    )


TRANSACTION_COLUMNS = (
    "t.id, t.member_id, t.kind, t.description, t.reference, t.occurred_at, t.created_at, "
    "e.amount, e.balance_after"
)


def transaction_view(r: dict[str, Any]) -> TransactionView:
    return TransactionView(
        id=int(r["id"]),
        member_id=int(r["member_id"]),
        kind=r["kind"],
        points=int(r["amount"]),
        balance_after=int(r["balance_after"]),
        description=r["description"],
        reference=r["reference"],
        occurred_at=sql.to_datetime(r["occurred_at"]),
        created_at=sql.to_datetime(r["created_at"]),
    )


@dataclass(frozen=True)
class Changed:
    """What a mutation changed, as of the moment it committed."""

    member: MemberView
    transaction: TransactionView | None
