"""lifecycle.due: what the jobs would do to one wallet, worked out from its lots alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from domain.lifecycle import LotState, WalletDue, due

AT = datetime(2027, 6, 1, tzinfo=UTC)


def lot(n: int, remaining: int, *, pending: bool = False, available: int = -1, expires=None):
    return LotState(
        id=n,
        remaining=remaining,
        pending=pending,
        available_at=AT + timedelta(days=available),
        expires_at=None if expires is None else AT + timedelta(days=expires),
        reminded=False,
    )


def test_released_points_repay_debt_from_the_soonest_expiring_lots_first():
    # 100 held points come due and repay 120 owed as far as they go: 100 of them, taken from
    # the lot expiring first (the one expiring today), which then has nothing left to expire.
    lots = [lot(1, 100, pending=True, expires=300), lot(2, 100, expires=0), lot(3, 50)]
    assert due(lots, 120, AT, None) == WalletDue(
        released_lots=1, released=100, repaid=100, expired_lots=0, expired=0
    )


def test_expired_and_reminded_lots_are_counted_once_per_moment():
    lots = [lot(1, 10, expires=0), lot(2, 20, expires=5), lot(3, 30, expires=5), lot(4, 5)]
    assert due(lots, 0, AT, 7) == WalletDue(expired_lots=1, expired=10, reminders=1, reminded=50)
    assert due(lots, 0, AT, None).reminders == 0


@st.composite
def wallets(draw: st.DrawFn) -> tuple[list[LotState], int]:
    count = draw(st.integers(0, 8))
    lots = [
        lot(
            n,
            draw(st.integers(0, 500)),
            pending=draw(st.booleans()),
            available=draw(st.integers(-5, 5)),
            expires=draw(st.one_of(st.none(), st.integers(-5, 40))),
        )
        for n in range(count)
    ]
    return lots, draw(st.integers(0, 2000))


@given(wallets(), st.sampled_from([None, 7, 30]))
def test_nothing_is_counted_twice_or_made_up(wallet: tuple[list[LotState], int], days):
    lots, debt = wallet
    found = due(lots, debt, AT, days)
    held = sum(x.remaining for x in lots if x.pending)
    spendable = sum(x.remaining for x in lots if not x.pending)
    assert 0 <= found.released <= held
    assert 0 <= found.repaid <= min(debt, found.released)
    assert 0 <= found.expired <= spendable + found.released - found.repaid
    assert found.reminded <= spendable + found.released - found.repaid - found.expired
    assert found.reminders <= found.reminded
