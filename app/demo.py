"""A handful of demo members with real history, made through the same services as the API.

The history spreads over the past thirteen months, dated relative to the moment of seeding:
members joined at different times, bought and acted week after week, climbed tiers along the
way, and the points life-cycle jobs ran whenever they had something to do (a purchase's
return window ending, points expiring or about to, a birthday), as the server's would have.
So lots expire on different days, some held points are still waiting, and one member's
early points have expired. The story is fixed: the same moment of seeding makes the same
history (the regular coffees come from a seeded random generator).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import TypeAlias

from domain import actions, adjustments, jobs, members, purchases, redemptions, refunds, sql
from domain.actors import ADMIN, Actor, ActorKind
from domain.clock import utcnow
from domain.models import Member
from domain.program import Program, birthday_in
from domain.unit import unit_of_work
from gamification import badge_engine
from partners import links, registry

SEED = 20260412  # the regular coffees' generator: the same history every time


@dataclass(frozen=True)
class DemoMember:
    external_id: str
    display_name: str
    email: str
    birthday: date


DEMO_MEMBERS = (
    DemoMember("ana", "Ana Popescu", "ana@example.ro", date(1991, 4, 12)),
    DemoMember("bogdan", "Bogdan Ionescu", "bogdan@example.ro", date(1985, 11, 2)),
    DemoMember("dorota", "Dorota Kowalska", "dorota@example.pl", date(1994, 7, 30)),
    DemoMember("kadri", "Kadri Tamm", "kadri@example.ee", date(1988, 1, 19)),
    DemoMember("elif", "Elif Yılmaz", "elif@example.com.tr", date(1999, 9, 5)),
)


# -- what happens in the story --------------------------------------------------------------


@dataclass(frozen=True)
class Enrol:
    member: str
    invited_by: str | None = None  # whose referral code the member joined with


@dataclass(frozen=True)
class Buy:
    member: str
    partner: str
    order: str
    amount: str
    currency: str
    tax: str = "0"  # included in the amount, as is shipping: neither earns points
    shipping: str = "0"
    lines: tuple[purchases.LineInput, ...] = ()


@dataclass(frozen=True)
class Act:
    member: str
    partner: str
    action: str
    reference: str | None = None


@dataclass(frozen=True)
class Return:
    partner: str
    order: str
    amount: str


@dataclass(frozen=True)
class Link:
    member: str
    partner: str
    account: str  # the member's id at the partner


@dataclass(frozen=True)
class Redeem:
    member: str
    reward: str
    key: str  # the idempotency key, by which Fulfil and Cancel name the redemption


@dataclass(frozen=True)
class Fulfil:
    key: str


@dataclass(frozen=True)
class Cancel:
    key: str


@dataclass(frozen=True)
class Adjust:
    member: str
    points: int
    reason: str


Event: TypeAlias = Enrol | Buy | Act | Return | Link | Redeem | Fulfil | Cancel | Adjust

# (days before the seeding day, local time in the program's zone, what happened). Every day
# is at least one day back, so that every moment is in the past whatever the time of seeding.
STORY: tuple[tuple[int, str, Event], ...] = (
    # Kadri joined over a year ago, bought one book and went quiet: those points have expired.
    (400, "09:30", Enrol("kadri")),
    (
        398,
        "19:10",
        Buy("kadri", "paper-lantern", "PL-7702", "34.90", "EUR", "5.50", shipping="4.90"),
    ),
    # Ana flies: a first trip in March, silver by the spring, gold after a long-haul flight.
    (265, "08:45", Enrol("ana")),
    (265, "08:50", Link("ana", "skyways", "SW-448812")),
    (262, "14:20", Buy("ana", "skyways", "SKY-10001", "2450.00", "RON", "391.18")),
    (240, "12:00", Enrol("bogdan")),
    (240, "12:05", Act("bogdan", "paper-lantern", "NEWSLETTER_SIGNUP")),
    (235, "21:30", Act("ana", "beanery", "REVIEW", "review-ana-espresso")),
    (225, "18:30", Buy("bogdan", "paper-lantern", "PL-8601", "129.00", "RON", "20.60")),
    (210, "09:00", Enrol("dorota")),
    (210, "09:05", Link("dorota", "beanery", "BEAN-CARD-7781")),
    (209, "08:30", Act("dorota", "beanery", "APP_INSTALL")),
    (200, "13:10", Buy("bogdan", "paper-lantern", "PL-8890", "540.00", "RON", "86.22")),
    (
        180,
        "17:45",
        Buy("ana", "paper-lantern", "PL-8812", "212.40", "RON", "33.91", shipping="19.99"),
    ),
    (160, "19:20", Buy("bogdan", "paper-lantern", "PL-8944", "76.50", "RON", "12.21")),
    (150, "06:30", Buy("ana", "skyways", "SKY-10377", "1890.00", "EUR", "301.76")),
    (120, "07:40", Buy("bogdan", "skyways", "SKY-10420", "610.00", "EUR", "97.39")),
    (
        120,
        "20:15",
        Buy("kadri", "paper-lantern", "PL-8850", "59.90", "EUR", "9.44", shipping="4.90"),
    ),
    (118, "21:00", Act("kadri", "paper-lantern", "REVIEW", "review-kadri-novel")),
    (95, "16:00", Buy("dorota", "skyways", "SKY-10455", "1290.00", "PLN", "241.22")),
    (60, "10:00", Redeem("bogdan", "plant-a-tree", "demo-bogdan-tree")),
    (59, "15:30", Fulfil("demo-bogdan-tree")),
    # Elif joined on Ana's invitation: her first purchase paid them both.
    (45, "10:00", Enrol("elif", invited_by="ana")),
    (44, "08:40", Buy("elif", "beanery", "BEAN-55230", "450.00", "TRY", "68.64")),
    (44, "08:45", Act("elif", "beanery", "SOCIAL_SHARE", "share-elif-latte")),
    (40, "19:00", Act("ana", "skyways", "EVENT_ATTENDANCE", "gala-2026")),
    # Ana's coffee: redeemed, then given back the next day; redeemed again later.
    (30, "08:10", Redeem("ana", "coffee", "demo-ana-coffee")),
    (29, "09:00", Cancel("demo-ana-coffee")),
    # A gold member's flight: the gold flyer bonus comes with it.
    (20, "11:15", Buy("ana", "skyways", "SKY-10512", "420.00", "EUR", "67.20")),
    (16, "12:40", Buy("bogdan", "paper-lantern", "PL-9010", "245.00", "RON", "39.12")),
    # A coffee order with lines: double points on coffee, a bonus for bringing a cup.
    (
        12,
        "08:15",
        Buy(
            "dorota",
            "beanery",
            "BEAN-55178",
            "46.00",
            "PLN",
            "8.60",
            lines=(
                purchases.LineInput("FLAT-WHITE", "coffee", 2, "15.00"),
                purchases.LineInput("CROISSANT", "bakery", 1, "16.00"),
                purchases.LineInput("OWN-CUP", "extras", 1, "0"),
            ),
        ),
    ),
    (9, "08:20", Redeem("ana", "coffee", "demo-ana-coffee-2")),
    # Kadri is back: two books, one of them returned; her points wait out the return window.
    (
        6,
        "18:40",
        Buy("kadri", "paper-lantern", "PL-8901", "89.90", "EUR", "14.17", shipping="4.90"),
    ),
    (3, "12:05", Return("paper-lantern", "PL-8901", "44.95")),
    (2, "10:30", Adjust("kadri", 150, "Goodwill: delayed delivery of order PL-8901")),
)

# Regulars at The Beanery: (member, currency, VAT rate in the price, lowest and highest amount,
# from so many days back, about every so many days). Amounts, days and times are drawn from SEED.
REGULARS = (
    ("ana", "RON", "0.11", (12, 38), 250, 31),
    ("dorota", "PLN", "0.08", (11, 42), 205, 7),
    ("elif", "TRY", "0.10", (90, 260), 30, 17),
)
CENT = Decimal("0.01")


def _regular_coffees() -> Iterator[tuple[int, str, Event]]:
    draw = random.Random(SEED)
    number = 56000
    for member, currency, vat, (lowest, highest), first, every in REGULARS:
        for days in range(first, 0, -every):
            amount = Decimal(draw.randint(lowest * 100, highest * 100)) / 100
            tax = (amount * Decimal(vat) / (1 + Decimal(vat))).quantize(CENT)
            at = f"{draw.randint(7, 10):02}:{draw.randint(0, 59):02}"
            number += 1
            yield (
                max(days - draw.randint(0, 3), 1),
                at,
                Buy(member, "beanery", f"BEAN-{number}", f"{amount:.2f}", currency, f"{tax}"),
            )


def history() -> list[tuple[int, str, Event]]:
    """The whole story, oldest first."""
    return sorted([*STORY, *_regular_coffees()], key=lambda step: (-step[0], step[1]))


# -- telling it -------------------------------------------------------------------------------


def _partner(key: str, ids: dict[str, int]) -> Actor:
    return Actor(ActorKind.PARTNER, partner_id=ids[key], partner_key=key)


def _moment(program: Program, now: datetime, days: int, clock_time: str) -> datetime:
    """`clock_time` in the program's zone, `days` before the local day of `now`."""
    day = now.astimezone(program.zone).date() - timedelta(days=days)
    return datetime.combine(day, time.fromisoformat(clock_time), program.zone).astimezone(UTC)


def _birthdays(program: Program, start: datetime, end: datetime) -> list[datetime]:
    """The morning of each demo member's birthday between `start` and `end`."""
    found = []
    for year in range(start.year, end.year + 1):
        for demo in DEMO_MEMBERS:
            day = birthday_in(year, demo.birthday)
            morning = datetime.combine(day, time(7, 0), program.zone).astimezone(UTC)
            if start < morning <= end:
                found.append(morning)
    return sorted(set(found))


async def _earliest(select: str, params: list[object]) -> datetime | None:
    found = await sql.row(sql.connection(), select, params)
    return None if found is None or found["at"] is None else sql.to_datetime(found["at"])


async def _due(program: Program, until: datetime) -> datetime | None:
    """The first moment up to `until` at which the jobs have something to do: a held lot's
    release, a lot's expiry, or the reminder `reminder_days` ahead of it."""
    moments = [
        await _earliest(
            "SELECT MIN(available_at) AS at FROM lot WHERE pending = ? AND available_at <= ?",
            [True, until],
        ),
        await _earliest(
            "SELECT MIN(expires_at) AS at FROM lot WHERE pending = ? AND remaining > 0 "
            "AND expires_at <= ?",
            [False, until],
        ),
    ]
    if program.reminder_days:
        ahead = timedelta(days=program.reminder_days)
        expiring = await _earliest(
            "SELECT MIN(expires_at) AS at FROM lot WHERE pending = ? AND remaining > 0 "
            "AND reminded_at IS NULL AND expires_at <= ?",
            [False, until + ahead],
        )
        moments.append(None if expiring is None else expiring - ahead)
    return min((m for m in moments if m is not None), default=None)


class _Jobs:
    """The server's jobs as the story goes on: run at each moment they had work (something
    fell due, a birthday), never before the last thing that happened."""

    def __init__(self, program: Program, birthdays: list[datetime]) -> None:
        self.program = program
        self.birthdays = birthdays
        self.floor: datetime | None = None  # the last event's or run's moment

    def happened(self, at: datetime) -> None:
        self.floor = at

    async def run_until(self, until: datetime) -> None:
        ran_at = None
        while True:
            due = await _due(self.program, until)
            if self.birthdays and self.birthdays[0] <= until:
                due = min(self.birthdays[0], due or until)
            if due is None:
                return
            due = max(due, self.floor or due)
            if due == ran_at:
                raise RuntimeError(f"the demo's jobs left work due at {due.isoformat()} undone")
            if self.birthdays and self.birthdays[0] <= due:
                self.birthdays.pop(0)
            await self.run(due)
            ran_at = due

    async def run(self, at: datetime) -> None:
        report = await jobs.run_all(self.program, at)
        if report.failures:
            raise RuntimeError(f"the demo's jobs failed at {at.isoformat()}: {report.failures}")
        self.floor = at


async def seed(program: Program, now: datetime | None = None) -> bool:
    """Seeds the demo members unless the database already has members; says whether it did.
    The story ends at `now` (the system's time if not given), with the jobs run as of then."""
    if await Member.exists():
        return False
    now = (now or utcnow()).astimezone(UTC)
    partner_ids = await registry.sync(program)
    steps = [(_moment(program, now, days, at), event) for days, at, event in history()]
    by_name: dict[str, int] = {}
    redeemed: dict[str, int] = {}
    scheduled = _Jobs(program, _birthdays(program, steps[0][0], now))
    for moment, event in steps:
        await scheduled.run_until(moment)
        await _tell(program, event, moment, partner_ids, by_name, redeemed)
        # What the badge engine would have unlocked after it, then and there.
        async with unit_of_work(program, moment) as unit:
            await badge_engine.award(unit, by_name.values())
        scheduled.happened(moment)
    await scheduled.run_until(now)
    await scheduled.run(now)
    return True


async def _tell(
    program: Program,
    event: Event,
    at: datetime,
    partner_ids: dict[str, int],
    by_name: dict[str, int],
    redeemed: dict[str, int],
) -> None:
    """One event of the story, through the service the API would call, at `at`."""
    if isinstance(event, Enrol):
        demo = next(d for d in DEMO_MEMBERS if d.external_id == event.member)
        invited_by = None
        if event.invited_by is not None:
            invited_by = (await Member.get(id=by_name[event.invited_by])).referral_code
        enrolled = await members.enroll(
            program,
            ADMIN,
            members.Enrollment(
                demo.external_id, demo.display_name, demo.email, demo.birthday, invited_by
            ),
            f"demo-enroll-{demo.external_id}",
            now=at,
        )
        by_name[demo.external_id] = enrolled.member.id
    elif isinstance(event, Buy):
        await purchases.record(
            program,
            _partner(event.partner, partner_ids),
            purchases.PurchaseInput(
                member=members.MemberRef(id=by_name[event.member]),
                order_id=event.order,
                amount=event.amount,
                currency=event.currency,
                shipping=event.shipping,
                tax=event.tax,
                lines=event.lines,
            ),
            f"demo-{event.order}",
            now=at,
        )
    elif isinstance(event, Act):
        await actions.record(
            program,
            _partner(event.partner, partner_ids),
            members.MemberRef(id=by_name[event.member]),
            event.action,
            event.reference,
            f"demo-{event.member}-{event.action}",
            now=at,
        )
    elif isinstance(event, Return):
        await refunds.refund(
            program,
            _partner(event.partner, partner_ids),
            refunds.PurchaseRef(order_id=event.order),
            event.amount,
            f"demo-{event.order}-refund",
            now=at,
        )
    elif isinstance(event, Link):
        await links.link(
            program,
            _partner(event.partner, partner_ids),
            members.MemberRef(id=by_name[event.member]),
            event.partner,
            event.account,
            now=at,
        )
    elif isinstance(event, Redeem):
        done = await redemptions.redeem(
            program,
            ADMIN,
            members.MemberRef(id=by_name[event.member]),
            event.reward,
            event.key,
            now=at,
        )
        redeemed[event.key] = done.redemption.id
    elif isinstance(event, Fulfil):
        await redemptions.fulfill(program, ADMIN, redeemed[event.key], now=at)
    elif isinstance(event, Cancel):
        await redemptions.cancel(program, ADMIN, redeemed[event.key], f"{event.key}-cancel", now=at)
    else:
        await adjustments.adjust(
            program,
            ADMIN,
            members.MemberRef(id=by_name[event.member]),
            event.points,
            event.reason,
            f"demo-{event.member}-adjustment",
            now=at,
        )
