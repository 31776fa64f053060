"""The points life-cycle jobs (domain/jobs.py): release, expiry, reminders and birthdays.

Every job takes `now`, so the tests travel in time by passing one; what they set up is written
at the real clock. The CLI's `jobs run` is tested at the end, in a subprocess.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from app.runtime import prepare
from domain import adjustments, history, jobs, ledger, members, purchases, redemptions, refunds, sql
from domain.actors import ADMIN, Actor, ActorKind
from domain.program import Expiry, Program
from domain.program_file import load_program
from domain.unit import utcnow
from partners import registry
from tests.helpers import BASE_PROGRAM, Stores, assert_ledger_consistent, new_key

ROOT = Path(__file__).resolve().parents[2]
TICK = timedelta(microseconds=1)


def program_text(*, hold: bool = True, reminders: bool = True, birthday: bool = True) -> str:
    """The base program, with The Beanery holding its purchases' points for 14 days, expiry
    reminders 30 days ahead and a birthday bonus of 250."""
    text = BASE_PROGRAM.read_text()
    if hold:
        text = text.replace(
            'key = "beanery"\nname = "The Beanery"\ncurrency = "BEAN"\n',
            'key = "beanery"\nname = "The Beanery"\ncurrency = "BEAN"\npending_days = 14\n',
        )
    if reminders:
        text = text.replace(
            "expiry = { days = 365 }\n", "expiry = { days = 365 }\nreminder_days = 30\n"
        )
    if birthday:
        text += "\n[birthday]\npoints = 250\n"
    return text


async def use(db: Stores, text: str) -> Program:
    db.program = await prepare(load_program(text))
    return db.program


async def partner(program: Program, key: str) -> Actor:
    ids = await registry.sync(program)
    return Actor(ActorKind.PARTNER, partner_id=ids[key], partner_key=key)


async def enroll(program: Program, external_id: str, birthday: date | None = None) -> ledger.Wallet:
    enrolled = await members.enroll(
        program, ADMIN, members.Enrollment(external_id, birthday=birthday), None
    )
    return ledger.Wallet.of(enrolled.member)


async def buy(
    program: Program, wallet: ledger.Wallet, amount: str, at: str = "skyways"
) -> purchases.Recorded:
    return await purchases.record(
        program,
        await partner(program, at),
        purchases.PurchaseInput(
            member=members.MemberRef(id=wallet.member_id),
            order_id=new_key(),
            amount=amount,
            currency="RON",
        ),
        new_key(),
    )


async def adjust(program: Program, wallet: ledger.Wallet, points: int) -> None:
    await adjustments.adjust(
        program, ADMIN, members.MemberRef(id=wallet.member_id), points, "test", new_key()
    )


async def redeem(program: Program, wallet: ledger.Wallet, reward: str) -> None:
    await redemptions.redeem(
        program, ADMIN, members.MemberRef(id=wallet.member_id), reward, new_key()
    )


async def into_debt(program: Program, wallet: ledger.Wallet, points: int) -> None:
    """Earns `points` at SkyWays, spends them on discount-10s, then has SkyWays refund the
    purchase: the member owes `points`."""
    assert points % 1000 == 0
    bought = await buy(program, wallet, str(points))
    for _ in range(points // 1000):
        await redeem(program, wallet, "discount-10")
    await refunds.refund(
        program,
        await partner(program, "skyways"),
        refunds.PurchaseRef(id=bought.purchase.id),
        None,
        new_key(),
    )
    assert (await state(wallet))["debt"] == points


async def state(wallet: ledger.Wallet) -> dict[str, int]:
    row = await sql.row(
        sql.connection(),
        "SELECT balance, pending, lifetime, debt FROM account WHERE id = ?",
        [wallet.account_id],
    )
    assert row is not None
    return {k: int(v) for k, v in row.items()}


async def lots(wallet: ledger.Wallet) -> list[dict[str, Any]]:
    rows = await sql.rows(
        sql.connection(),
        "SELECT id, amount, remaining, pending, available_at, expires_at, reminded_at FROM lot "
        "WHERE account_id = ? ORDER BY id",
        [wallet.account_id],
    )
    return [
        {
            "id": int(r["id"]),
            "amount": int(r["amount"]),
            "remaining": int(r["remaining"]),
            "pending": bool(r["pending"]),
            "available_at": sql.to_datetime(r["available_at"]),
            "expires_at": None if r["expires_at"] is None else sql.to_datetime(r["expires_at"]),
            "reminded": r["reminded_at"] is not None,
        }
        for r in rows
    ]


async def transactions(wallet: ledger.Wallet, kind: str | None = None) -> list[dict[str, Any]]:
    rows = await sql.rows(
        sql.connection(),
        "SELECT t.id, t.kind, t.reference, e.amount FROM ledger_transaction t JOIN entry e "
        "ON e.transaction_id = t.id AND e.account_id = ? WHERE t.member_id = ? ORDER BY t.id",
        [wallet.account_id, wallet.member_id],
    )
    found = [
        {
            "id": int(r["id"]),
            "kind": r["kind"],
            "reference": r["reference"],
            "points": int(r["amount"]),
        }
        for r in rows
    ]
    return [t for t in found if kind is None or t["kind"] == kind]


async def draws(transaction_id: int) -> list[tuple[int, int]]:
    rows = await sql.rows(
        sql.connection(),
        "SELECT lot_id, amount FROM lot_draw WHERE transaction_id = ? ORDER BY lot_id",
        [transaction_id],
    )
    return [(int(r["lot_id"]), int(r["amount"])) for r in rows]


async def legs(transaction_id: int) -> dict[str, int]:
    """Amount by account kind ('member', 'breakage', 'receivable'...) of one transaction."""
    rows = await sql.rows(
        sql.connection(),
        "SELECT a.kind, SUM(e.amount) AS amount FROM entry e JOIN account a ON a.id = "
        "e.account_id WHERE e.transaction_id = ? GROUP BY a.kind",
        [transaction_id],
    )
    return {r["kind"]: int(r["amount"]) for r in rows}


async def events(kind: str) -> list[dict[str, Any]]:
    rows = await sql.rows(
        sql.connection(), "SELECT payload FROM outbox_event WHERE type = ? ORDER BY id", [kind]
    )
    return [
        json.loads(r["payload"]) if isinstance(r["payload"], str) else r["payload"] for r in rows
    ]


def report(
    released: int = 0, expired: int = 0, reminded: int = 0, birthdays: int = 0
) -> jobs.Report:
    return jobs.Report(released=released, expired=expired, reminded=reminded, birthdays=birthdays)


# -- release ---------------------------------------------------------------------------------


async def test_held_points_become_spendable_at_available_at_and_not_before(db: Stores):
    program = await use(db, program_text())
    ana = await enroll(program, "ana")
    await buy(program, ana, "300", at="beanery")
    await buy(program, ana, "30")  # SkyWays does not hold its points
    assert await state(ana) == {"balance": 30, "pending": 300, "lifetime": 330, "debt": 0}
    held = [lot for lot in await lots(ana) if lot["pending"]]
    assert len(held) == 1
    available = held[0]["available_at"]
    assert available - utcnow() > timedelta(days=13, hours=23)

    assert await jobs.run_all(program, available - TICK) == report()
    assert await state(ana) == {"balance": 30, "pending": 300, "lifetime": 330, "debt": 0}

    assert await jobs.run_all(program, available) == report(released=300)
    assert await state(ana) == {"balance": 330, "pending": 0, "lifetime": 330, "debt": 0}
    assert [lot["pending"] for lot in await lots(ana)] == [False, False]
    assert [t["kind"] for t in await transactions(ana)] == ["EARN", "EARN"]  # no REPAY
    released = await events("points.released")
    assert [(e["memberId"], e["points"], e["repaid"]) for e in released] == [
        (ana.member_id, 300, 0)
    ]
    assert await jobs.run_all(program, available + timedelta(days=1)) == report()
    await assert_ledger_consistent()
    # Now they can be spent.
    await redeem(program, ana, "plant-a-tree")
    assert (await state(ana))["balance"] == 30
    await assert_ledger_consistent()


async def test_released_points_repay_debt_first_with_a_repay_transaction(db: Stores):
    program = await use(db, program_text())
    ana, bob = await enroll(program, "ana"), await enroll(program, "bob")
    await into_debt(program, ana, 1000)
    await into_debt(program, bob, 1000)
    await buy(program, ana, "1200", at="beanery")
    await buy(program, bob, "300", at="beanery")
    # Held points do not repay anything yet.
    assert await state(ana) == {"balance": 0, "pending": 1200, "lifetime": 1200, "debt": 1000}
    assert await state(bob) == {"balance": 0, "pending": 300, "lifetime": 300, "debt": 1000}
    await assert_ledger_consistent()

    later = max(lot["available_at"] for lot in [*await lots(ana), *await lots(bob)])
    assert await jobs.run_all(program, later) == report(released=1500)
    assert await state(ana) == {"balance": 200, "pending": 0, "lifetime": 1200, "debt": 0}
    assert await state(bob) == {"balance": 0, "pending": 0, "lifetime": 300, "debt": 700}
    for wallet, repaid in ((ana, 1000), (bob, 300)):
        repays = await transactions(wallet, "REPAY")
        assert [t["points"] for t in repays] == [-repaid]
        assert await legs(repays[0]["id"]) == {"member": -repaid, "receivable": repaid}
        held = [lot for lot in await lots(wallet) if lot["amount"] in (1200, 300)]
        assert await draws(repays[0]["id"]) == [(held[0]["id"], repaid)]
    assert sorted((e["points"], e["repaid"]) for e in await events("points.released")) == [
        (300, 300),
        (1200, 1000),
    ]
    await assert_ledger_consistent()


# -- expiry ----------------------------------------------------------------------------------


async def test_points_expire_at_expires_at_into_breakage_one_transaction_per_member(db: Stores):
    program = await use(db, program_text(reminders=False, birthday=False))
    ana, bob = await enroll(program, "ana"), await enroll(program, "bob")
    await buy(program, ana, "400")
    await buy(program, ana, "50")
    await redeem(program, ana, "plant-a-tree")  # 300 from the first lot: 100 + 50 left
    await adjust(program, bob, 70)
    every = [lot for w in (ana, bob) for lot in await lots(w)]
    first = min(lot["expires_at"] for lot in every)
    last = max(lot["expires_at"] for lot in every)
    expiring = await history.expiring_points([ana.account_id, bob.account_id], utcnow())
    assert [(e.points, e.expires_at) for e in expiring[ana.account_id]] == [(150, first)]

    assert await jobs.run_all(program, first - TICK) == report()
    assert (await state(ana))["balance"] == 150

    assert await jobs.run_all(program, last) == report(expired=220)
    for wallet, points in ((ana, 150), (bob, 70)):
        assert await state(wallet) == {
            "balance": 0,
            "pending": 0,
            "lifetime": 450 if wallet is ana else 70,
            "debt": 0,
        }
        expired = await transactions(wallet, "EXPIRE")
        assert [t["points"] for t in expired] == [-points]
        assert await legs(expired[0]["id"]) == {"member": -points, "breakage": points}
        assert [lot["remaining"] for lot in await lots(wallet)] == [0] * len(await lots(wallet))
    ana_lots = await lots(ana)
    ana_expire = (await transactions(ana, "EXPIRE"))[0]["id"]
    assert await draws(ana_expire) == [(ana_lots[0]["id"], 100), (ana_lots[1]["id"], 50)]
    bob_expire = (await transactions(bob, "EXPIRE"))[0]["id"]
    assert await draws(bob_expire) == [((await lots(bob))[0]["id"], 70)]
    expired_events = await events("points.expired")
    assert sorted((e["memberId"], e["points"]) for e in expired_events) == [
        (ana.member_id, 150),
        (bob.member_id, 70),
    ]
    expiring = await history.expiring_points([ana.account_id, bob.account_id], first - TICK)
    assert expiring == {ana.account_id: [], bob.account_id: []}
    # Nothing more to expire, ever.
    assert await jobs.run_all(program, last + timedelta(days=1000)) == report()
    await assert_ledger_consistent()


async def test_pending_points_past_their_expiry_are_released_then_expired_in_one_run(db: Stores):
    program = await use(db, program_text(reminders=False, birthday=False))
    ana = await enroll(program, "ana")
    await buy(program, ana, "100", at="beanery")
    (held,) = await lots(ana)
    assert held["pending"]
    assert held["expires_at"] > held["available_at"]
    assert await jobs.run_all(program, held["expires_at"]) == report(released=100, expired=100)
    assert await state(ana) == {"balance": 0, "pending": 0, "lifetime": 100, "debt": 0}
    assert [t["points"] for t in await transactions(ana, "EXPIRE")] == [-100]
    (lot,) = await lots(ana)
    assert (lot["remaining"], lot["pending"]) == (0, False)
    await assert_ledger_consistent()


async def test_a_moment_given_in_another_offset_is_the_same_moment(db: Stores):
    """`now` may come with any offset (the CLI's --at does): 21:30 UTC written as 00:30+03:00
    is still before a 22:00 UTC expiry, and 22:30 UTC written as 19:30-03:00 after it."""
    program = await use(db, program_text(reminders=False, birthday=False))
    ana = await enroll(program, "ana")
    await adjust(program, ana, 100)
    await buy(program, ana, "40", at="beanery")
    (lot, held) = await lots(ana)
    east, west = timezone(timedelta(hours=3)), timezone(timedelta(hours=-3))

    early = (held["available_at"] - timedelta(minutes=30)).astimezone(east)
    assert await jobs.run_all(program, early) == report()
    assert (await state(ana))["pending"] == 40
    assert await jobs.run_all(
        program, (lot["expires_at"] - timedelta(minutes=30)).astimezone(east)
    ) == report(released=40)
    assert (await state(ana))["balance"] == 140

    late = (lot["expires_at"] + timedelta(minutes=30)).astimezone(west)
    assert await jobs.run_all(program, late) == report(expired=140)
    assert (await state(ana))["balance"] == 0
    await assert_ledger_consistent()


async def test_an_expiring_lot_with_debt_elsewhere_expires_what_the_balance_holds(db: Stores):
    program = await use(db, program_text(reminders=False, birthday=False))
    ana = await enroll(program, "ana")
    await into_debt(program, ana, 1000)
    await buy(program, ana, "100", at="beanery")
    (held,) = [lot for lot in await lots(ana) if lot["pending"]]
    # Released, they all repay the debt: nothing is left to expire.
    assert await jobs.run_all(program, held["expires_at"]) == report(released=100)
    assert await state(ana) == {"balance": 0, "pending": 0, "lifetime": 100, "debt": 900}
    assert await transactions(ana, "EXPIRE") == []
    await assert_ledger_consistent()


# -- reminders -------------------------------------------------------------------------------


async def test_expiry_reminders_once_per_member_and_expiry_moment_within_reminder_days(
    db: Stores,
):
    program = await use(db, program_text(birthday=False))
    sooner = replace(program, expiry=Expiry(days=200))
    ana, bob = await enroll(program, "ana"), await enroll(program, "bob")
    await adjust(sooner, ana, 40)
    await adjust(sooner, ana, 60)  # the same moment: one reminder for both
    await adjust(program, ana, 500)
    await adjust(sooner, bob, 25)
    early = min(lot["expires_at"] for lot in await lots(ana))
    late = max(lot["expires_at"] for lot in await lots(ana))
    assert late - early > timedelta(days=100)
    window = timedelta(days=30)

    assert await jobs.run_all(program, early - window - TICK) == report()
    assert await events("points.expiring") == []

    assert await jobs.run_all(program, early - window) == report(reminded=2)
    reminders = await events("points.expiring")
    assert sorted((e["memberId"], e["points"], e["expiresAt"]) for e in reminders) == sorted(
        [
            (ana.member_id, 100, early.isoformat()),
            (bob.member_id, 25, early.isoformat()),
        ]
    )
    # Never twice: not later the same day, nor the day before they expire.
    assert await jobs.run_all(program, early - window + timedelta(hours=5)) == report()
    assert await jobs.run_all(program, early - timedelta(days=1)) == report()
    assert len(await events("points.expiring")) == 2

    # The later lot gets its own reminder, in its own window (the earlier ones expire on
    # the way).
    assert await jobs.run_all(program, late - window) == report(expired=125, reminded=1)
    last = (await events("points.expiring"))[-1]
    assert (last["memberId"], last["points"], last["expiresAt"]) == (
        ana.member_id,
        500,
        late.isoformat(),
    )
    assert await jobs.run_all(program, late - TICK) == report()
    await assert_ledger_consistent()


async def test_no_reminders_without_reminder_days(db: Stores):
    program = await use(db, program_text(reminders=False, birthday=False))
    ana = await enroll(program, "ana")
    await adjust(program, ana, 100)
    (lot,) = await lots(ana)
    assert await jobs.run_all(program, lot["expires_at"] - timedelta(days=1)) == report()
    assert await events("points.expiring") == []


# -- birthdays -------------------------------------------------------------------------------


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


async def bonuses(program: Program, now: datetime) -> int:
    """Runs every job at `now`; returns the birthday bonuses given (earlier ones may expire)."""
    done = await jobs.run_all(program, now)
    assert done.failures == []
    return done.birthdays


async def birthdays(wallet: ledger.Wallet) -> list[tuple[str | None, int]]:
    return [(t["reference"], t["points"]) for t in await transactions(wallet, "BIRTHDAY")]


async def test_the_birthday_bonus_comes_on_the_local_birthday_once_a_year(db: Stores):
    program = await use(db, program_text(hold=False, reminders=False))
    ana = await enroll(program, "ana", date(1990, 6, 15))
    bob = await enroll(program, "bob", date(1990, 6, 14))
    await enroll(program, "carol")  # no birthday known

    # 20:59 UTC on 14 June is 23:59 in Bucharest (UTC+3): Bob's day, not yet Ana's.
    assert await bonuses(program, at("2027-06-14T20:59:59+00:00")) == 1
    assert await birthdays(ana) == []
    assert await birthdays(bob) == [(f"2027:{bob.member_id}", 250)]
    # 23:30 UTC on 14 June is already 15 June in Bucharest.
    assert await bonuses(program, at("2027-06-14T23:30:00+00:00")) == 1
    assert await birthdays(ana) == [(f"2027:{ana.member_id}", 250)]
    # Once a year, however often the job runs that day.
    assert await bonuses(program, at("2027-06-15T12:00:00+00:00")) == 0
    assert await bonuses(program, at("2027-06-15T20:59:59+00:00")) == 0
    assert await state(ana) == {"balance": 250, "pending": 0, "lifetime": 250, "debt": 0}
    # And again the next year.
    assert await bonuses(program, at("2028-06-14T21:00:00+00:00")) == 1
    assert [r for r, _ in await birthdays(ana)] == [
        f"2027:{ana.member_id}",
        f"2028:{ana.member_id}",
    ]
    # Bob's 2028 birthday came before that run, and a bonus is never paid late.
    given = await sql.rows(
        sql.connection(),
        "SELECT member_id, reference FROM action_record WHERE action = ? AND source = ?",
        ["BIRTHDAY", "program"],
    )
    assert sorted(r["reference"] for r in given) == sorted(
        [f"2027:{ana.member_id}", f"2027:{bob.member_id}", f"2028:{ana.member_id}"]
    )
    await assert_ledger_consistent()


async def test_a_new_years_birthday_counts_in_the_local_year(db: Stores):
    program = await use(db, program_text(hold=False, reminders=False))
    ana = await enroll(program, "ana", date(1990, 1, 1))
    # 22:30 UTC on 31 December 2027 is 00:30 on 1 January 2028 in Bucharest (UTC+2).
    assert await bonuses(program, at("2027-12-31T22:30:00+00:00")) == 1
    assert await birthdays(ana) == [(f"2028:{ana.member_id}", 250)]
    assert await bonuses(program, at("2028-01-01T12:00:00+00:00")) == 0
    assert await bonuses(program, at("2027-12-31T21:59:59+00:00")) == 0
    await assert_ledger_consistent()


async def test_29_february_birthdays_fall_on_28_february_in_other_years(db: Stores):
    program = await use(db, program_text(hold=False, reminders=False))
    leapling = await enroll(program, "leapling", date(2000, 2, 29))
    twin = await enroll(program, "twin", date(2000, 2, 28))
    march = await enroll(program, "march", date(2000, 3, 1))

    # 2027 is not a leap year: both celebrate on the 28th.
    assert await bonuses(program, at("2027-02-28T10:00:00+00:00")) == 2
    assert await birthdays(leapling) == [(f"2027:{leapling.member_id}", 250)]
    assert await birthdays(twin) == [(f"2027:{twin.member_id}", 250)]
    assert await bonuses(program, at("2027-03-01T10:00:00+00:00")) == 1
    assert len(await birthdays(leapling)) == 1
    assert len(await birthdays(march)) == 1

    # 2028 is: the 28th is the twin's, the 29th the leapling's.
    assert await bonuses(program, at("2028-02-28T10:00:00+00:00")) == 1
    assert len(await birthdays(leapling)) == 1
    assert await bonuses(program, at("2028-02-29T10:00:00+00:00")) == 1
    assert [r for r, _ in await birthdays(leapling)] == [
        f"2027:{leapling.member_id}",
        f"2028:{leapling.member_id}",
    ]
    assert await bonuses(program, at("2028-03-01T10:00:00+00:00")) == 1
    assert len(await birthdays(leapling)) == 2
    assert len(await birthdays(twin)) == 2
    await assert_ledger_consistent()


async def test_no_birthday_bonus_without_a_birthday_section(db: Stores):
    program = await use(db, program_text(hold=False, reminders=False, birthday=False))
    ana = await enroll(program, "ana", date(1990, 6, 15))
    assert await bonuses(program, at("2027-06-15T12:00:00+00:00")) == 0
    assert await birthdays(ana) == []


async def test_every_member_whose_birthday_it_is_gets_the_bonus_however_many(db: Stores):
    program = await use(db, program_text(hold=False, reminders=False))
    many = jobs.BATCH + 5  # more than the job takes in one batch
    for n in range(many):
        await members.enroll(
            program, ADMIN, members.Enrollment(f"m{n}", birthday=date(1990, 6, 15)), None
        )
    assert await bonuses(program, at("2027-06-15T09:00:00+00:00")) == many
    given = await sql.row(
        sql.connection(), "SELECT COUNT(*) AS n FROM ledger_transaction WHERE kind = 'BIRTHDAY'"
    )
    assert given is not None
    assert int(given["n"]) == many
    await assert_ledger_consistent()


# -- running twice ---------------------------------------------------------------------------


@dataclass
class Scene:
    program: Program
    now: datetime
    debtor: ledger.Wallet  # held points released at `now` repay its debt
    lapsed: ledger.Wallet  # points expired by `now`
    reminded: ledger.Wallet  # points expiring within reminder_days of `now`
    celebrated: ledger.Wallet  # birthday on `now`'s local day


async def scene(db: Stores) -> Scene:
    program = await use(db, program_text())
    now = utcnow() + timedelta(days=20)
    local = now.astimezone(program.zone).date()
    debtor = await enroll(program, "debtor")
    await into_debt(program, debtor, 1000)
    await buy(program, debtor, "1500", at="beanery")
    lapsed = await enroll(program, "lapsed")
    await adjust(replace(program, expiry=Expiry(days=10)), lapsed, 80)
    reminded = await enroll(program, "reminded")
    await adjust(replace(program, expiry=Expiry(days=30)), reminded, 60)
    celebrated = await enroll(program, "celebrated", date(1992, local.month, local.day))
    return Scene(program, now, debtor, lapsed, reminded, celebrated)


ONCE = report(released=1500, expired=80, reminded=1, birthdays=1)


async def snapshot() -> dict[str, Any]:
    conn = sql.connection()
    return {
        "accounts": await sql.rows(
            conn, "SELECT id, balance, pending, lifetime, debt FROM account ORDER BY id"
        ),
        "lots": [
            (r["id"], r["remaining"], bool(r["pending"]), r["reminded"])
            for r in await sql.rows(
                conn,
                "SELECT id, remaining, pending, CASE WHEN reminded_at IS NULL THEN 0 ELSE 1 END "
                "AS reminded FROM lot ORDER BY id",
            )
        ],
        "kinds": await sql.rows(
            conn, "SELECT kind, COUNT(*) AS n FROM ledger_transaction GROUP BY kind ORDER BY kind"
        ),
        "draws": await sql.rows(conn, "SELECT COUNT(*) AS n FROM lot_draw"),
        "events": await sql.rows(
            conn, "SELECT type, COUNT(*) AS n FROM outbox_event GROUP BY type ORDER BY type"
        ),
        "records": await sql.rows(conn, "SELECT COUNT(*) AS n FROM action_record"),
    }


async def check_scene(s: Scene) -> None:
    assert await state(s.debtor) == {"balance": 500, "pending": 0, "lifetime": 1500, "debt": 0}
    assert await state(s.lapsed) == {"balance": 0, "pending": 0, "lifetime": 80, "debt": 0}
    assert await state(s.reminded) == {"balance": 60, "pending": 0, "lifetime": 60, "debt": 0}
    assert await state(s.celebrated) == {"balance": 250, "pending": 0, "lifetime": 250, "debt": 0}
    assert len(await transactions(s.debtor, "REPAY")) == 1
    assert len(await transactions(s.lapsed, "EXPIRE")) == 1
    assert len(await transactions(s.celebrated, "BIRTHDAY")) == 1
    assert len(await events("points.expiring")) == 1
    assert len(await events("points.released")) == 1
    assert len(await events("points.expired")) == 1
    await assert_ledger_consistent()


async def test_running_the_jobs_twice_in_a_row_does_what_once_does(db: Stores):
    s = await scene(db)
    assert await jobs.run_all(s.program, s.now) == ONCE
    await check_scene(s)
    after_once = await snapshot()
    assert await jobs.run_all(s.program, s.now) == report()
    assert await snapshot() == after_once
    await check_scene(s)


async def test_running_the_jobs_twice_at_once_does_what_once_does(db: Stores):
    s = await scene(db)
    async with asyncio.timeout(60):
        first, second = await asyncio.gather(
            jobs.run_all(s.program, s.now), jobs.run_all(s.program, s.now)
        )
    assert first.failures == []
    assert second.failures == []
    together = report(
        released=first.released + second.released,
        expired=first.expired + second.expired,
        reminded=first.reminded + second.reminded,
        birthdays=first.birthdays + second.birthdays,
    )
    assert together == ONCE
    await check_scene(s)
    assert await jobs.run_all(s.program, s.now) == report()


# -- the command -----------------------------------------------------------------------------


def coalition(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COALITION_")}
    env["COALITION_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


SEED = (
    "import asyncio; from app.cli import _prepare_database; from app.settings import Settings; "
    "print(asyncio.run(_prepare_database(Settings.from_env(), seed_demo=True)).seeded_demo)"
)


def wallets(data_dir: Path) -> list[tuple[int, int, int]]:
    with sqlite3.connect(data_dir / "coalition.sqlite3") as conn:
        return list(
            conn.execute(
                "SELECT balance, pending, debt FROM account WHERE kind = 'member' ORDER BY id"
            )
        )


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir with the demo members seeded (at the real clock), made once."""
    data_dir = tmp_path_factory.mktemp("demo")
    seeded = coalition("-c", SEED, data_dir=data_dir)
    assert seeded.returncode == 0, seeded.stderr
    assert seeded.stdout.strip() == "True"
    return data_dir


@pytest.fixture
def data_dir(demo_data: Path, tmp_path: Path) -> Path:
    for path in demo_data.glob("coalition.sqlite3*"):
        shutil.copy(path, tmp_path / path.name)
    return tmp_path


def jobs_run(at: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    return coalition("-m", "app.cli", "jobs", "run", "--at", at, data_dir=data_dir)


def everything(data_dir: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table that a job could write."""
    tables = ("account", "ledger_transaction", "entry", "lot", "lot_draw", "outbox_event")
    with sqlite3.connect(data_dir / "coalition.sqlite3") as conn:
        conn.row_factory = None
        return {t: list(conn.execute(f"SELECT * FROM {t} ORDER BY id")) for t in tables} | {
            "action_record": list(conn.execute("SELECT * FROM action_record ORDER BY id"))
        }


def test_the_jobs_command_previews_a_date_and_moves_no_points(data_dir: Path):
    before = wallets(data_dir)
    pending = sum(p for _, p, _ in before)
    spendable = sum(b for b, _, _ in before)
    assert pending > 0
    assert spendable > 0
    assert all(d == 0 for _, _, d in before)
    rows = everything(data_dir)

    # By 2030 every held point would have been released and every point would have expired.
    done = jobs_run("2030-01-01T00:00:00+00:00", data_dir)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "preview of the jobs at 2030-01-01T00:00:00+00:00: nothing was written"
    assert lines[1].split()[:2] == ["release", f"{pending:,}"], lines
    assert lines[2].split()[:2] == ["expire", f"{pending + spendable:,}"], lines
    assert lines[3].startswith("  remind    0 reminders"), lines
    assert lines[4].startswith("  birthday"), lines
    assert everything(data_dir) == rows
    assert wallets(data_dir) == before

    # Without a date the jobs run as of now, when the demo's points are neither due nor old.
    now = coalition("-m", "app.cli", "jobs", "run", data_dir=data_dir)
    assert now.returncode == 0, now.stderr
    assert now.stdout.strip().startswith("released 0 points, expired 0 points"), now.stdout
    assert wallets(data_dir) == before


def test_the_jobs_command_reads_at_with_its_offset(data_dir: Path):
    with sqlite3.connect(data_dir / "coalition.sqlite3") as conn:
        (first,) = conn.execute(
            "SELECT MIN(expires_at) FROM lot WHERE remaining > 0 AND pending = 0"
        ).fetchone()
    expiry = sql.to_datetime(first)
    bucharest = timezone(timedelta(hours=2))
    # Half an hour before the first expiry, then at it, written in Bucharest's winter offset.
    early = jobs_run((expiry - timedelta(minutes=30)).astimezone(bucharest).isoformat(), data_dir)
    assert early.returncode == 0, early.stderr
    assert "  expire    0 points" in early.stdout, early.stdout
    due = jobs_run(expiry.astimezone(bucharest).isoformat(), data_dir)
    assert due.returncode == 0, due.stderr
    assert "  expire    0 points" not in due.stdout, due.stdout


def test_the_jobs_command_refuses_a_moment_without_an_offset(tmp_path: Path):
    done = jobs_run("2030-01-01T00:00:00", tmp_path)
    assert done.returncode == 2
    assert "offset" in done.stderr
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "coalition.sqlite3").exists()
    bad = jobs_run("next tuesday", tmp_path)
    assert bad.returncode == 2
    assert "ISO" in bad.stderr


# -- previewing a date -----------------------------------------------------------------------


async def test_a_preview_says_what_the_jobs_would_do_and_writes_nothing(db: Stores):
    s = await scene(db)
    before = await snapshot()

    seen = await jobs.preview(s.program, s.now)

    assert seen == jobs.Preview(
        at=s.now,
        released_members=1,
        released_lots=1,
        released=1500,
        repaid=1000,
        expired_members=1,
        expired_lots=1,
        expired=80,
        reminded_members=1,
        reminders=1,
        reminded=60,
        birthdays=1,
        birthday_points=250,
    )
    assert await snapshot() == before
    assert await jobs.run_all(s.program, s.now) == ONCE
    await check_scene(s)
    # Once done, there is nothing left to preview at that moment.
    assert await jobs.preview(s.program, s.now) == jobs.Preview(at=s.now)


async def test_a_preview_agrees_with_the_jobs_moment_after_moment(db: Stores):
    """Held, expiring, owed, reminded and celebrated points in many shapes; at each moment the
    preview is taken first (and must write nothing), then the jobs run and must do just that."""
    program = await use(db, program_text())
    start = utcnow()
    local = (start + timedelta(days=40)).astimezone(program.zone).date()
    wallets = [await enroll(program, f"m{n}", date(1990, local.month, local.day)) for n in range(3)]
    wallets += [await enroll(program, f"n{n}") for n in range(3)]
    await into_debt(program, wallets[0], 2000)
    await buy(program, wallets[0], "900", at="beanery")  # held 14 days, repays part of the debt
    await buy(program, wallets[0], "3000", at="beanery")
    await into_debt(program, wallets[4], 1000)
    for n, days in enumerate((5, 20, 35, 60, 400)):
        await adjust(replace(program, expiry=Expiry(days=days)), wallets[1 + n % 5], 30 + n)
    await buy(program, wallets[2], "120", at="beanery")
    await buy(program, wallets[3], "75")
    await buy(program, wallets[4], "400", at="beanery")
    await adjust(replace(program, expiry=Expiry(days=10)), wallets[5], 55)

    happened: list[jobs.Preview] = []
    for days in (1, 6, 11, 14.5, 15, 21, 36, 40, 61, 200, 401, 800):
        moment = start + timedelta(days=days)
        before = await snapshot()
        seen = await jobs.preview(program, moment)
        assert await snapshot() == before, f"the preview at +{days} days wrote something"
        done = await jobs.run_all(program, moment)
        assert done.failures == []
        assert (seen.released, seen.expired, seen.reminders, seen.birthdays) == (
            done.released,
            done.expired,
            done.reminded,
            done.birthdays,
        ), (days, seen, done)
        happened.append(seen)
    # Every kind of work came up, debt repayment included.
    for kind in ("released", "repaid", "expired", "reminders", "birthdays"):
        assert sum(getattr(p, kind) for p in happened) > 0, kind
    await assert_ledger_consistent()
