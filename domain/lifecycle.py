"""What the points life-cycle jobs would do to one wallet at a given moment: a pure function of
the wallet's lots and debt, so that a date can be previewed without writing anything.

It follows the jobs (domain/jobs.py) step by step, in their order: held lots whose time has
come are released, and the released points repay debt first, from the soonest-expiring lots;
then lots past their expiry lose what is left of them; then each expiry moment within the
reminder window, not yet reminded, is one reminder.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

FAR_FUTURE = datetime.max


@dataclass(frozen=True)
class LotState:
    id: int
    remaining: int
    pending: bool
    available_at: datetime
    expires_at: datetime | None
    reminded: bool


@dataclass(frozen=True)
class WalletDue:
    released_lots: int = 0
    released: int = 0  # points that become spendable
    repaid: int = 0  # of those, points that go to what the member owes
    expired_lots: int = 0
    expired: int = 0  # points that go to breakage
    reminders: int = 0  # expiry moments the member is told about
    reminded: int = 0  # points those reminders are about


def due(lots: list[LotState], debt: int, at: datetime, reminder_days: int | None) -> WalletDue:
    released = [lot for lot in lots if lot.pending and lot.remaining and lot.available_at <= at]
    held_over = {lot.id for lot in released}
    lots = [replace(lot, pending=False) if lot.id in held_over else lot for lot in lots]
    released_points = sum(lot.remaining for lot in released)
    repaid = min(debt, released_points)
    lots = _draw(lots, repaid)

    expiring = [
        lot
        for lot in lots
        if not lot.pending and lot.remaining and lot.expires_at is not None and lot.expires_at <= at
    ]
    expired = {lot.id for lot in expiring}
    lots = [lot for lot in lots if lot.id not in expired]

    moments: dict[datetime, int] = {}
    if reminder_days:
        horizon = at + timedelta(days=reminder_days)
        for lot in lots:
            if (
                not lot.pending
                and lot.remaining
                and not lot.reminded
                and lot.expires_at is not None
                and at < lot.expires_at <= horizon
            ):
                moments[lot.expires_at] = moments.get(lot.expires_at, 0) + lot.remaining
    return WalletDue(
        released_lots=len(released),
        released=released_points,
        repaid=repaid,
        expired_lots=len(expiring),
        expired=sum(lot.remaining for lot in expiring),
        reminders=len(moments),
        reminded=sum(moments.values()),
    )


def _draw(lots: list[LotState], points: int) -> list[LotState]:
    """Takes `points` from the spendable lots the way a debit does: soonest expiry first,
    never-expiring last, oldest first among equals."""
    if not points:
        return lots
    order = sorted(
        (lot for lot in lots if not lot.pending and lot.remaining),
        key=lambda lot: (lot.expires_at is None, lot.expires_at or FAR_FUTURE, lot.id),
    )
    taken: dict[int, int] = {}
    for lot in order:
        if not points:
            break
        take = min(points, lot.remaining)
        taken[lot.id] = take
        points -= take
    return [replace(lot, remaining=lot.remaining - taken.get(lot.id, 0)) for lot in lots]
