"""The points life cycle's scheduled work: release, expire, remind, and birthdays.

Every job is safe to run twice, or in two processes at once: each member is handled in its own
short transaction that first locks the member's wallet, and every change is guarded by the
state it changes (a lot still pending, a lot not yet reminded, no birthday bonus this year), so
a second runner finds nothing left to do.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from domain import events, ledger, lifecycle, sql, tier_rules, tiers, wording
from domain.clock import utcnow
from domain.earning import bonus_line
from domain.program import Program, birthday_in
from domain.transaction_kind import TransactionKind
from domain.unit import Unit, unit_of_work

log = logging.getLogger("coalition.jobs")

BATCH = 200
BIRTHDAY = "BIRTHDAY"


@dataclass
class Report:
    released: int = 0  # points made spendable
    tiers_changed: int = 0  # members whose tier a review changed
    expired: int = 0  # points moved to breakage
    reminded: int = 0  # reminders sent
    birthdays: int = 0  # bonuses given
    failures: list[str] = field(default_factory=list)


async def run_all(program: Program, now: datetime | None = None) -> Report:
    """Everything due at `now`. Releasing comes before expiring, so that held points whose
    expiry has passed are released and then expire, in one run."""
    now = (now or utcnow()).astimezone(UTC)
    report = Report()
    await release_pending(program, now, report)
    await expire_points(program, now, report)
    await remind_expiring(program, now, report)
    await birthday_bonuses(program, now, report)
    await review_tiers(program, now, report)
    return report


async def release_pending(program: Program, now: datetime, report: Report) -> None:
    async def one(unit: Unit, wallet: ledger.Wallet, _: dict[str, Any]) -> None:
        released, _movement = await ledger.release_due(unit, wallet)
        report.released += released
        if released:
            await tiers.settle_wallet(unit, wallet)  # released points may reach a tier

    await _each(
        program,
        now,
        report,
        "release",
        "SELECT DISTINCT l.account_id, m.id AS member_id FROM lot l "
        "JOIN member m ON m.account_id = l.account_id "
        "WHERE l.pending = ? AND l.available_at <= ?",
        [True, now],
        one,
    )


async def expire_points(program: Program, now: datetime, report: Report) -> None:
    async def one(unit: Unit, wallet: ledger.Wallet, _: dict[str, Any]) -> None:
        movement = await ledger.expire_due(unit, wallet)
        if movement is not None:
            report.expired -= movement.points

    await _each(
        program,
        now,
        report,
        "expire",
        "SELECT DISTINCT l.account_id, m.id AS member_id FROM lot l "
        "JOIN member m ON m.account_id = l.account_id WHERE l.pending = ? AND l.remaining > 0 "
        "AND l.expires_at IS NOT NULL AND l.expires_at <= ?",
        [False, now],
        one,
    )


async def remind_expiring(program: Program, now: datetime, report: Report) -> None:
    """One `points.expiring` event per member and expiry moment, `reminder_days` ahead."""
    if not program.reminder_days:
        return
    horizon = now + timedelta(days=program.reminder_days)

    async def one(unit: Unit, wallet: ledger.Wallet, _: dict[str, Any]) -> None:
        due = await sql.rows(
            unit.conn,
            "SELECT DISTINCT expires_at FROM lot WHERE account_id = ? AND pending = ? "
            "AND remaining > 0 AND reminded_at IS NULL AND expires_at > ? AND expires_at <= ? "
            "ORDER BY expires_at",
            [wallet.account_id, False, now, horizon],
        )
        for group in due:
            reminded = await sql.rows(
                unit.conn,
                "UPDATE lot SET reminded_at = ? WHERE account_id = ? AND expires_at = ? "
                "AND reminded_at IS NULL AND remaining > 0 AND pending = ? RETURNING remaining",
                [now, wallet.account_id, group["expires_at"], False],
            )
            if reminded:
                expires_at = sql.to_datetime(group["expires_at"])
                unit.emit(
                    events.PointsExpiring(
                        member_id=wallet.member_id,
                        points=sum(int(r["remaining"]) for r in reminded),
                        expires_at=expires_at,
                    )
                )
                report.reminded += 1

    await _each(
        program,
        now,
        report,
        "remind",
        "SELECT DISTINCT l.account_id, m.id AS member_id FROM lot l "
        "JOIN member m ON m.account_id = l.account_id WHERE l.pending = ? AND l.remaining > 0 "
        "AND l.reminded_at IS NULL AND l.expires_at > ? AND l.expires_at <= ?",
        [False, now, horizon],
        one,
    )


async def birthday_bonuses(program: Program, now: datetime, report: Report) -> None:
    """The birthday bonus, on the member's birthday in the program's time zone (29 February
    birthdays on the 28th in other years), once a year."""
    points = program.birthday_points
    if not points:
        return
    today = now.astimezone(program.zone).date()
    days = _birthdays_celebrated_on(today)

    async def one(unit: Unit, wallet: ledger.Wallet, _: dict[str, Any]) -> None:
        reference = f"{today.year}:{wallet.member_id}"
        await ledger.lock(unit, wallet)  # two runners at once: the second sees the first's bonus
        given = await sql.row(
            unit.conn,
            "SELECT 1 AS yes FROM action_record WHERE source = ? AND action = ? AND reference = ?",
            ["program", BIRTHDAY, reference],
        )
        if given is not None:
            return
        movement = await ledger.credit(
            unit,
            wallet,
            points,
            ledger.ISSUANCE,
            ledger.Posting(
                kind=TransactionKind.BIRTHDAY,
                source="program",
                reference=reference,
                description=wording.text(unit.program, "birthday"),
                breakdown=[bonus_line(unit.program, "birthday", "birthday_bonus", points)],
            ),
            counts_toward_lifetime=True,
        )
        await sql.execute(
            unit.conn,
            "INSERT INTO action_record (member_id, action, source, reference, transaction_id, "
            "occurred_at) VALUES (?, ?, ?, ?, ?, ?)",
            [wallet.member_id, BIRTHDAY, "program", reference, movement.transaction_id, now],
        )
        await tiers.settle_wallet(unit, wallet)
        report.birthdays += 1

    select, params = _celebrating(days)
    await _each(program, now, report, "birthday", select, params, one)


def _celebrating(days: list[date]) -> tuple[str, list[Any]]:
    """The members whose birthday is one of `days` (a statement `_each` can page through)."""
    month_day = (
        "substr(m.birthday, 6, 5)"
        if not sql.is_postgres(sql.connection())
        else "to_char(m.birthday, 'MM-DD')"
    )
    return (
        f"SELECT m.account_id, m.id AS member_id FROM member m WHERE m.birthday IS NOT NULL "
        f"AND {month_day} IN ({sql.in_list(len(days))})",
        [d.strftime("%m-%d") for d in days],
    )


@dataclass
class Preview:
    """What `run_all` would do at a moment, per kind, with counts and points; nothing written."""

    at: datetime
    released_members: int = 0
    released_lots: int = 0
    released: int = 0
    repaid: int = 0  # of the released points, those that would repay points owed
    expired_members: int = 0
    expired_lots: int = 0
    expired: int = 0
    reminded_members: int = 0
    reminders: int = 0
    reminded: int = 0  # points the reminders are about
    birthdays: int = 0
    birthday_points: int = 0

    def add(self, wallet: lifecycle.WalletDue) -> None:
        if wallet.released_lots:
            self.released_members += 1
            self.released_lots += wallet.released_lots
            self.released += wallet.released
            self.repaid += wallet.repaid
        if wallet.expired_lots:
            self.expired_members += 1
            self.expired_lots += wallet.expired_lots
            self.expired += wallet.expired
        if wallet.reminders:
            self.reminded_members += 1
            self.reminders += wallet.reminders
            self.reminded += wallet.reminded


async def preview(program: Program, at: datetime) -> Preview:
    """What `run_all(program, at)` would release, expire, remind and give, read from the lots
    as they are (lifecycle.due, wallet by wallet), without writing or locking anything."""
    at = at.astimezone(UTC)
    found = Preview(at)
    conn = sql.connection()
    after = 0
    while True:
        wallets = await sql.rows(
            conn,
            "SELECT m.id AS member_id, a.id AS account_id, a.debt FROM member m "
            "JOIN account a ON a.id = m.account_id WHERE m.id > ? AND EXISTS "
            "(SELECT 1 FROM lot l WHERE l.account_id = a.id AND l.remaining > 0) "
            "ORDER BY m.id LIMIT ?",
            [after, BATCH],
        )
        if wallets:
            after = int(wallets[-1]["member_id"])
            accounts = [int(w["account_id"]) for w in wallets]
            lots: dict[int, list[lifecycle.LotState]] = {a: [] for a in accounts}
            for r in await sql.rows(
                conn,
                "SELECT id, account_id, remaining, pending, available_at, expires_at, "
                f"reminded_at FROM lot WHERE account_id IN ({sql.in_list(len(accounts))}) "
                "AND remaining > 0 ORDER BY id",
                accounts,
            ):
                lots[int(r["account_id"])].append(
                    lifecycle.LotState(
                        id=int(r["id"]),
                        remaining=int(r["remaining"]),
                        pending=bool(r["pending"]),
                        available_at=sql.to_datetime(r["available_at"]),
                        expires_at=None
                        if r["expires_at"] is None
                        else sql.to_datetime(r["expires_at"]),
                        reminded=r["reminded_at"] is not None,
                    )
                )
            for w in wallets:
                found.add(
                    lifecycle.due(
                        lots[int(w["account_id"])], int(w["debt"]), at, program.reminder_days
                    )
                )
        if len(wallets) < BATCH:
            break
    if program.birthday_points:
        today = at.astimezone(program.zone).date()
        select, params = _celebrating(_birthdays_celebrated_on(today))
        # Counted in one statement: those celebrating today without this year's bonus (the
        # reference the bonus job records, "<year>:<member id>").
        due = await sql.row(
            conn,
            f"SELECT COUNT(*) AS n FROM ({select}) m WHERE NOT EXISTS (SELECT 1 FROM "
            "action_record r WHERE r.source = ? AND r.action = ? "
            "AND r.reference = ? || CAST(m.member_id AS TEXT))",
            [*params, "program", BIRTHDAY, f"{today.year}:"],
        )
        found.birthdays = int(due["n"]) if due is not None else 0
        found.birthday_points = found.birthdays * program.birthday_points
    return found


def _birthdays_celebrated_on(today: date) -> list[date]:
    """The birthdays (as dates in a leap year) celebrated today."""
    leap = 2000
    days = [today.replace(year=leap)]
    if birthday_in(today.year, date(leap, 2, 29)) == today and today.day == 28:
        days.append(date(leap, 2, 29))
    return days


async def _each(
    program: Program,
    now: datetime,
    report: Report,
    job: str,
    select: str,
    params: list[Any],
    one: Callable[[Unit, ledger.Wallet, dict[str, Any]], Awaitable[None]],
) -> None:
    """Runs `one` for each member `select` finds (one row per member, the member as `m`), each
    in its own transaction, in member order; a failure is logged and reported, and the others
    go on."""
    after = 0
    while True:
        rows = await sql.rows(
            sql.connection(),
            f"{select} AND m.id > ? ORDER BY member_id LIMIT ?",
            [*params, after, BATCH],
        )
        for row in rows:
            after = int(row["member_id"])
            wallet = ledger.Wallet(member_id=after, account_id=int(row["account_id"]))
            try:
                async with unit_of_work(program, now) as unit:
                    await one(unit, wallet, row)
            except Exception as error:  # one member's fault must not stop the rest
                log.exception("%s job failed for member %s", job, wallet.member_id)
                report.failures.append(f"{job} member {wallet.member_id}: {error}")
        if len(rows) < BATCH:
            return


async def review_tiers(program: Program, now: datetime, report: Report) -> None:
    """The tier review, at each review edge (deploy/program-file.md, "Tier rules"): every
    member above the base tier not yet judged at the latest edge is judged on the window that
    ended there, and every member without a stored tier gets one. Each member in its own
    transaction, under its wallet lock; `member_tier.reviewed_at` says who is done."""
    edge = tier_rules.last_review(program.tier_rules, program.zone, now)

    async def one(unit: Unit, wallet: ledger.Wallet, _: dict[str, Any]) -> None:
        if await tiers.review(unit, wallet.member_id, wallet.account_id, edge):
            report.tiers_changed += 1

    await _each(
        program,
        now,
        report,
        "tier review",
        "SELECT m.account_id, m.id AS member_id FROM member m "
        "LEFT JOIN member_tier mt ON mt.member_id = m.id "
        "WHERE (mt.id IS NULL OR (mt.reviewed_at < ? AND mt.tier_key <> ?))",
        [edge, program.tiers[0].key],
        one,
    )
