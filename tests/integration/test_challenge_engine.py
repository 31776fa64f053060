"""The "challenges" outbox consumer on both databases: a completion posts once however often its
events come, at the window edges of the program's time zone, and a first-N challenge gives no
more than N completions when members finish at the same moment."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from tortoise.transactions import in_transaction

from app.runtime import prepare
from domain import actions, members, outbox, purchases, refunds, sql
from domain.actors import ADMIN, Actor, ActorKind
from domain.program import Program
from domain.program_file import load_program
from gamification.challenge_engine import ChallengeEngine, standings
from partners import registry
from tests.helpers import BASE_PROGRAM, Stores, assert_ledger_consistent, new_key

BUCHAREST = ZoneInfo("Europe/Bucharest")
CHALLENGES = """
[[challenges]]
key = "explorer"
name = { en = "Explorer week", ro = "Săptămâna exploratorului" }
every = "week"
points = 200
goals = [{ metric = "purchases", target = 3 }, { metric = "partners", target = 2 }]

[[challenges]]
key = "first-reviewers"
name = "First reviewers"
every = "month"
points = 40
first = 2
goals = [{ metric = "actions:REVIEW", target = 2 }]
"""
# Wednesday 2 December 2026, in the week from Monday 30 November (Bucharest time, UTC+2).
NOW = datetime(2026, 12, 2, 10, tzinfo=UTC)


def local(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=BUCHAREST).astimezone(UTC)  # type: ignore[misc]


async def use(db: Stores, extra: str = CHALLENGES) -> Program:
    db.program = await prepare(load_program(BASE_PROGRAM.read_text() + extra))
    return db.program


async def enroll(db: Stores, external_id: str) -> int:
    enrolled = await members.enroll(
        db.program, ADMIN, members.Enrollment(external_id), None, now=NOW - timedelta(days=30)
    )
    return enrolled.member.id


async def partner(db: Stores, key: str) -> Actor:
    ids = await registry.sync(db.program)
    return Actor(ActorKind.PARTNER, partner_id=ids[key], partner_key=key)


async def buy(db: Stores, member_id: int, at: str, when: datetime, amount: str = "50") -> int:
    recorded = await purchases.record(
        db.program,
        await partner(db, at),
        purchases.PurchaseInput(
            member=members.MemberRef(id=member_id),
            order_id=new_key(),
            amount=amount,
            currency="RON",
            occurred_at=when,
        ),
        new_key(),
        now=max(when, NOW),
    )
    return recorded.purchase.id


async def review(db: Stores, member_id: int, when: datetime) -> None:
    await actions.record(
        db.program,
        await partner(db, "beanery"),
        members.MemberRef(id=member_id),
        "REVIEW",
        new_key(),
        new_key(),
        now=when,
    )


async def events_after(last: int = 0) -> list[outbox.StoredEvent]:
    written = await outbox.after(sql.connection(), outbox.Position(), None, 100_000)
    return [e for e in written if e.id > last]


async def handle(engine: ChallengeEngine, found: Sequence[outbox.StoredEvent], now=NOW) -> None:
    """What the consumer runner does with a batch: handle it in one transaction."""
    async with in_transaction("default") as conn:
        await engine.handle(conn, found, now)


async def completions() -> list[dict]:
    return await sql.rows(
        sql.connection(),
        "SELECT c.challenge_key, c.member_id, c.window_start, c.points, t.kind, t.breakdown, "
        "t.description FROM challenge_completion c "
        "JOIN ledger_transaction t ON t.id = c.transaction_id ORDER BY c.id",
    )


async def balance(member_id: int) -> int:
    found = await sql.row(
        sql.connection(),
        "SELECT a.balance FROM account a JOIN member m ON m.account_id = a.id WHERE m.id = ?",
        [member_id],
    )
    assert found is not None
    return int(found["balance"])


async def test_three_purchases_at_two_partners_complete_the_week_and_post_once(db: Stores):
    program = await use(db)
    engine = ChallengeEngine(lambda: program)
    ana = await enroll(db, "ana")
    await buy(db, ana, "beanery", local(2026, 11, 30, 9))
    await buy(db, ana, "beanery", local(2026, 12, 1, 9))
    await handle(engine, await events_after())
    assert await completions() == []

    last = max(e.id for e in await events_after())
    await buy(db, ana, "skyways", local(2026, 12, 2, 9))
    before = await balance(ana)
    fresh = await events_after(last)
    await handle(engine, fresh)
    # Delivered again (a commit that failed, a second runner): nothing more is posted.
    await handle(engine, fresh)
    await handle(engine, await events_after())
    done = await completions()
    assert len(done) == 1
    assert done[0]["challenge_key"] == "explorer"
    assert done[0]["kind"] == "CHALLENGE"
    assert done[0]["description"] == "Challenge completed: Explorer week"
    line = sql.to_json(done[0]["breakdown"])[0]
    assert line["rule"] == "challenge:explorer"
    assert sql.to_datetime(done[0]["window_start"]) == local(2026, 11, 30)
    assert await balance(ana) == before + 200
    completed = [e for e in await events_after() if e.type == "challenge.completed"]
    assert len(completed) == 1
    assert completed[0].payload["points"] == 200
    assert completed[0].member_id == ana

    # A fourth purchase in the same week completes nothing more.
    last = max(e.id for e in await events_after())
    await buy(db, ana, "paper-lantern", local(2026, 12, 2, 11))
    await handle(engine, await events_after(last))
    assert len(await completions()) == 1
    await assert_ledger_consistent()


async def test_2359_on_sunday_counts_in_the_week_it_ends_and_midnight_in_the_next(db: Stores):
    program = await use(db)
    engine = ChallengeEngine(lambda: program)
    ana = await enroll(db, "ana")
    await buy(db, ana, "beanery", local(2026, 11, 24, 12))
    await buy(db, ana, "skyways", local(2026, 11, 29, 23, 59, 59))  # Sunday, last week's
    await buy(db, ana, "beanery", local(2026, 11, 30, 0, 0, 0))  # Monday, this week's
    await buy(db, ana, "skyways", local(2026, 11, 30, 0, 0, 1))
    await handle(engine, await events_after())
    assert await completions() == []  # two in each week

    found = (await standings(sql.connection(), program, [ana], NOW))[ana][0]
    assert [g.current for g in found.progress.goals] == [2, 2]
    assert found.progress.window.start == local(2026, 11, 30)
    assert found.completed_at is None

    # A late purchase, recorded now, on last Sunday evening: it completes last week.
    last = max(e.id for e in await events_after())
    await buy(db, ana, "paper-lantern", local(2026, 11, 29, 20))
    await handle(engine, await events_after(last))
    done = await completions()
    assert [sql.to_datetime(c["window_start"]) for c in done] == [local(2026, 11, 23)]
    # This week is still two out of three.
    found = (await standings(sql.connection(), program, [ana], NOW))[ana][0]
    assert found.completed_at is None
    assert [g.current for g in found.progress.goals] == [2, 2]


async def test_a_dst_week_is_counted_from_local_midnight_to_local_midnight(db: Stores):
    program = await use(db)
    engine = ChallengeEngine(lambda: program)
    ana = await enroll(db, "ana")
    # The clocks went back on Sunday 25 October 2026: that week is 169 hours long.
    await buy(db, ana, "beanery", local(2026, 10, 19, 0, 0, 0))
    await buy(db, ana, "beanery", local(2026, 10, 22, 12))
    await buy(db, ana, "skyways", local(2026, 10, 25, 23, 59, 59))
    await buy(db, ana, "skyways", local(2026, 10, 26, 0, 0, 0))  # the next week's
    await handle(engine, await events_after())
    done = await completions()
    assert [sql.to_datetime(c["window_start"]) for c in done] == [local(2026, 10, 19)]


async def test_first_n_gives_no_more_than_n_when_members_finish_at_once(db: Stores):
    program = await use(db)
    engine = ChallengeEngine(lambda: program)
    ids = [await enroll(db, f"reviewer-{n}") for n in range(5)]
    for member in ids:
        await review(db, member, local(2026, 12, 1, 9))
        await review(db, member, local(2026, 12, 1, 10))
    found = await events_after()
    by_member = [[e for e in found if e.member_id == m] for m in ids]
    # Five batches in five transactions at the same moment, as if five runners raced.
    await asyncio.gather(*(handle(engine, batch) for batch in by_member))
    done = [c for c in await completions() if c["challenge_key"] == "first-reviewers"]
    assert len(done) == 2
    slots = await sql.row(
        sql.connection(),
        "SELECT taken FROM challenge_slots WHERE challenge_key = ?",
        ["first-reviewers"],
    )
    assert slots == {"taken": 2}
    # Everyone's events again: still two, and the standings say no slots are left.
    await asyncio.gather(*(handle(engine, batch) for batch in by_member))
    assert len([c for c in await completions() if c["challenge_key"] == "first-reviewers"]) == 2
    left = await standings(sql.connection(), program, ids, NOW)
    assert {s.slots_left for m in ids for s in left[m] if s.progress.challenge.first} == {0}
    await assert_ledger_consistent()


async def test_a_purchase_refunded_in_full_stops_counting(db: Stores):
    program = await use(db)
    engine = ChallengeEngine(lambda: program)
    ana = await enroll(db, "ana")
    beanery = await partner(db, "beanery")
    order = new_key()
    await purchases.record(
        program,
        beanery,
        purchases.PurchaseInput(
            member=members.MemberRef(id=ana), order_id=order, amount="80", currency="RON"
        ),
        new_key(),
        now=local(2026, 12, 1, 8),
    )
    await refunds.refund(
        program, beanery, refunds.PurchaseRef(order_id=order), "80", new_key(), now=NOW
    )
    await buy(db, ana, "beanery", local(2026, 12, 1, 9))
    await buy(db, ana, "skyways", local(2026, 12, 1, 10))
    await handle(engine, await events_after())
    assert await completions() == []
    found = (await standings(sql.connection(), program, [ana], NOW))[ana][0]
    assert [g.current for g in found.progress.goals] == [2, 2]
