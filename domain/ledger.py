"""The points ledger: every movement is a transaction whose entries sum to zero.

A member's wallet caches its spendable `balance`, its `pending` points (earned, held for a
return window), its `lifetime` earnings and its `debt` (points a refund clawed back after they
were spent). Debits are one guarded UPDATE (`balance >= amount`), which on PostgreSQL also
takes the row lock that serialises everything else done to that wallet's lots in the same
transaction; SQLite serialises writers anyway. CHECK constraints are the backstop.

Credits create lots; debits consume them soonest-expiry first and record the draws, so that a
reversal can put points back into the very lots they came from. Debt lives in the
`receivable` system account: a clawback the wallet cannot cover is owed there, and later
earnings repay it before they reach the balance.

While the program's tiers count a window or spend, every change of a wallet's lifetime points
also writes its `tier_credit` row (domain.qualifying) in the same transaction: Σ of a member's
rows' points = its lifetime points.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from domain import events, qualifying, sql, wording
from domain.errors import DomainError, ErrorCode
from domain.models import Account
from domain.program import MAX_POINTS, Expiry
from domain.transaction_kind import TransactionKind
from domain.unit import Unit
from domain.views import MemberView, TransactionView
from domain.words import counted

ISSUANCE = "issuance"  # points the program creates when members earn
REDEMPTION = "redemption"  # points members spend on rewards
ADJUSTMENT = "adjustment"  # the operator's corrections
BREAKAGE = "breakage"  # points that expired unspent
RECEIVABLE = "receivable"  # points members owe after a refund clawed back spent points
SYSTEM_ACCOUNTS = (ISSUANCE, REDEMPTION, ADJUSTMENT, BREAKAGE, RECEIVABLE)
MEMBER = "member"

# One movement is at most a billion points; a wallet holds at most what the API's Int shows.
MAX_MOVEMENT = MAX_POINTS
MAX_WALLET = 2**31 - 1

_system_ids: dict[str, int] = {}


async def ensure_system_accounts() -> None:
    """Creates the system accounts if missing and remembers their ids."""
    found = await _system_account_ids()
    missing = [code for code in SYSTEM_ACCOUNTS if code not in found]
    if missing:
        # Another process may create them at the same moment: theirs stand, ours are dropped.
        await Account.bulk_create(
            [Account(code=code, kind=code) for code in missing], ignore_conflicts=True
        )
        found = await _system_account_ids()
    # Swapped in at once: requests posting while a new program version loads keep the ids.
    _system_ids.clear()
    _system_ids.update(found)


async def _system_account_ids() -> dict[str, int]:
    rows = await Account.filter(code__in=SYSTEM_ACCOUNTS).values_list("code", "id")
    return {str(code): int(account_id) for code, account_id in rows}


def system_account(code: str) -> int:
    try:
        return _system_ids[code]
    except KeyError:
        raise RuntimeError("ledger.ensure_system_accounts() has not run") from None


@dataclass(frozen=True)
class Wallet:
    member_id: int
    account_id: int
    # What the member owed when last read: a hint that lets the common case (no debt) credit
    # in one statement; the UPDATE itself checks it.
    debt: int = 0

    @classmethod
    def of(cls, member: MemberView) -> Wallet:
        return cls(member_id=member.id, account_id=member.account_id, debt=member.debt)


@dataclass(frozen=True)
class Posting:
    """What a transaction is, apart from its amounts."""

    kind: TransactionKind
    source: str
    description: str | None = None
    # Whose dealing it is: the partner of the purchase, action or reward; None for the
    # program's and the operator's own.
    partner: str | None = None
    reference: str | None = None
    breakdown: list[dict[str, Any]] | None = None
    occurred_at: datetime | None = None
    reverses_id: int | None = None
    # For tiers: when the activity counts (a refund: its purchase's moment; else occurred_at),
    # and the money a purchase spent on goods (amount, currency).
    earned_at: datetime | None = None
    spend: tuple[Decimal, str] | None = None

    def counted_at(self, unit: Unit) -> datetime:
        return self.earned_at or self.occurred_at or unit.now


@dataclass(frozen=True)
class Movement:
    """A posted transaction, seen from the member's wallet."""

    transaction: TransactionView
    balance: int
    pending: int
    lifetime: int
    debt: int

    @property
    def transaction_id(self) -> int:
        return self.transaction.id

    @property
    def points(self) -> int:
        return self.transaction.points


def after(member: MemberView, movement: Movement) -> MemberView:
    """The member as the movement left its wallet."""
    return replace(
        member,
        balance=movement.balance,
        pending=movement.pending,
        lifetime=movement.lifetime,
        debt=movement.debt,
    )


class LedgerInconsistent(RuntimeError):
    """What the ledger holds contradicts itself: the unit of work must roll back, loudly."""


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
            ErrorCode.INSUFFICIENT_POINTS,
            f"Not enough points: this takes {counted(wanted, 'point')}.",
            None,
        )


_STATE = "RETURNING balance, pending, lifetime, debt"
_ROOM = "balance + pending + ? <= ? AND lifetime + ? <= ?"


async def credit(
    unit: Unit,
    wallet: Wallet,
    points: int,
    against: str,
    posting: Posting,
    *,
    counts_toward_lifetime: bool,
    pending_days: int = 0,
    expiry: Expiry | None = None,
) -> Movement:
    """Gives the member `points` from a system account, as a new lot.

    Held points (`pending_days`) wait in `pending` until the release job; spendable ones first
    repay any debt, and only the rest reaches the balance and a lot.
    """
    _require_positive(points)
    lifetime = points if counts_toward_lifetime else 0
    expires_at = (expiry or unit.program.expiry).expires_at(unit.now, unit.program.zone)
    if pending_days:
        state = await _update(
            unit,
            wallet,
            f"pending = pending + ?, lifetime = lifetime + ? WHERE id = ? AND {_ROOM}",
            [points, lifetime, wallet.account_id, points, MAX_WALLET, lifetime, MAX_WALLET],
        )
        repaid = 0
    else:
        state, repaid = await _add_spendable(unit, wallet, points, lifetime)
    transaction_id = await _insert_transaction(unit, wallet, posting)
    legs = [
        (wallet.account_id, points - repaid, state["balance"]),
        (system_account(against), -points, None),
    ]
    if repaid:
        legs.append((system_account(RECEIVABLE), repaid, None))
    await _insert_entries(unit, transaction_id, legs)
    available = unit.now + timedelta(days=pending_days)
    if points - repaid:
        await _insert_lot(unit, wallet, transaction_id, points - repaid, expires_at, available)
    if counts_toward_lifetime and qualifying.kept(unit.program):
        await qualifying.record(
            unit.conn,
            wallet.member_id,
            points=points,
            occurred_at=posting.counted_at(unit),
            counts_from=available,
            spend=posting.spend,
        )
    return _moved(unit, wallet, transaction_id, points - repaid, posting, state)


async def debit(
    unit: Unit,
    wallet: Wallet,
    points: int,
    against: str,
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
        f"WHERE id = ? AND balance >= ? {_STATE}",
        [points, lifetime, lifetime, wallet.account_id, points],
    )
    if state is None:
        raise InsufficientPoints(points)
    transaction_id = await _insert_transaction(unit, wallet, posting)
    await _insert_entries(
        unit,
        transaction_id,
        [(wallet.account_id, -points, state["balance"]), (system_account(against), points, None)],
    )
    await _draw_from_lots(unit, wallet, transaction_id, points)
    if counts_toward_lifetime and qualifying.kept(unit.program):
        await qualifying.record(
            unit.conn,
            wallet.member_id,
            points=-points,
            occurred_at=posting.counted_at(unit),
            counts_from=unit.now,
        )
    return _moved(unit, wallet, transaction_id, -points, posting, state)


async def reverse_debit(
    unit: Unit, wallet: Wallet, debit_transaction_id: int, against: str, posting: Posting
) -> Movement:
    """Undoes a debit: its points go back into the very lots they were drawn from, with those
    lots' own expiry. What goes back into a lot that has expired since expires at once, to
    breakage, as if it had never been spent; giving points back never renews them.
    """
    draws = await sql.rows(
        unit.conn,
        "SELECT d.lot_id, d.amount, l.expires_at FROM lot_draw d JOIN lot l ON l.id = d.lot_id "
        "WHERE d.transaction_id = ? ORDER BY d.id",
        [debit_transaction_id],
    )
    points = sum(int(d["amount"]) for d in draws)
    _require_positive(points)
    state = await _update(
        unit,
        wallet,
        f"balance = balance + ? WHERE id = ? AND {_ROOM}",
        [points, wallet.account_id, points, MAX_WALLET, 0, MAX_WALLET],
    )
    transaction_id = await _insert_transaction(unit, wallet, posting)
    await _insert_entries(
        unit,
        transaction_id,
        [(wallet.account_id, points, state["balance"]), (system_account(against), -points, None)],
    )
    back = [(int(d["amount"]), int(d["lot_id"])) for d in draws]
    await sql.execute_many(unit.conn, "UPDATE lot SET remaining = remaining + ? WHERE id = ?", back)
    await _insert_draws(unit, transaction_id, [(lot, -amount) for amount, lot in back])
    restored = _moved(unit, wallet, transaction_id, points, posting, state)
    drawn = [
        _Expiring(int(d["lot_id"]), int(d["amount"]), sql.to_datetime(d["expires_at"]))
        for d in draws
        if d["expires_at"] is not None
    ]
    past = [lot for lot in drawn if lot.expires_at <= unit.now]
    ended = restored
    if past:
        expired = await _expire(unit, wallet, past)
        ended = replace(ended, balance=expired.balance, debt=expired.debt)
    if ended.debt:
        live = points - sum(lot.points for lot in past)
        repaid = await _repay_debt(unit, wallet, _state_of(ended), live, "repaid_on_return")
        if repaid is not None:
            ended = replace(ended, balance=repaid.balance, debt=repaid.debt)
    # The reversal itself still shows what came back; the wallet is as it ends.
    return ended


async def clawback(
    unit: Unit,
    wallet: Wallet,
    points: int,
    from_lot: int | None,
    against: str,
    posting: Posting,
    *,
    unearned: int | None = None,
) -> Movement:
    """Takes back `points` a credit gave (a refunded purchase's, say).

    Points still pending in `from_lot` are simply cancelled. Otherwise they come out of the
    balance, `from_lot` first; what the member has already spent becomes debt, repaid by later
    earnings. Lifetime earnings drop by `unearned` (all of `points` unless told more: a refund
    also unearns points of the purchase that expired): those points were never really earned.
    """
    _require_positive(points)
    unearned = points if unearned is None else max(unearned, points)
    account = await lock(unit, wallet)
    lot = None
    if from_lot is not None:
        lot = await sql.row(
            unit.conn,
            "SELECT id, remaining, pending, available_at FROM lot WHERE id = ?",
            [from_lot],
        )
    from_pending = min(points, int(lot["remaining"])) if lot and lot["pending"] else 0
    from_balance = min(points - from_pending, int(account["balance"]))
    owed = points - from_pending - from_balance
    state = await _update(
        unit,
        wallet,
        "pending = pending - ?, balance = balance - ?, debt = debt + ?, "
        "lifetime = CASE WHEN lifetime > ? THEN lifetime - ? ELSE 0 END WHERE id = ?",
        [from_pending, from_balance, owed, unearned, unearned, wallet.account_id],
    )
    taken = from_pending + from_balance
    transaction_id = await _insert_transaction(unit, wallet, posting)
    legs = [(wallet.account_id, -taken, state["balance"]), (system_account(against), points, None)]
    if owed:
        legs.append((system_account(RECEIVABLE), -owed, None))
    await _insert_entries(unit, transaction_id, legs)
    if from_pending and from_lot is not None:
        await _take_from_lots(unit, transaction_id, [(from_lot, from_pending)])
    if from_balance:
        await _draw_from_lots(unit, wallet, transaction_id, from_balance, first=from_lot)
    # Held points never counted yet: taking them back counts from when they would have.
    counts_from = unit.now
    if lot is not None and lot["pending"]:
        counts_from = max(unit.now, sql.to_datetime(lot["available_at"]))
    if qualifying.kept(unit.program):
        await qualifying.record(
            unit.conn,
            wallet.member_id,
            points=-unearned,
            occurred_at=posting.counted_at(unit),
            counts_from=counts_from,
            spend=posting.spend,
        )
    return _moved(unit, wallet, transaction_id, -taken, posting, state)


async def unearn(unit: Unit, wallet: Wallet, points: int, earned_at: datetime | None = None) -> int:
    """Lowers lifetime earnings by `points` (not below zero) without moving any: a refund of
    points that expired before it (earned at `earned_at`). Returns the lifetime earnings after."""
    state = await _update(
        unit,
        wallet,
        "lifetime = CASE WHEN lifetime > ? THEN lifetime - ? ELSE 0 END WHERE id = ?",
        [points, points, wallet.account_id],
    )
    if qualifying.kept(unit.program):
        await qualifying.record(
            unit.conn,
            wallet.member_id,
            points=-points,
            occurred_at=earned_at or unit.now,
            counts_from=unit.now,
        )
    return int(state["lifetime"])


async def release_due(unit: Unit, wallet: Wallet) -> tuple[int, Movement | None]:
    """Makes the wallet's held points whose time has come spendable. They repay debt first
    (a REPAY transaction); the rest joins the balance. Returns the points released."""
    await lock(unit, wallet)
    lots = await sql.rows(
        unit.conn,
        "SELECT id, remaining FROM lot WHERE account_id = ? AND pending = ? AND available_at <= ? "
        f"ORDER BY id{sql.for_update(unit.conn)}",
        [wallet.account_id, True, unit.now],
    )
    if not lots:
        return 0, None
    released = sum(int(lot["remaining"]) for lot in lots)
    await sql.execute(
        unit.conn,
        f"UPDATE lot SET pending = ? WHERE id IN ({sql.in_list(len(lots))})",
        [False, *[lot["id"] for lot in lots]],
    )
    state = await _update(
        unit,
        wallet,
        "pending = pending - ?, balance = balance + ? WHERE id = ?",
        [released, released, wallet.account_id],
    )
    movement = await _repay_debt(unit, wallet, state, released, "repaid_on_release")
    repay = -movement.points if movement else 0
    state = _state_of(movement) if movement else state
    if released:
        unit.emit(
            events.PointsReleased(
                member_id=wallet.member_id,
                points=released,
                repaid=repay,
                balance=int(state["balance"]),
                pending=int(state["pending"]),
            )
        )
    return released, movement


async def _repay_debt(
    unit: Unit, wallet: Wallet, state: dict[str, Any], arrived: int, phrase: str
) -> Movement | None:
    """Points that just reached the balance settle what the member owes first: a REPAY
    transaction of up to `arrived` points, from the soonest-expiring lots, described by
    `phrase` (domain.wording)."""
    repay = min(int(state["debt"]), arrived)
    if not repay:
        return None
    state = await _update(
        unit,
        wallet,
        "balance = balance - ?, debt = debt - ? WHERE id = ?",
        [repay, repay, wallet.account_id],
    )
    posting = Posting(
        kind=TransactionKind.REPAY, source="program", description=wording.text(unit.program, phrase)
    )
    transaction_id = await _insert_transaction(unit, wallet, posting)
    await _insert_entries(
        unit,
        transaction_id,
        [(wallet.account_id, -repay, state["balance"]), (system_account(RECEIVABLE), repay, None)],
    )
    await _draw_from_lots(unit, wallet, transaction_id, repay)
    return _moved(unit, wallet, transaction_id, -repay, posting, state)


def _state_of(movement: Movement) -> dict[str, Any]:
    return {
        "balance": movement.balance,
        "pending": movement.pending,
        "lifetime": movement.lifetime,
        "debt": movement.debt,
    }


@dataclass(frozen=True)
class _Expiring:
    lot_id: int
    points: int
    expires_at: datetime


async def expire_due(unit: Unit, wallet: Wallet) -> Movement | None:
    """Moves the spendable points of the wallet's lots that have expired to breakage."""
    await lock(unit, wallet)
    lots = await sql.rows(
        unit.conn,
        "SELECT id, remaining, expires_at FROM lot WHERE account_id = ? AND pending = ? "
        "AND remaining > 0 AND expires_at IS NOT NULL AND expires_at <= ? "
        f"ORDER BY expires_at, id{sql.for_update(unit.conn)}",
        [wallet.account_id, False, unit.now],
    )
    if not lots:
        return None
    return await _expire(
        unit,
        wallet,
        [
            _Expiring(int(r["id"]), int(r["remaining"]), sql.to_datetime(r["expires_at"]))
            for r in lots
        ],
    )


async def _expire(unit: Unit, wallet: Wallet, lots: list[_Expiring]) -> Movement:
    """One EXPIRE transaction taking `points` from each of these lots to breakage."""
    points = sum(lot.points for lot in lots)
    state = await sql.row(
        unit.conn,
        f"UPDATE account SET balance = balance - ? WHERE id = ? AND balance >= ? {_STATE}",
        [points, wallet.account_id, points],
    )
    if state is None:
        raise LedgerInconsistent(f"wallet {wallet.account_id}: its lots hold more than its balance")
    posting = Posting(
        kind=TransactionKind.EXPIRE,
        source="program",
        description=wording.text(unit.program, "expired"),
    )
    transaction_id = await _insert_transaction(unit, wallet, posting)
    await _insert_entries(
        unit,
        transaction_id,
        [(wallet.account_id, -points, state["balance"]), (system_account(BREAKAGE), points, None)],
    )
    await _take_from_lots(unit, transaction_id, [(lot.lot_id, lot.points) for lot in lots])
    movement = _moved(unit, wallet, transaction_id, -points, posting, state)
    unit.emit(
        events.PointsExpired(
            member_id=wallet.member_id,
            points=points,
            transaction_id=transaction_id,
            expired_at=tuple(sorted({lot.expires_at for lot in lots})),
        ),
        transaction_id=transaction_id,
    )
    return movement


def _require_positive(points: int) -> None:
    if not isinstance(points, int) or points <= 0:
        raise ValueError(f"a ledger movement needs a positive whole number of points: {points!r}")
    if points > MAX_MOVEMENT:
        raise DomainError(
            ErrorCode.LIMIT_EXCEEDED, f"One transaction moves at most {MAX_MOVEMENT} points.", None
        )


async def lock(unit: Unit, wallet: Wallet) -> dict[str, Any]:
    """The wallet row, locked until commit on PostgreSQL (SQLite has one writer anyway)."""
    account = await sql.row(
        unit.conn,
        "SELECT balance, pending, lifetime, debt FROM account WHERE id = ?"
        + sql.for_update(unit.conn),
        [wallet.account_id],
    )
    if account is None:
        raise LedgerInconsistent(f"wallet {wallet.account_id} disappeared")
    return account


async def current(unit: Unit, member: MemberView) -> MemberView:
    """The member with its wallet as it is now, locked until commit (see `lock`)."""
    account = await lock(unit, Wallet.of(member))
    return replace(
        member,
        balance=int(account["balance"]),
        pending=int(account["pending"]),
        lifetime=int(account["lifetime"]),
        debt=int(account["debt"]),
    )


async def _update(unit: Unit, wallet: Wallet, assignments: str, params: list[Any]) -> dict:
    state = await sql.row(unit.conn, f"UPDATE account SET {assignments} {_STATE}", params)
    if state is None:
        raise WalletFull()
    return state


async def _add_spendable(
    unit: Unit, wallet: Wallet, points: int, lifetime: int
) -> tuple[dict[str, Any], int]:
    """Credits the balance, repaying debt first; returns the new state and what was repaid."""
    if wallet.debt == 0:
        state = await sql.row(
            unit.conn,
            "UPDATE account SET balance = balance + ?, lifetime = lifetime + ? "
            f"WHERE id = ? AND debt = 0 AND {_ROOM} {_STATE}",
            [points, lifetime, wallet.account_id, points, MAX_WALLET, lifetime, MAX_WALLET],
        )
        if state is not None:
            return state, 0
    owed = int((await lock(unit, wallet))["debt"])
    repay = min(owed, points)
    state = await _update(
        unit,
        wallet,
        f"balance = balance + ?, debt = debt - ?, lifetime = lifetime + ? WHERE id = ? AND {_ROOM}",
        [
            points - repay,
            repay,
            lifetime,
            wallet.account_id,
            points - repay,
            MAX_WALLET,
            lifetime,
            MAX_WALLET,
        ],
    )
    return state, repay


async def _insert_transaction(unit: Unit, wallet: Wallet, posting: Posting) -> int:
    inserted = await sql.row(
        unit.conn,
        "INSERT INTO ledger_transaction (kind, member_id, program_version_id, source, partner, "
        "reference, description, breakdown, reverses_id, occurred_at, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        [
            posting.kind,
            wallet.member_id,
            unit.program.version,
            posting.source,
            posting.partner,
            posting.reference,
            posting.description,
            None if posting.breakdown is None else json.dumps(posting.breakdown),
            posting.reverses_id,
            posting.occurred_at or unit.now,
            unit.now,
        ],
    )
    if inserted is None:
        raise LedgerInconsistent("INSERT ... RETURNING gave no transaction id")
    return int(inserted["id"])


async def _insert_entries(
    unit: Unit, transaction_id: int, legs: list[tuple[int, int, int | None]]
) -> None:
    """The legs (account, amount, balance after) of one transaction; they sum to zero."""
    if sum(amount for _, amount, _ in legs) != 0:
        raise LedgerInconsistent(f"unbalanced transaction: {legs}")
    params: list[Any] = []
    for account_id, amount, balance_after in legs:
        params += [transaction_id, account_id, amount, balance_after]
    await sql.execute(
        unit.conn,
        "INSERT INTO entry (transaction_id, account_id, amount, balance_after) "
        f"VALUES {sql.values_clause(4, len(legs))}",
        params,
    )


async def _insert_lot(
    unit: Unit,
    wallet: Wallet,
    transaction_id: int,
    points: int,
    expires_at: datetime | None,
    available_at: datetime,
) -> None:
    await sql.execute(
        unit.conn,
        "INSERT INTO lot (account_id, transaction_id, amount, remaining, pending, available_at, "
        "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            wallet.account_id,
            transaction_id,
            points,
            points,
            available_at > unit.now,
            available_at,
            expires_at,
        ],
    )


async def _draw_from_lots(
    unit: Unit, wallet: Wallet, transaction_id: int, points: int, first: int | None = None
) -> None:
    """Takes `points` from the wallet's spendable lots: lot `first` before any other, then
    soonest expiry first, never-expiring last, oldest first among equals."""
    lots = await sql.rows(
        unit.conn,
        "SELECT id, remaining FROM lot WHERE account_id = ? AND remaining > 0 AND pending = ? "
        f"ORDER BY (id = ?) DESC, (expires_at IS NULL), expires_at, id{sql.for_update(unit.conn)}",
        [wallet.account_id, False, first or 0],
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
        raise LedgerInconsistent(
            f"wallet {wallet.account_id}: lots hold {points - wanted} of {points}"
        )
    await _take_from_lots(unit, transaction_id, draws)


async def _take_from_lots(unit: Unit, transaction_id: int, draws: list[tuple[int, int]]) -> None:
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
            partner=posting.partner,
            occurred_at=posting.occurred_at or unit.now,
            created_at=unit.now,
            breakdown=tuple(posting.breakdown or ()),
        ),
        balance=balance,
        pending=int(state["pending"]),
        lifetime=int(state["lifetime"]),
        debt=int(state["debt"]),
    )
    unit.emit(
        events.PointsChanged(
            member_id=wallet.member_id,
            transaction_id=transaction_id,
            kind=posting.kind,
            delta=points,
            balance=movement.balance,
            pending=movement.pending,
            lifetime=movement.lifetime,
            debt=movement.debt,
        ),
        transaction_id=transaction_id,
    )
    return movement
