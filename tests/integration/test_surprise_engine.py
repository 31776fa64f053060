"""The "surprises" outbox consumer on both databases: every draw replayed from its recorded seed
equals the recorded outcome, a win pays once however often its event comes, and the budget
holds when winners draw at the same moment."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from tortoise.transactions import in_transaction

from app.cli import replay_lines
from domain import sql
from gamification.surprise_engine import SurpriseEngine, replay, seeds
from gamification.surprises import draw
from tests.helpers import Stores, assert_ledger_consistent
from tests.integration.test_challenge_engine import NOW, buy, enroll, events_after, review, use

ROOT = Path(__file__).resolve().parents[2]
SURPRISES = """
[[surprises]]
key = "lucky"
name = { en = "Lucky receipt", ro = "Bonul norocos" }
on = "purchases"
chance = "0.5"
points = 100

[[surprises]]
key = "always"
name = "Every review wins"
on = "actions:REVIEW"
chance = 1
points = 10
budget = { wins = 3, period = "month" }
"""


async def handle(engine: SurpriseEngine, found, now=NOW) -> None:
    async with in_transaction("default") as conn:
        await engine.handle(conn, found, now)


async def draws() -> list[dict]:
    return await sql.rows(
        sql.connection(),
        "SELECT surprise_key, event_id, member_id, digest, points, transaction_id "
        "FROM surprise_draw ORDER BY id",
    )


async def test_every_draw_replayed_from_its_seed_equals_what_was_recorded(db: Stores):
    program = await use(db, SURPRISES)
    engine = SurpriseEngine(lambda: program)
    ana = await enroll(db, "ana")
    for day in range(1, 21):
        await buy(db, ana, "beanery", datetime(2026, 11, day, 9, tzinfo=UTC))
    purchases = [e for e in await events_after() if e.type == "purchase.recorded"]
    await handle(engine, purchases)
    won = await draws()
    # One in two, over twenty purchases: some won, some lost.
    assert 0 < len(won) < 20
    assert {w["surprise_key"] for w in won} == {"lucky"}

    seed = bytes.fromhex((await seeds())["lucky"])
    for event in purchases:
        replayed = await replay(program, event.id)
        assert [r.surprise for r in replayed] == ["lucky"]
        (again,) = replayed
        assert again.matches
        assert again.draw == draw(seed, "lucky", event.id, program.surprises[0].chance)
        assert again.recorded == again.draw.wins == any(w["event_id"] == event.id for w in won)
        assert again.qualifies is True
    winner = next(e for e in purchases if any(w["event_id"] == e.id for w in won))
    shown = "\n".join(replay_lines(winner.id, await replay(program, winner.id), {}))
    assert "wins" in shown
    assert "paid 100 points" in shown
    assert "matches the record" in shown

    # Handled again: the same wins, nothing paid twice.
    balance_before = await sql.rows(sql.connection(), "SELECT balance FROM account")
    await handle(engine, purchases)
    assert await draws() == won
    assert await sql.rows(sql.connection(), "SELECT balance FROM account") == balance_before
    paid = await sql.rows(
        sql.connection(),
        "SELECT kind, description, breakdown FROM ledger_transaction WHERE kind = 'SURPRISE'",
    )
    assert len(paid) == len(won)
    assert paid[0]["description"] == "Surprise bonus: Lucky receipt"
    assert sql.to_json(paid[0]["breakdown"])[0]["rule"] == "surprise:lucky"
    emitted = [e for e in await events_after() if e.type == "surprise.won"]
    assert sorted(e.payload["eventId"] for e in emitted) == sorted(w["event_id"] for w in won)
    await assert_ledger_consistent()


async def test_a_tampered_record_does_not_match_its_replay(db: Stores):
    program = await use(db, SURPRISES)
    engine = SurpriseEngine(lambda: program)
    ana = await enroll(db, "ana")
    await review(db, ana, NOW)
    event = next(e for e in await events_after() if e.type == "action.recorded")
    await handle(engine, [event])
    (again,) = [r for r in await replay(program, event.id) if r.surprise == "always"]
    assert again.matches
    await sql.execute(
        sql.connection(),
        "UPDATE surprise_seed SET seed = ? WHERE surprise_key = ?",
        ["ab" * 32, "always"],
    )
    (again,) = [r for r in await replay(program, event.id) if r.surprise == "always"]
    assert not again.matches
    assert "DOES NOT MATCH" in "\n".join(replay_lines(event.id, [again], {}))


async def test_the_budget_holds_when_winners_draw_at_the_same_moment(db: Stores):
    program = await use(db, SURPRISES)
    engine = SurpriseEngine(lambda: program)
    ids = [await enroll(db, f"reviewer-{n}") for n in range(6)]
    for member in ids:
        await review(db, member, NOW)
    found = [e for e in await events_after() if e.type == "action.recorded"]
    await asyncio.gather(*(handle(engine, [event]) for event in found))
    recorded = [d for d in await draws() if d["surprise_key"] == "always"]
    assert len(recorded) == 6  # every review won the draw...
    paid = [d for d in recorded if d["transaction_id"] is not None]
    assert len(paid) == 3  # ...and the month's budget paid three
    assert all(d["points"] == 0 for d in recorded if d["transaction_id"] is None)
    budget = await sql.row(
        sql.connection(),
        "SELECT wins, points FROM surprise_budget WHERE surprise_key = ?",
        ["always"],
    )
    assert budget == {"wins": 3, "points": 30}
    refused = next(d for d in recorded if d["transaction_id"] is None)
    shown = "\n".join(
        replay_lines(refused["event_id"], await replay(program, refused["event_id"]), {})
    )
    assert "refused: the budget of its period was spent" in shown
    await assert_ledger_consistent()


async def test_the_operator_replays_a_draw_from_the_command_line(db: Stores, tmp_path: Path):
    program = await use(db, SURPRISES)
    engine = SurpriseEngine(lambda: program)
    ana = await enroll(db, "ana")
    await review(db, ana, NOW)
    event = next(e for e in await events_after() if e.type == "action.recorded")
    await handle(engine, [event])
    env = {k: v for k, v in os.environ.items() if not k.startswith("COALITION_")}
    env |= {"COALITION_DATABASE_URL": db.url, "COALITION_DATA_DIR": str(tmp_path)}

    def replay_command(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "app.cli", "surprise", "replay", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=120,
            check=False,
        )

    shown = await asyncio.to_thread(replay_command, str(event.id), "--show-seed")
    assert shown.returncode == 0, shown.stderr
    assert f"event {event.id}, surprise always:" in shown.stdout
    assert "against a chance of 1: wins" in shown.stdout
    assert "a win, paid 10 points" in shown.stdout
    assert f"seed      {(await seeds())['always']}" in shown.stdout
    assert "matches the record" in shown.stdout

    await sql.execute(
        sql.connection(),
        "UPDATE surprise_draw SET digest = ? WHERE event_id = ?",
        ["0" * 64, event.id],
    )
    tampered = await asyncio.to_thread(replay_command, str(event.id))
    assert tampered.returncode == 1
    assert "DOES NOT MATCH the record" in tampered.stdout
