"""The points ledger: every movement is a transaction whose entries sum to zero.

A member's wallet caches its spendable `balance`, its `pending` points and its `lifetime`
earnings. Debits are one guarded UPDATE (`balance >= amount`), which on PostgreSQL also takes
the row lock that serialises everything else done to that wallet's lots in the same
transaction; SQLite serialises writers anyway. A CHECK constraint is the backstop.

Credits create lots; debits consume them soonest-expiry first and record the draws, so that a
reversal can put points back into the very lots they came from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from domain import sql
from domain.errors import DomainError, ErrorCode
from domain.models import Account
from domain.program import MAX_POINTS
from domain.unit import Unit
from domain.views import Changed, MemberView, TransactionView

ISSUANCE = "issuance"  # points the program creates when members earn
REDEMPTION = "redemption"  # points members spend on rewards
ADJUSTMENT = "adjustment"  # the operator's corrections
BREAKAGE = "breakage"  # points that expired unspent
SYSTEM_ACCOUNTS = (ISSUANCE, REDEMPTION, ADJUSTMENT, BREAKAGE)
MEMBER = "member"

# One movement is at most a billion points; a wallet holds at most what the API's Int shows.
MAX_MOVEMENT = MAX_POINTS
MAX_WALLET = 2**31 - 1

_system_ids: dict[str, int] = {}


async def ensure_system_accounts() -> None:
    """Creates the system accounts if missing and remembers their ids."""
    _system_ids.clear()
    for code in SYSTEM_ACCOUNTS:
        account, _ = await Account.get_or_create(code=code, defaults={"kind": code})
        _system_ids[code] = account.id


def system_account(code: str) -> int:
    try:
        return _system_ids[code]
    except KeyError:
        raise RuntimeError("ledger.ensure_system_accounts() has not run") from None


@dataclass(frozen=True)
class Wallet:
    member_id: int
    account_id: int

    @classmethod
    def of(cls, member: MemberView) -> Wallet:
        return cls(member_id=member.id, account_id=member.account_id)


@dataclass(frozen=True)
class Posting:
    """What a transaction is, apart from its amounts."""

    kind: str
    source: str
    description: str | None = None
    reference: str | None = None
    breakdown: list[dict[str, Any]] | None = None
    occurred_at: datetime | None = None
    reverses_id: int | None = None


@dataclass(frozen=True)
class Movement:
    """A posted transaction, seen from the member's wallet."""

    transaction: TransactionView
    balance: int
    pending: int
    lifetime: int

    @property
    def transaction_id(self) -> int:
        return self.transaction.id

    @property
    def points(self) -> int:
        return self.transaction.points


def changed(member: MemberView, movement: Movement) -> Changed:
    """The member and the transaction as they were when the movement committed."""
    return Changed(
        member=replace(
            member, balance=movement.balance, pending=movement.pending, lifetime=movement.lifetime
        ),
        transaction=movement.transaction,
    )


class WalletFull(DomainError):
    def __init__(self) -> None:
        super().__init__(
            ErrorCode.LIMIT_EXCEEDED,
            f"This would take the member past the most points a wallet holds ({MAX_WALLET}).",
            None,
        )


class InsufficientPoints(DomainError):
    def __init__(self, wanted: int) -> None:
        super().__init__(
            ErrorCode.INSUFFICIENT_POINTS, f"Not enough points: {wanted} are needed.", None
        )


def expiry_for(unit: Unit) -> datetime | None:
    """Points stay valid through the whole local day N days from now, ending at midnight in
    the program's time zone, so that a day's lots expire together and read simply."""
    days = unit.program.expiry_days
    if not days:
        return None
    zone = ZoneInfo(unit.program.timezone)
    last_day = unit.now.astimezone(zone).date() + timedelta(days=days)
    return datetime.combine(last_day + timedelta(days=1), time(), zone).astimezone(UTC)


async def credit(
    unit: Unit,
    wallet: Wallet,
    points: int,
    counter: str,
    posting: Posting,
    *,
    counts_toward_lifetime: bool,
) -> Movement:
    """Gives the member `points` from a system account, as a new lot."""
    _require_positive(points)
    lifetime = points if counts_toward_lifetime else 0
    state = await _add(unit, wallet, points, lifetime)
    transaction_id = await _insert_transaction(unit, wallet, posting)
    await _insert_entries(unit, transaction_id, wallet, points, counter, state["balance"])
    await _insert_lot(unit, wallet, transaction_id, points, expiry_for(unit))
    return _moved(unit, wallet, transaction_id, points, posting, state)


async def debit(
    unit: Unit,
    wallet: Wallet,
    points: int,
    counter: str,
    posting: Posting,
    *,
    counts_toward_lifetime: bool = False,
) -> Movement:
    """Takes `points` from the member's spendable balance, or raises InsufficientPoints."""
    _require_positive(points)
    lifetime = points if counts_toward_lifetime else 0
    state = await sql.row(
        unit.conn,
        "UPDATE account SET balance = balance - ?, "
        "lifetime = CASE WHEN lifetime > ? THEN lifetime - ? ELSE 0 END "
        "WHERE id = ? AND balance >= ? RETURNING balance, pending, lifetime",
        [points, lifetime, lifetime, wallet.account_id, points],
    )
    if state is None:
        raise InsufficientPoints(points)
    transaction_id = await _insert_transaction(unit, wallet, posting)
    await _insert_entries(unit, transaction_id, wallet, -points, counter, state["balance"])
    await _draw_from_lots(unit, wallet, transaction_id, points)
    return _moved(unit, wallet, transaction_id, -points, posting, state)


async def reverse_debit(
    unit: Unit, wallet: Wallet, debit_transaction_id: int, counter: str, posting: Posting
) -> Movement:
    """Undoes a debit: its points go back into the lots they were drawn from.

    A lot that has expired since is not revived: its share comes back as a fresh lot with the
    program's default expiry, so that giving points back never hands out expired ones.
    """
    draws = await sql.rows(
        unit.conn,
        "SELECT d.lot_id, d.amount, "
        "CASE WHEN l.expires_at IS NOT NULL AND l.expires_at <= ? THEN 1 ELSE 0 END AS expired "
        "FROM lot_draw d JOIN lot l ON l.id = d.lot_id WHERE d.transaction_id = ? ORDER BY d.id",
        [unit.now, debit_transaction_id],
    )
    points = sum(d["amount"] for d in draws)
    _require_positive(points)
    state = await _add(unit, wallet, points, 0)
    transaction_id = await _insert_transaction(unit, wallet, posting)
    await _insert_entries(unit, transaction_id, wallet, points, counter, state["balance"])
    live = [(d["amount"], d["lot_id"]) for d in draws if not d["expired"]]
    if live:
        await sql.execute_many(
            unit.conn, "UPDATE lot SET remaining = remaining + ? WHERE id = ?", live
        )
        await _insert_draws(unit, transaction_id, [(lot, -amount) for amount, lot in live])
    expired = sum(d["amount"] for d in draws if d["expired"])
    if expired:
        await _insert_lot(unit, wallet, transaction_id, expired, expiry_for(unit))
    return _moved(unit, wallet, transaction_id, points, posting, state)


def _require_positive(points: int) -> None:
    if not isinstance(points, int) or points <= 0:
        raise ValueError(f"a ledger movement needs a positive whole number of points: {points!r}")
    if points > MAX_MOVEMENT:
        raise DomainError(
            ErrorCode.LIMIT_EXCEEDED, f"One transaction moves at most {MAX_MOVEMENT} points.", None
        )


async def _add(unit: Unit, wallet: Wallet, points: int, lifetime: int) -> dict[str, Any]:
    """Credits the wallet, unless that would take it past MAX_WALLET."""
    state = await sql.row(
        unit.conn,
        "UPDATE account SET balance = balance + ?, lifetime = lifetime + ? "
        "WHERE id = ? AND balance + pending + ? <= ? AND lifetime + ? <= ? "
        "RETURNING balance, pending, lifetime",
        [points, lifetime, wallet.account_id, points, MAX_WALLET, lifetime, MAX_WALLET],
    )
    if state is None:
        raise WalletFull()
    return state


async def _insert_transaction(unit: Unit, wallet: Wallet, posting: Posting) -> int:
    inserted = await sql.row(
        unit.conn,
        "INSERT INTO ledger_transaction (kind, member_id, program_version_id, source, reference, "
        "description, breakdown, reverses_id, occurred_at, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        [
            posting.kind,
            wallet.member_id,
            unit.program.version,
            posting.source,
            posting.reference,
            posting.description,
            None if posting.breakdown is None else json.dumps(posting.breakdown),
            posting.reverses_id,
            posting.occurred_at or unit.now,
            unit.now,
        ],
    )
    assert inserted is not None
    return int(inserted["id"])


async def _insert_entries(
    unit: Unit, transaction_id: int, wallet: Wallet, amount: int, counter: str, balance_after: int
) -> None:
    await sql.execute(
        unit.conn,
        "INSERT INTO entry (transaction_id, account_id, amount, balance_after) "
        "VALUES (?, ?, ?, ?), (?, ?, ?, ?)",
        [
            transaction_id,
            wallet.account_id,
            amount,
            balance_after,
            transaction_id,
            system_account(counter),
            -amount,
            None,
        ],
    )


async def _insert_lot(
    unit: Unit, wallet: Wallet, transaction_id: int, points: int, expires_at: datetime | None
) -> None:
    await sql.execute(
        unit.conn,
        "INSERT INTO lot (account_id, transaction_id, amount, remaining, pending, available_at, "
        "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [wallet.account_id, transaction_id, points, points, False, unit.now, expires_at],
    )


async def _draw_from_lots(unit: Unit, wallet: Wallet, transaction_id: int, points: int) -> None:
    lock = " FOR UPDATE" if sql.is_postgres(unit.conn) else ""
    lots = await sql.rows(
        unit.conn,
        "SELECT id, remaining FROM lot WHERE account_id = ? AND remaining > 0 AND pending = ? "
        f"ORDER BY (expires_at IS NULL), expires_at, id{lock}",
        [wallet.account_id, False],
    )
    draws: list[tuple[int, int]] = []
    wanted = points
    for lot in lots:
        if wanted == 0:
            break
        take = min(wanted, int(lot["remaining"]))
        draws.append((int(lot["id"]), take))
        wanted -= take
    if wanted:
        # The guarded balance said yes but the lots disagree: the ledger is inconsistent, and
        # posting anyway would make it worse. Roll back and let the fault be seen.
        raise RuntimeError(f"wallet {wallet.account_id}: lots hold {points - wanted} of {points}")
    await sql.execute_many(
        unit.conn,
        "UPDATE lot SET remaining = remaining - ? WHERE id = ?",
        [(take, lot_id) for lot_id, take in draws],
    )
    await _insert_draws(unit, transaction_id, draws)


async def _insert_draws(unit: Unit, transaction_id: int, draws: list[tuple[int, int]]) -> None:
    params: list[int] = []
    for lot_id, amount in draws:
        params += [transaction_id, lot_id, amount]
    await sql.execute(
        unit.conn,
        f"INSERT INTO lot_draw (transaction_id, lot_id, amount) VALUES "
        f"{sql.values_clause(3, len(draws))}",
        params,
    )


def _moved(
    unit: Unit,
    wallet: Wallet,
    transaction_id: int,
    points: int,
    posting: Posting,
    state: dict[str, Any],
) -> Movement:
    balance = int(state["balance"])
    movement = Movement(
        transaction=TransactionView(
            id=transaction_id,
            member_id=wallet.member_id,
            kind=posting.kind,
            points=points,
            balance_after=balance,
            description=posting.description,
            reference=posting.reference,
            occurred_at=posting.occurred_at or unit.now,
            created_at=unit.now,
        ),
        balance=balance,
        pending=int(state["pending"]),
        lifetime=int(state["lifetime"]),
    )
    unit.emit(
        "points.changed",
        {
            "memberId": wallet.member_id,
            "transactionId": transaction_id,
            "kind": posting.kind,
            "delta": points,
            "balance": movement.balance,
            "pending": movement.pending,
            "lifetime": movement.lifetime,
        },
        member_id=wallet.member_id,
        transaction_id=transaction_id,
    )
    return movement
