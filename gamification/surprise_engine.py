"""The surprise bonus, fed from the outbox: the consumer named "surprises", and replaying a draw.

Invariants:
- Each surprise has one secret seed, made at random the first time it draws and kept in
  `surprise_seed`, never in the program file: the program is public, and whoever knows the
  seed knows which event ids will win. The operator reads it with the replay.
- A draw is a pure function of the seed, the surprise's key and the event id
  (gamification.surprises): replaying it gives the same outcome, today or in a year.
- Every winning draw is recorded once, UNIQUE (surprise, event id), in the transaction that pays
  it (a ledger posting and a `surprise.won` event) or that finds the budget spent (points 0, no
  transaction). A losing draw writes nothing: replaying it shows it lost.
- The budget of a period is never exceeded: a win is paid only by one guarded UPDATE on the
  period's `surprise_budget` row (`points + won <= budget`, or `wins < budget`), which on
  PostgreSQL also waits for a concurrent payer's commit.

The budget period of a draw is the one holding the moment its event was recorded, in the
program's time zone.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from tortoise.backends.base.client import BaseDBAsyncClient

from domain import events, ledger, outbox, sql, wording
from domain.earning import bonus_line
from domain.program import Period, Program, Surprise
from domain.transaction_kind import TransactionKind
from domain.unit import Unit, unit_in
from gamification.surprises import Draw, draw

NAME = "surprises"


def qualifies(surprise: Surprise, event: events.DomainEvent) -> bool:
    if surprise.on == "purchases":
        return isinstance(event, events.PurchaseRecorded)
    return isinstance(event, events.ActionRecorded) and surprise.on == f"actions:{event.action}"


async def seed_of(conn: BaseDBAsyncClient, surprise: str, now: datetime) -> bytes:
    """The surprise's seed, made now if it has none yet."""
    await sql.execute(
        conn,
        "INSERT INTO surprise_seed (surprise_key, seed, created_at) VALUES (?, ?, ?) "
        "ON CONFLICT (surprise_key) DO NOTHING",
        [surprise, secrets.token_hex(32), now],
    )
    found = await sql.row(conn, "SELECT seed FROM surprise_seed WHERE surprise_key = ?", [surprise])
    if found is None:
        raise RuntimeError(f"the seed of surprise {surprise!r} was not kept")
    return bytes.fromhex(str(found["seed"]))


def budget_period(surprise: Surprise, moment: datetime, program: Program) -> str:
    """The budget period holding `moment`, named by its first local day ("lifetime" for one
    that never resets)."""
    if surprise.budget is None or surprise.budget.period is Period.LIFETIME:
        return "lifetime"
    start = surprise.budget.period.start(moment, program.zone)
    if start is None:
        return "lifetime"
    return start.astimezone(program.zone).date().isoformat()


class SurpriseEngine:
    """The outbox consumer that draws for every qualifying event and pays the winners."""

    name = NAME

    def __init__(self, program: Callable[[], Program]) -> None:
        self._program = program

    async def handle(
        self, conn: BaseDBAsyncClient, stored: Sequence[outbox.StoredEvent], now: datetime
    ) -> None:
        program = self._program()
        if not program.surprises:
            return
        seeds: dict[str, bytes] = {}
        async with unit_in(conn, program, now) as unit:
            for event in stored:
                if event.member_id is None or event.type not in (
                    events.PurchaseRecorded.TYPE,
                    events.ActionRecorded.TYPE,
                ):
                    continue
                read, occurred_at = events.read(event.type, event.payload)
                for surprise in program.surprises:
                    if not qualifies(surprise, read):
                        continue
                    if surprise.key not in seeds:
                        seeds[surprise.key] = await seed_of(conn, surprise.key, unit.now)
                    made = draw(seeds[surprise.key], surprise.key, event.id, surprise.chance)
                    if made.wins:
                        await _pay(unit, surprise, made, event.member_id, occurred_at or unit.now)


async def _pay(
    unit: Unit, surprise: Surprise, made: Draw, member_id: int, occurred_at: datetime
) -> None:
    conn = unit.conn
    recorded = await sql.row(
        conn,
        "SELECT 1 AS yes FROM surprise_draw WHERE surprise_key = ? AND event_id = ?",
        [surprise.key, made.event_id],
    )
    if recorded is not None:
        return
    transaction_id = None
    points = 0
    if await _charge(conn, surprise, budget_period(surprise, occurred_at, unit.program)):
        member = await sql.row(conn, "SELECT account_id FROM member WHERE id = ?", [member_id])
        if member is None:
            raise ledger.LedgerInconsistent(f"member {member_id} of an event disappeared")
        rule = f"surprise:{surprise.key}"
        movement = await ledger.credit(
            unit,
            ledger.Wallet(member_id=member_id, account_id=int(member["account_id"])),
            surprise.points,
            ledger.ISSUANCE,
            ledger.Posting(
                kind=TransactionKind.SURPRISE,
                source="program",
                reference=f"{surprise.key}:{made.event_id}",
                description=wording.text(unit.program, "surprise", rule=rule),
                breakdown=[bonus_line(unit.program, rule, "surprise", surprise.points)],
            ),
            counts_toward_lifetime=True,
        )
        transaction_id, points = movement.transaction_id, surprise.points
        unit.emit(
            events.SurpriseWon(
                member_id=member_id,
                surprise=surprise.key,
                event_id=made.event_id,
                points=points,
                transaction_id=transaction_id,
            ),
            transaction_id=transaction_id,
        )
    await sql.execute(
        conn,
        "INSERT INTO surprise_draw (surprise_key, event_id, member_id, digest, chance, points, "
        "transaction_id, drawn_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            surprise.key,
            made.event_id,
            member_id,
            made.digest,
            str(surprise.chance),
            points,
            transaction_id,
            unit.now,
        ],
    )


async def _charge(conn: BaseDBAsyncClient, surprise: Surprise, period: str) -> bool:
    """Charges the period's budget one win of the surprise's points, unless that overdraws it."""
    budget = surprise.budget
    await sql.execute(
        conn,
        "INSERT INTO surprise_budget (surprise_key, period, points, wins) VALUES (?, ?, 0, 0) "
        "ON CONFLICT (surprise_key, period) DO NOTHING",
        [surprise.key, period],
    )
    guard, limit = "", []
    if budget is not None and budget.points is not None:
        guard, limit = " AND points + ? <= ?", [surprise.points, budget.points]
    elif budget is not None and budget.wins is not None:
        guard, limit = " AND wins < ?", [budget.wins]
    charged = await sql.execute(
        conn,
        "UPDATE surprise_budget SET points = points + ?, wins = wins + 1 "
        f"WHERE surprise_key = ? AND period = ?{guard}",
        [surprise.points, surprise.key, period, *limit],
    )
    return bool(charged)


@dataclass(frozen=True)
class Replayed:
    """A draw made again from the recorded seed, beside what was recorded of it."""

    surprise: str
    event_id: int
    draw: Draw
    qualifies: bool | None  # None: the event is no longer in the outbox (pruned)
    recorded: bool  # a winning draw was recorded
    paid: int  # points the recorded draw paid (0: the budget was spent)
    transaction_id: int | None
    recorded_digest: str | None

    @property
    def matches(self) -> bool:
        """The replay agrees with the record: a win recorded with this very digest, or a loss
        (or an event the surprise does not draw on) with nothing recorded."""
        if self.recorded:
            return self.draw.wins and self.recorded_digest == self.draw.digest
        return not (self.draw.wins and self.qualifies)


async def replay(program: Program, event_id: int) -> list[Replayed]:
    """The draws of every surprise with a seed on this event, made again."""
    conn = sql.connection()
    stored = await sql.row(conn, "SELECT type, payload FROM outbox_event WHERE id = ?", [event_id])
    event = None
    if stored is not None:
        event, _ = events.read(stored["type"], sql.to_json(stored["payload"]))
    recorded = {
        r["surprise_key"]: r
        for r in await sql.rows(
            conn,
            "SELECT surprise_key, digest, chance, points, transaction_id FROM surprise_draw "
            "WHERE event_id = ?",
            [event_id],
        )
    }
    by_key = {s.key: s for s in program.surprises}
    found = []
    for seed in await sql.rows(conn, "SELECT surprise_key, seed FROM surprise_seed ORDER BY id"):
        key = str(seed["surprise_key"])
        surprise = by_key.get(key)
        row = recorded.get(key)
        # A surprise the program has since dropped is drawn at the chance its record kept.
        if surprise is not None:
            chance = surprise.chance
        elif row is not None:
            chance = Decimal(str(row["chance"]))
        else:
            continue
        made = draw(bytes.fromhex(str(seed["seed"])), key, event_id, chance)
        found.append(
            Replayed(
                surprise=key,
                event_id=event_id,
                draw=made,
                qualifies=None if event is None or surprise is None else qualifies(surprise, event),
                recorded=row is not None,
                paid=int(row["points"]) if row else 0,
                transaction_id=int(row["transaction_id"])
                if row and row["transaction_id"]
                else None,
                recorded_digest=str(row["digest"]) if row else None,
            )
        )
    return found


async def seeds() -> dict[str, str]:
    """Every surprise's seed, in hex: for the operator checking a draw elsewhere."""
    found = await sql.rows(sql.connection(), "SELECT surprise_key, seed FROM surprise_seed")
    return {str(r["surprise_key"]): str(r["seed"]) for r in found}
