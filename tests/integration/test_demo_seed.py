"""The demo members that `make run` seeds: real history over the past months, made once, on the
demo program, as the services and the jobs would have made it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from app import demo
from app.runtime import prepare, read_program
from app.settings import DEMO_PROGRAM
from domain import events, history, jobs, sql
from gamification import badge_engine, challenge_engine, surprise_engine
from tests.helpers import Stores, assert_ledger_consistent, table_counts

NOW = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)
# The kinds that count toward a member's lifetime points when nothing is refunded or adjusted.
EARNING = {"EARN", "SIGNUP", "BIRTHDAY", "REFERRAL", "BADGE", "CHALLENGE", "SURPRISE"}


async def transactions(external_id: str) -> list[dict[str, Any]]:
    """The member's transactions in the order they were written, with their wallet entry."""
    return await sql.rows(
        sql.connection(),
        "SELECT t.id, t.kind, t.occurred_at, t.breakdown, e.amount FROM ledger_transaction t "
        "JOIN entry e ON e.transaction_id = t.id JOIN member m ON m.account_id = e.account_id "
        "WHERE m.external_id = ? ORDER BY t.id",
        [external_id],
    )


async def kinds(external_id: str) -> list[str]:
    return [t["kind"] for t in await transactions(external_id)]


def count(steps: list[tuple[int, str, demo.Event]], kind: type) -> int:
    return sum(isinstance(event, kind) for _, _, event in steps)


async def test_the_demo_is_seeded_once_with_real_history(db: Stores):
    program = await prepare(read_program(DEMO_PROGRAM))
    assert await demo.seed(program, now=NOW) is True
    steps = demo.history()
    counts = await table_counts()
    assert counts["member"] == len(demo.DEMO_MEMBERS)
    assert counts["purchase"] == count(steps, demo.Buy)
    assert counts["purchase_line"] == 3
    actions = await sql.rows(
        sql.connection(), "SELECT action FROM action_record WHERE action <> 'BIRTHDAY'"
    )
    assert len(actions) == count(steps, demo.Act)
    assert counts["redemption"] == count(steps, demo.Redeem) == 3
    assert counts["partner_link"] == count(steps, demo.Link) == 2
    await assert_ledger_consistent()

    by_name = {m: await history.member_by_external_id(m) for m in ("ana", "bogdan", "kadri")}
    ana, bogdan, kadri = by_name["ana"], by_name["bogdan"], by_name["kadri"]
    assert ana is not None
    assert bogdan is not None
    assert kadri is not None
    assert program.tier_for(ana.lifetime).key == "gold"
    assert program.tier_for(bogdan.lifetime).key == "silver"
    # Everyone got the signup bonus; Ana and Elif the referral; Kadri's books are still
    # within their return window, one of them already returned.
    assert (await kinds("ana"))[0] == "SIGNUP"
    assert "REFERRAL" in await kinds("ana")
    assert "REFERRAL" in await kinds("elif")
    assert "REFUND" in await kinds("kadri")
    assert kadri.pending > 0

    statuses = {
        r["status"] for r in await sql.rows(sql.connection(), "SELECT status FROM redemption")
    }
    assert statuses == {"ISSUED", "FULFILLED", "CANCELLED"}

    assert await demo.seed(program, now=NOW) is False
    assert await table_counts() == counts


async def test_the_demo_history_spreads_over_the_past_months(db: Stores):
    program = await prepare(read_program(DEMO_PROGRAM))
    await demo.seed(program, now=NOW)
    await assert_ledger_consistent()
    conn = sql.connection()

    written = await sql.rows(conn, "SELECT id, occurred_at FROM ledger_transaction ORDER BY id")
    moments = [sql.to_datetime(t["occurred_at"]) for t in written]
    assert all(NOW - timedelta(days=410) < m <= NOW for m in moments)
    # Written in the order it happened: history pages newest first by id, as by time.
    assert moments == sorted(moments)
    months = {m.astimezone(program.zone).strftime("%Y-%m") for m in moments}
    assert len(months) >= 9, months
    enrolled = await sql.rows(conn, "SELECT created_at FROM member")
    assert len({sql.to_datetime(m["created_at"]).date() for m in enrolled}) == 5

    # Lots expire on many different days; some have expired already, after a reminder, and
    # some are still held.
    lots = await sql.rows(conn, "SELECT expires_at, pending, reminded_at FROM lot")
    expiry_days = {sql.to_datetime(lot["expires_at"]).date() for lot in lots}
    assert len(expiry_days) >= 20, expiry_days
    assert "EXPIRE" in await kinds("kadri")
    assert any(lot["reminded_at"] is not None for lot in lots)
    assert any(lot["pending"] for lot in lots)
    birthdays = await sql.rows(conn, "SELECT kind FROM ledger_transaction WHERE kind = 'BIRTHDAY'")
    assert birthdays, "birthdays within the story were celebrated"

    # The jobs ran along the way: as of now they have nothing left to do.
    due = await jobs.preview(program, NOW)
    assert (due.released, due.expired, due.reminders) == (0, 0, 0), due

    # Ana climbed the tiers along the way: silver, then gold months later, then flew as gold.
    ana = await history.member_by_external_id("ana")
    assert ana is not None
    reached: dict[str, datetime] = {}
    lifetime = 0
    for t in await transactions("ana"):
        if t["kind"] in EARNING:
            lifetime += int(t["amount"])
        reached.setdefault(program.tier_for(lifetime).key, sql.to_datetime(t["occurred_at"]))
    assert lifetime == ana.lifetime
    assert list(reached) == ["bronze", "silver", "gold"]
    assert reached["silver"] < reached["gold"] - timedelta(days=60)
    assert reached["gold"] < NOW - timedelta(days=60)
    flights = [t for t in await transactions("ana") if "gold-flyer" in str(t["breakdown"])]
    assert len(flights) == 1
    assert sql.to_datetime(flights[0]["occurred_at"]) > reached["gold"]


def test_the_demo_story_is_the_same_every_time():
    assert demo.history() == demo.history()
    assert all(days >= 1 for days, _, _ in demo.history()), "every moment is in the past"


async def test_every_event_the_demo_history_wrote_is_declared_and_reads_back_as_stored(
    db: Stores,
):
    program = await prepare(read_program(DEMO_PROGRAM))
    await demo.seed(program, now=NOW)
    rows = await sql.rows(sql.connection(), "SELECT type, payload FROM outbox_event ORDER BY id")
    seen = set()
    for row in rows:
        payload = row["payload"] if isinstance(row["payload"], dict) else json.loads(row["payload"])
        event, occurred_at = events.read(row["type"], payload)  # refuses an undeclared type
        assert json.loads(json.dumps(event.payload(occurred_at))) == payload
        assert occurred_at is not None
        assert occurred_at <= NOW
        seen.add(row["type"])
    # The demo's story exercises most of the catalogue.
    assert len(seen) >= 9, seen


async def test_the_demo_members_hold_stored_tiers_reached_and_reviewed_along_the_way(db: Stores):
    program = await prepare(read_program(DEMO_PROGRAM))
    assert await demo.seed(program, now=NOW) is True
    changes = await sql.rows(
        sql.connection(),
        "SELECT m.external_id, c.from_tier, c.to_tier, c.reason FROM tier_change c "
        "JOIN member m ON m.id = c.member_id ORDER BY c.id",
    )
    ana = [
        (c["from_tier"], c["to_tier"], c["reason"]) for c in changes if c["external_id"] == "ana"
    ]
    assert ana == [("bronze", "silver", "QUALIFIED"), ("silver", "gold", "QUALIFIED")]
    tiers = {}
    for name in ("ana", "bogdan", "kadri"):
        member = await history.member_by_external_id(name)
        assert member is not None
        tiers[name] = member.tier
    assert tiers == {"ana": "gold", "bogdan": "silver", "kadri": "bronze"}
    # Every member above the base tier was judged at the latest review, 1 December in Bucharest.
    judged = await sql.rows(
        sql.connection(), "SELECT reviewed_at FROM member_tier WHERE tier_key <> 'bronze'"
    )
    assert judged
    assert {sql.to_datetime(r["reviewed_at"]) for r in judged} == {
        datetime(2026, 11, 30, 22, tzinfo=UTC)
    }
    # Gold earns 1.25x: Ana's purchases after reaching it say so.
    boosted = [t for t in await transactions("ana") if "tier:gold" in str(t["breakdown"])]
    assert boosted
    # The jobs ran along the way, reviews included: as of now nothing is left to review.
    assert (await jobs.run_all(program, NOW)).tiers_changed == 0


async def test_the_demo_members_have_real_badge_and_streak_progress(db: Stores):
    program = await prepare(read_program(DEMO_PROGRAM))
    await demo.seed(program, now=NOW)
    conn = sql.connection()
    ids = {
        r["external_id"]: r["id"]
        for r in await sql.rows(conn, "SELECT id, external_id FROM member")
    }
    found = await badge_engine.snapshots(
        conn, program, ids.values(), NOW, with_streaks=program.streaks
    )
    standing = {
        (name, s.badge.key): s
        for name, member in ids.items()
        for s in found[member].visible(program)
    }
    # A multi-level badge at different levels, with its bonus for the second level.
    assert standing[("ana", "regular")].level == 2
    assert standing[("kadri", "regular")].level == 1
    assert 0 < standing[("kadri", "regular")].progress < 1
    # The hidden badge shows for those who bought from all three partners (Ana among them),
    # and for nobody else.
    assert standing[("ana", "globetrotter")].level == 1
    everywhere = {
        r["external_id"]
        for r in await sql.rows(
            conn,
            "SELECT m.external_id FROM purchase p JOIN member m ON m.id = p.member_id "
            "WHERE p.source LIKE 'partner:%' GROUP BY m.external_id "
            "HAVING COUNT(DISTINCT p.source) = 3",
        )
    }
    assert {name for name, key in standing if key == "globetrotter"} == everywhere
    # Dorota's weekly coffee: a streak still running, and the streak badge it earned.
    dorota = found[ids["dorota"]]
    assert dorota.streaks["coffee-weeks"].current >= 12
    assert standing[("dorota", "steady")].level >= 2
    # Bonuses were posted as they were unlocked, each with its line naming the badge.
    bonuses = await sql.rows(
        conn, "SELECT reference, breakdown FROM ledger_transaction WHERE kind = 'BADGE'"
    )
    assert {b["reference"] for b in bonuses} >= {"regular:2", "globetrotter:1", "steady:1"}
    assert all(sql.to_json(b["breakdown"])[0]["rule"].startswith("badge:") for b in bonuses)
    await assert_ledger_consistent()


async def test_the_demo_members_have_real_progress_in_the_challenge_and_the_surprise(db: Stores):
    program = await prepare(read_program(DEMO_PROGRAM))
    await demo.seed(program, now=NOW)
    await assert_ledger_consistent()
    # Elif completed an explorer week three weeks ago; Bogdan is one purchase away this week.
    assert "CHALLENGE" in await kinds("elif")
    done = await sql.rows(sql.connection(), "SELECT member_id FROM challenge_completion")
    elif_ = await history.member_by_external_id("elif")
    bogdan = await history.member_by_external_id("bogdan")
    assert elif_ is not None
    assert bogdan is not None
    assert {r["member_id"] for r in done} >= {elif_.id}
    found = await challenge_engine.standings(sql.connection(), program, [bogdan.id], NOW)
    (week,) = found[bogdan.id]
    assert week.progress.challenge.key == "explorer-week"
    assert [int(g.current) for g in week.progress.goals] == [2, 2]
    assert week.completed_at is None
    assert week.slots_left is not None
    assert week.slots_left > 0
    # Some receipts were lucky; every recorded draw replays as it was recorded.
    won = await sql.rows(sql.connection(), "SELECT event_id, transaction_id FROM surprise_draw")
    assert any(w["transaction_id"] is not None for w in won), won
    for w in won:
        assert all(r.matches for r in await surprise_engine.replay(program, w["event_id"]))


async def test_the_demo_points_board_ranks_the_seeded_members(db: Stores):
    from gamification.boards import Boards
    from gamification.leaderboards import Leaderboards

    program = await prepare(read_program(DEMO_PROGRAM))
    await demo.seed(program, now=NOW)
    # What a server does when it starts on a Redis without the leaderboards.
    boards = Leaderboards(Boards(db.redis, "{c}"), lambda: program)
    assert await boards.ensure_built(sql.connection(), NOW) is not None
    top = await boards.boards.top("{c}:lb:points:all", 100)
    assert top.size == len(demo.DEMO_MEMBERS)
    earned = {
        int(r["id"]): int(r["lifetime"])
        for r in await sql.rows(
            sql.connection(),
            "SELECT m.id, a.lifetime FROM member m JOIN account a ON a.id = m.account_id",
        )
    }
    assert [e.rank for e in top.entries] == list(range(1, top.size + 1))
    assert {e.member_id: e.score for e in top.entries} == earned
    assert [e.score for e in top.entries] == sorted(earned.values(), reverse=True)
    assert top.entries[0].score > top.entries[-1].score


async def test_the_demo_members_see_where_they_stand_on_their_badges(db: Stores):
    from app.runtime import Runtime, rebuild_lost_progress
    from tests.leaderboard_helpers import FixedClock

    program = await prepare(read_program(DEMO_PROGRAM))
    await demo.seed(program, now=NOW)
    # What a server does when it starts on a Redis without the progress sets.
    runtime = Runtime(program, db.redis, FixedClock(NOW))
    await rebuild_lost_progress(runtime)
    generation = await runtime.progress.generation()
    assert generation is not None
    await rebuild_lost_progress(runtime)
    assert await runtime.progress.generation() == generation
    conn = sql.connection()
    ids = [int(r["id"]) for r in await sql.rows(conn, "SELECT id FROM member ORDER BY id")]
    found = await badge_engine.snapshots(conn, program, ids, NOW)
    for badge in program.badges:
        values = {m: found[m].metrics.value(badge.metric) for m in ids}
        asked = [(m, {badge.metric: values[m]}) for m in ids]
        shown = [p[badge.metric] for p in await runtime.progress.percentiles(asked)]
        # Each member is ahead of the share of the others with less.
        assert shown == [
            100 * sum(1 for o in ids if values[o] < values[m]) / len(ids) for m in ids
        ], badge.key
    # Real spreads: on purchases, some lead most of the members and some trail.
    bought = await runtime.progress.percentiles(
        [(m, {"purchases": found[m].metrics.value("purchases")}) for m in ids]
    )
    assert max(p["purchases"] for p in bought) >= 50.0
    assert min(p["purchases"] for p in bought) < 25.0
