"""The ledger (domain/ledger.py): lots, draws, reversals, the CHECK backstop, lifetime, expiry
and the points.changed events, on both databases."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from tortoise.exceptions import IntegrityError

from domain import adjustments, ledger, members, purchases, redemptions, sql
from domain import events as events_catalogue
from domain.actors import ADMIN
from domain.errors import DomainError, ErrorCode
from domain.program import NEVER, Expiry, Program
from domain.unit import unit_of_work
from tests.helpers import Stores, assert_ledger_consistent, new_key, table_counts

EARN = ledger.Posting(kind="EARN", source="admin", description="test credit")
SPEND = ledger.Posting(kind="REDEEM", source="admin", description="test debit")


async def enroll(db: Stores, external_id: str = "ana") -> ledger.Wallet:
    member_id = (
        await members.enroll(db.program, ADMIN, members.Enrollment(external_id), None)
    ).member.id
    return ledger.Wallet.of(await members.find(members.MemberRef(id=member_id)))


async def credit(
    program: Program, wallet: ledger.Wallet, points: int, *, lifetime: bool = True
) -> ledger.Movement:
    async with unit_of_work(program) as unit:
        return await ledger.credit(
            unit, wallet, points, ledger.ISSUANCE, EARN, counts_toward_lifetime=lifetime
        )


async def debit(program: Program, wallet: ledger.Wallet, points: int) -> ledger.Movement:
    async with unit_of_work(program) as unit:
        return await ledger.debit(unit, wallet, points, ledger.REDEMPTION, SPEND)


async def lots(wallet: ledger.Wallet) -> list[dict[str, Any]]:
    found = await sql.rows(
        sql.connection(),
        "SELECT id, transaction_id, amount, remaining, expires_at FROM lot "
        "WHERE account_id = ? ORDER BY id",
        [wallet.account_id],
    )
    return [
        {
            "id": int(r["id"]),
            "transaction_id": int(r["transaction_id"]),
            "amount": int(r["amount"]),
            "remaining": int(r["remaining"]),
            "expires_at": None if r["expires_at"] is None else sql.to_datetime(r["expires_at"]),
        }
        for r in found
    ]


async def remaining(wallet: ledger.Wallet) -> dict[int, int]:
    return {lot["id"]: lot["remaining"] for lot in await lots(wallet)}


async def draws(transaction_id: int) -> list[tuple[int, int]]:
    found = await sql.rows(
        sql.connection(),
        "SELECT lot_id, amount FROM lot_draw WHERE transaction_id = ? ORDER BY id",
        [transaction_id],
    )
    return [(int(r["lot_id"]), int(r["amount"])) for r in found]


async def wallet_state(wallet: ledger.Wallet) -> dict[str, int]:
    found = await sql.row(
        sql.connection(),
        "SELECT balance, pending, lifetime FROM account WHERE id = ?",
        [wallet.account_id],
    )
    assert found is not None
    return {k: int(v) for k, v in found.items()}


def local_midnight_after(moment: datetime, days: int, zone: str) -> datetime:
    """The end of the local day `days` days after `moment`'s local day, in UTC."""
    tz = ZoneInfo(zone)
    day = moment.astimezone(tz).date() + timedelta(days=days + 1)
    return datetime.combine(day, time(), tz).astimezone(UTC)


async def purchase(db: Stores, wallet: ledger.Wallet, amount: str) -> purchases.Recorded:
    return await purchases.record(
        db.program,
        ADMIN,
        purchases.PurchaseInput(
            member=members.MemberRef(id=wallet.member_id),
            order_id=new_key(),
            amount=amount,
            currency="RON",
        ),
        new_key(),
    )


async def redeem(db: Stores, wallet: ledger.Wallet, reward: str) -> redemptions.Redeemed:
    return await redemptions.redeem(
        db.program, ADMIN, members.MemberRef(id=wallet.member_id), reward, new_key()
    )


async def cancel(db: Stores, redemption_id: int) -> redemptions.Redeemed:
    return await redemptions.cancel(db.program, ADMIN, redemption_id, new_key())


# -- which lots a debit consumes ---------------------------------------------------------------


async def test_debits_take_soonest_expiry_first_oldest_first_among_equals_never_expiring_last(
    db: Stores,
):
    wallet = await enroll(db)
    in_365 = db.program
    in_30 = replace(db.program, expiry=Expiry(days=30))
    never = replace(db.program, expiry=NEVER)
    await credit(in_365, wallet, 100)  # a: expires in a year
    await credit(never, wallet, 100)  # b: never expires
    await credit(in_30, wallet, 100)  # c: expires in a month
    await credit(in_30, wallet, 100)  # d: the same moment as c, credited later
    a, b, c, d = await lots(wallet)
    assert b["expires_at"] is None
    assert c["expires_at"] == d["expires_at"] < a["expires_at"]

    first = await debit(db.program, wallet, 150)
    assert await draws(first.transaction_id) == [(c["id"], 100), (d["id"], 50)]
    assert await remaining(wallet) == {a["id"]: 100, b["id"]: 100, c["id"]: 0, d["id"]: 50}

    second = await debit(db.program, wallet, 120)
    assert await draws(second.transaction_id) == [(d["id"], 50), (a["id"], 70)]
    assert await remaining(wallet) == {a["id"]: 30, b["id"]: 100, c["id"]: 0, d["id"]: 0}

    third = await debit(db.program, wallet, 110)
    assert await draws(third.transaction_id) == [(a["id"], 30), (b["id"], 80)]
    assert await remaining(wallet) == {a["id"]: 0, b["id"]: 20, c["id"]: 0, d["id"]: 0}
    assert third.balance == 20
    await assert_ledger_consistent()


async def test_a_debit_across_several_lots_records_one_draw_per_lot(db: Stores):
    wallet = await enroll(db)
    for points in (40, 70, 90):
        await credit(db.program, wallet, points)
    ids = [lot["id"] for lot in await lots(wallet)]

    movement = await debit(db.program, wallet, 180)

    assert await draws(movement.transaction_id) == [(ids[0], 40), (ids[1], 70), (ids[2], 70)]
    assert movement.points == -180
    assert movement.balance == 20
    await assert_ledger_consistent()


# -- reversals ---------------------------------------------------------------------------------


async def test_cancelling_a_redemption_puts_the_points_back_into_the_very_lots_they_came_from(
    db: Stores,
):
    wallet = await enroll(db)
    await credit(replace(db.program, expiry=Expiry(days=30)), wallet, 400)
    await credit(db.program, wallet, 500)
    await credit(replace(db.program, expiry=NEVER), wallet, 300)
    before = await lots(wallet)

    redeemed = await redeem(db, wallet, "discount-10")  # 1000 points
    spent = await draws(redeemed.transaction.id)
    assert spent == [(before[0]["id"], 400), (before[1]["id"], 500), (before[2]["id"], 100)]
    assert [lot["remaining"] for lot in await lots(wallet)] == [0, 0, 200]

    cancelled = await cancel(db, redeemed.redemption.id)

    assert await lots(wallet) == before  # the same lots, the same remaining, no new lot
    assert await draws(cancelled.transaction.id) == [(lot, -amount) for lot, amount in spent]
    assert (await wallet_state(wallet))["balance"] == 1200
    await assert_ledger_consistent()


async def test_a_share_drawn_from_a_lot_that_has_expired_since_goes_back_and_expires_at_once(
    db: Stores,
):
    wallet = await enroll(db)
    await credit(replace(db.program, expiry=Expiry(days=30)), wallet, 600)
    await credit(db.program, wallet, 600)
    soon, later = await lots(wallet)
    redeemed = await redeem(db, wallet, "discount-10")
    assert await draws(redeemed.transaction.id) == [(soon["id"], 600), (later["id"], 400)]
    breakage = await account_total("breakage")

    # Cancelled a day after the first lot's expiry: its share is not given a new life.
    after_expiry = soon["expires_at"] + timedelta(days=1)
    cancelled = await redemptions.cancel(
        db.program, ADMIN, redeemed.redemption.id, new_key(), now=after_expiry
    )

    # No new lot: each share went back where it came from, with that lot's own expiry...
    assert await lots(wallet) == [{**soon, "remaining": 0}, later]
    assert await draws(cancelled.transaction.id) == [(soon["id"], -600), (later["id"], -400)]
    assert cancelled.transaction.points == 1000
    # ...and the expired lot's share expired at once, to breakage, as if never spent.
    (expire,) = await transactions_of(wallet, "EXPIRE")
    assert await draws(expire) == [(soon["id"], 600)]
    assert await account_total("breakage") == breakage + 600
    assert (await wallet_state(wallet))["balance"] == 600
    assert cancelled.member.balance == 600
    await assert_ledger_consistent()


async def account_total(code: str) -> int:
    found = await sql.row(
        sql.connection(),
        "SELECT COALESCE(SUM(e.amount), 0) AS total FROM entry e JOIN account a "
        "ON a.id = e.account_id WHERE a.code = ?",
        [code],
    )
    assert found is not None
    return int(found["total"])


async def transactions_of(wallet: ledger.Wallet, kind: str) -> list[int]:
    found = await sql.rows(
        sql.connection(),
        "SELECT id FROM ledger_transaction WHERE member_id = ? AND kind = ? ORDER BY id",
        [wallet.member_id, kind],
    )
    return [int(r["id"]) for r in found]


# -- refusing to overspend ---------------------------------------------------------------------


async def credit_then_overspend(program: Program, wallet: ledger.Wallet) -> None:
    async with unit_of_work(program) as unit:
        await ledger.credit(unit, wallet, 50, ledger.ISSUANCE, EARN, counts_toward_lifetime=True)
        await ledger.debit(unit, wallet, 1000, ledger.REDEMPTION, SPEND)


async def test_insufficient_points_raise_and_leave_nothing_behind(db: Stores):
    wallet = await enroll(db)
    await credit(db.program, wallet, 299)
    counts = await table_counts()
    state = await wallet_state(wallet)
    lot_rows = await lots(wallet)

    with pytest.raises(ledger.InsufficientPoints):
        await debit(db.program, wallet, 300)
    with pytest.raises(DomainError) as refused:
        await redeem(db, wallet, "plant-a-tree")  # 300 points
    assert refused.value.code is ErrorCode.INSUFFICIENT_POINTS
    # A credit earlier in the same unit of work goes too: the whole unit rolls back.
    with pytest.raises(ledger.InsufficientPoints):
        await credit_then_overspend(db.program, wallet)

    assert await table_counts() == counts
    assert await wallet_state(wallet) == state
    assert await lots(wallet) == lot_rows
    await assert_ledger_consistent()


async def test_the_check_constraint_refuses_a_negative_wallet(db: Stores):
    wallet = await enroll(db)
    await credit(db.program, wallet, 10)
    with pytest.raises(IntegrityError):
        await sql.execute(
            sql.connection(),
            "UPDATE account SET balance = balance - 11 WHERE id = ?",
            [wallet.account_id],
        )
    assert (await wallet_state(wallet))["balance"] == 10
    # System accounts cache no balance and are not bound by it.
    await sql.execute(
        sql.connection(),
        "UPDATE account SET balance = -5 WHERE id = ?",
        [ledger.system_account(ledger.ISSUANCE)],
    )
    await sql.execute(
        sql.connection(),
        "UPDATE account SET balance = 0 WHERE id = ?",
        [ledger.system_account(ledger.ISSUANCE)],
    )


async def test_the_check_constraint_refuses_a_lot_holding_more_than_it_was_given_or_below_zero(
    db: Stores,
):
    wallet = await enroll(db)
    await credit(db.program, wallet, 10)
    (lot,) = await lots(wallet)
    for bad in ("amount + 1", "-1"):
        with pytest.raises(IntegrityError):
            await sql.execute(
                sql.connection(), f"UPDATE lot SET remaining = {bad} WHERE id = ?", [lot["id"]]
            )
    assert await lots(wallet) == [lot]


# -- lifetime ----------------------------------------------------------------------------------


async def test_lifetime_grows_with_earning_ignores_redemptions_shrinks_with_negative_adjustments(
    db: Stores,
):
    wallet = await enroll(db)
    await purchase(db, wallet, "1200")
    assert await wallet_state(wallet) == {"balance": 1200, "pending": 0, "lifetime": 1200}

    redeemed = await redeem(db, wallet, "discount-10")
    assert await wallet_state(wallet) == {"balance": 200, "pending": 0, "lifetime": 1200}
    await cancel(db, redeemed.redemption.id)  # giving points back is not earning them
    assert await wallet_state(wallet) == {"balance": 1200, "pending": 0, "lifetime": 1200}

    await adjustments.adjust(
        db.program, ADMIN, members.MemberRef(id=wallet.member_id), -150, "goodwill", new_key()
    )
    assert await wallet_state(wallet) == {"balance": 1050, "pending": 0, "lifetime": 1050}
    await adjustments.adjust(
        db.program, ADMIN, members.MemberRef(id=wallet.member_id), 50, "goodwill", new_key()
    )
    assert await wallet_state(wallet) == {"balance": 1100, "pending": 0, "lifetime": 1100}
    await assert_ledger_consistent()


async def test_a_negative_adjustment_never_takes_lifetime_below_zero(db: Stores):
    wallet = await enroll(db)
    await credit(db.program, wallet, 1000, lifetime=False)  # a transfer in, say: not earned
    await purchase(db, wallet, "100")
    assert await wallet_state(wallet) == {"balance": 1100, "pending": 0, "lifetime": 100}

    await adjustments.adjust(
        db.program, ADMIN, members.MemberRef(id=wallet.member_id), -500, "fraud", new_key()
    )
    assert await wallet_state(wallet) == {"balance": 600, "pending": 0, "lifetime": 0}
    await assert_ledger_consistent()


# -- expiry ------------------------------------------------------------------------------------


async def test_points_expire_at_local_midnight_in_the_program_time_zone_a_year_on(db: Stores):
    assert db.program.timezone == "Europe/Bucharest"
    assert db.program.expiry == Expiry(days=365)
    wallet = await enroll(db)
    started = datetime.now(UTC)
    await credit(db.program, wallet, 10)
    finished = datetime.now(UTC)

    (lot,) = await lots(wallet)
    expires = lot["expires_at"]
    assert expires in {
        local_midnight_after(started, 365, "Europe/Bucharest"),
        local_midnight_after(finished, 365, "Europe/Bucharest"),
    }
    local = expires.astimezone(ZoneInfo("Europe/Bucharest"))
    assert local.time() == time(0)
    # Bucharest is UTC+2 or UTC+3: local midnight is 21:00 or 22:00 UTC, never UTC midnight.
    assert expires.astimezone(UTC).hour in (21, 22)
    today = started.astimezone(ZoneInfo("Europe/Bucharest")).date()
    assert (local.date() - today).days in (366, 365)  # 365 unless the day turned mid-test


async def test_a_program_without_expiry_gives_lots_that_never_expire(db: Stores):
    wallet = await enroll(db)
    await credit(replace(db.program, expiry=NEVER), wallet, 10)
    (lot,) = await lots(wallet)
    assert lot["expires_at"] is None


# -- events ------------------------------------------------------------------------------------


async def points_changed(transaction_id: int) -> list[dict[str, Any]]:
    found = await sql.rows(
        sql.connection(),
        "SELECT member_id, transaction_id, payload FROM outbox_event "
        "WHERE type = 'points.changed' AND transaction_id = ?",
        [transaction_id],
    )
    return [
        {
            **r,
            "payload": r["payload"] if isinstance(r["payload"], dict) else json.loads(r["payload"]),
        }
        for r in found
    ]


async def test_every_posting_writes_a_points_changed_event_with_its_delta_and_balance(
    db: Stores,
):
    wallet = await enroll(db)
    earned = await credit(db.program, wallet, 700)
    redeemed = await redeem(db, wallet, "coffee")  # 500
    spent = await debit(db.program, wallet, 50)
    cancelled = await cancel(db, redeemed.redemption.id)

    expected = [
        (earned.transaction_id, "EARN", 700, 700, 700),
        (redeemed.transaction.id, "REDEEM", -500, 200, 700),
        (spent.transaction_id, "REDEEM", -50, 150, 700),
        (cancelled.transaction.id, "CANCEL", 500, 650, 700),
    ]
    for transaction_id, kind, delta, balance, lifetime in expected:
        events = await points_changed(transaction_id)
        assert len(events) == 1, (kind, events)
        (event,) = events
        assert int(event["member_id"]) == wallet.member_id
        assert int(event["transaction_id"]) == transaction_id
        payload = event["payload"]
        assert payload == {
            "memberId": wallet.member_id,
            "transactionId": transaction_id,
            "kind": kind,
            "delta": delta,
            "balance": balance,
            "pending": 0,
            "lifetime": lifetime,
            "debt": 0,
            "occurredAt": payload["occurredAt"],
        }
        read, occurred_at = events_catalogue.read("points.changed", payload)
        assert read == events_catalogue.PointsChanged(
            member_id=wallet.member_id,
            transaction_id=transaction_id,
            kind=kind,
            delta=delta,
            balance=balance,
            pending=0,
            lifetime=lifetime,
            debt=0,
        )
        assert occurred_at is not None
        assert occurred_at.tzinfo is not None
    total = await sql.row(
        sql.connection(), "SELECT COUNT(*) AS n FROM outbox_event WHERE type = 'points.changed'"
    )
    assert total is not None
    assert int(total["n"]) == len(expected)


async def test_system_accounts_stay_known_while_a_new_program_version_reloads_them(db: Stores):
    # A program applied while requests run re-reads the system accounts: a request that posts
    # meanwhile must still find them, not fail for a moment.
    reload = asyncio.create_task(ledger.ensure_system_accounts())
    await asyncio.sleep(0)  # the reload is now waiting on the database
    assert not reload.done()
    assert ledger.system_account(ledger.ISSUANCE) > 0
    await reload
    wallet = await enroll(db)
    assert (await credit(db.program, wallet, 10)).balance == 10
