"""Challenges, fed from the outbox: the consumer named "challenges", and members' progress.

Invariants:
- A member completes a challenge at most once per window: a `challenge_completion` row,
  UNIQUE (challenge, window start, member), written in the same transaction as the reward's
  ledger posting and the `challenge.completed` event, so a redelivered event finds the row and
  posts nothing.
- A first-N challenge gives at most N completions per window: a slot is taken by one guarded
  UPDATE (`taken < N`) on the window's `challenge_slots` row, which on PostgreSQL also waits for
  a concurrent taker's commit; a member who finishes after the slots are gone completes nothing.
- Progress is read from SQL (purchases and actions in the window), never kept: whatever
  order events come in, or however late, the count is what the member did in the window.

A purchase counts in the window of its own `occurredAt` (a till may send it late): an event is
looked at for every window that moment falls in, closed or not, and completes it if the goals
are met there. A purchase refunded in full stops counting; a refund after completion takes
nothing back. Actions count at the moment they were recorded. Purchases recorded by the
operator count, but not toward distinct partners.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from tortoise.backends.base.client import BaseDBAsyncClient

from domain import events, ledger, outbox, sql, wording
from domain.actors import partner_of
from domain.earning import bonus_line
from domain.program import Challenge, Program
from domain.transaction_kind import TransactionKind
from domain.unit import Unit, unit_in
from gamification.challenges import Activity, ActivityKind, Progress, Window, progress, window_at

NAME = "challenges"
_TRIGGERS = (events.PurchaseRecorded.TYPE, events.ActionRecorded.TYPE)
# The events after which a member's progress may have moved: a refund takes a purchase out.
_MOVING = frozenset({*_TRIGGERS, events.PurchaseRefunded.TYPE})


async def activities(
    conn: BaseDBAsyncClient, member_ids: Sequence[int], start: datetime, end: datetime
) -> dict[int, list[Activity]]:
    """What these members did from `start` until `end` that challenges count: two statements,
    whatever the number of members."""
    found: dict[int, list[Activity]] = defaultdict(list)
    if not member_ids:
        return found
    marks = sql.in_list(len(member_ids))
    bought = await sql.rows(
        conn,
        "SELECT member_id, source, currency, eligible_amount, occurred_at FROM purchase "
        f"WHERE member_id IN ({marks}) AND occurred_at >= ? AND occurred_at < ? "
        "AND refunded_amount < amount ORDER BY id",
        [*member_ids, start, end],
    )
    for r in bought:
        found[int(r["member_id"])].append(
            Activity(
                ActivityKind.PURCHASE,
                sql.to_datetime(r["occurred_at"]),
                partner=partner_of(str(r["source"])),
                currency=str(r["currency"]),
                amount=Decimal(str(r["eligible_amount"])),
            )
        )
    acted = await sql.rows(
        conn,
        "SELECT member_id, action, occurred_at FROM action_record "
        f"WHERE member_id IN ({marks}) AND occurred_at >= ? AND occurred_at < ? "
        "AND source <> 'program' ORDER BY id",
        [*member_ids, start, end],
    )
    for r in acted:
        found[int(r["member_id"])].append(
            Activity(ActivityKind.ACTION, sql.to_datetime(r["occurred_at"]), action=r["action"])
        )
    return found


@dataclass(frozen=True)
class Standing:
    """A member in a challenge's current window: progress, completion, slots left."""

    progress: Progress
    completed_at: datetime | None
    slots_left: int | None  # None: no first-N limit


async def standings(
    conn: BaseDBAsyncClient, program: Program, member_ids: Sequence[int], now: datetime
) -> dict[int, list[Standing]]:
    """Every member's standing in each challenge running at `now`, in the program's order:
    four statements, whatever the number of members and challenges."""
    zone = program.zone
    running = [
        (c, w) for c in program.challenges if (w := window_at(c.window, now, zone)) is not None
    ]
    result: dict[int, list[Standing]] = {m: [] for m in member_ids}
    if not running or not member_ids:
        return result
    start = min(w.start for _, w in running)
    end = max(w.end for _, w in running)
    done = await activities(conn, member_ids, start, end)
    pairs = " OR ".join("(challenge_key = ? AND window_start = ?)" for _ in running)
    keys = [value for c, w in running for value in (c.key, w.start)]
    marks = sql.in_list(len(member_ids))
    completions = await sql.rows(
        conn,
        "SELECT member_id, challenge_key, completed_at FROM challenge_completion "
        f"WHERE member_id IN ({marks}) AND ({pairs})",
        [*member_ids, *keys],
    )
    completed = {
        (int(r["member_id"]), r["challenge_key"]): sql.to_datetime(r["completed_at"])
        for r in completions
    }
    taken = {
        r["challenge_key"]: int(r["taken"])
        for r in await sql.rows(
            conn, f"SELECT challenge_key, taken FROM challenge_slots WHERE {pairs}", keys
        )
    }
    for member in member_ids:
        for challenge, window in running:
            left = None
            if challenge.first is not None:
                left = max(challenge.first - taken.get(challenge.key, 0), 0)
            result[member].append(
                Standing(
                    progress=progress(challenge, window, done.get(member, [])),
                    completed_at=completed.get((member, challenge.key)),
                    slots_left=left,
                )
            )
    return result


class ChallengeEngine:
    """The outbox consumer that completes challenges and posts their rewards."""

    name = NAME

    def __init__(self, program: Callable[[], Program]) -> None:
        self._program = program

    async def handle(
        self, conn: BaseDBAsyncClient, stored: Sequence[outbox.StoredEvent], now: datetime
    ) -> None:
        program = self._program()
        if not program.challenges:
            return
        async with unit_in(conn, program, now) as unit:
            for event in stored:
                if event.type not in _TRIGGERS or event.member_id is None:
                    continue
                read, occurred_at = events.read(event.type, event.payload)
                moment = await _moment(conn, read, occurred_at or unit.now)
                for challenge in program.challenges:
                    if not _moved_by(challenge, read):
                        continue
                    window = window_at(challenge.window, moment, program.zone)
                    if window is not None:
                        await _evaluate(unit, challenge, window, event.member_id)


def affected(program: Program, stored: Iterable[outbox.StoredEvent]) -> set[int]:
    """The members whose progress in some challenge the events may have moved: a purchase or
    an action a goal counts, or a refund (a purchase refunded in full stops counting)."""
    if not program.challenges:
        return set()
    members: set[int] = set()
    for event in stored:
        if event.type not in _MOVING or event.member_id is None or event.member_id in members:
            continue
        read, _ = events.read(event.type, event.payload)
        if any(_moved_by(challenge, read) for challenge in program.challenges):
            members.add(event.member_id)
    return members


def _moved_by(challenge: Challenge, event: events.DomainEvent) -> bool:
    for goal in challenge.goals:
        purchase = isinstance(event, events.PurchaseRecorded | events.PurchaseRefunded)
        if goal.action is None and purchase:
            return True
        if isinstance(event, events.ActionRecorded) and goal.action == event.action:
            return True
    return False


async def _moment(
    conn: BaseDBAsyncClient, event: events.DomainEvent, occurred_at: datetime
) -> datetime:
    """When the activity happened: a purchase's own occurredAt, an action's recording."""
    if isinstance(event, events.PurchaseRecorded):
        found = await sql.row(
            conn, "SELECT occurred_at FROM purchase WHERE id = ?", [event.purchase_id]
        )
        if found is not None:
            return sql.to_datetime(found["occurred_at"])
    return occurred_at.astimezone(UTC)


async def _evaluate(unit: Unit, challenge: Challenge, window: Window, member_id: int) -> None:
    conn = unit.conn
    already = await sql.row(
        conn,
        "SELECT 1 AS yes FROM challenge_completion "
        "WHERE challenge_key = ? AND window_start = ? AND member_id = ?",
        [challenge.key, window.start, member_id],
    )
    if already is not None:
        return
    done = await activities(conn, [member_id], window.start, window.end)
    if not progress(challenge, window, done.get(member_id, [])).complete:
        return
    if challenge.first is not None and not await _take_slot(conn, challenge, window):
        return
    member = await sql.row(conn, "SELECT account_id FROM member WHERE id = ?", [member_id])
    if member is None:
        raise ledger.LedgerInconsistent(f"member {member_id} of an event disappeared")
    wallet = ledger.Wallet(member_id=member_id, account_id=int(member["account_id"]))
    rule = f"challenge:{challenge.key}"
    local_start = window.start.astimezone(unit.program.zone).date().isoformat()
    movement = await ledger.credit(
        unit,
        wallet,
        challenge.points,
        ledger.ISSUANCE,
        ledger.Posting(
            kind=TransactionKind.CHALLENGE,
            source="program",
            reference=f"{challenge.key}:{local_start}",
            description=wording.text(unit.program, "challenge", rule=rule),
            breakdown=[bonus_line(unit.program, rule, "challenge", challenge.points)],
        ),
        counts_toward_lifetime=True,
    )
    await sql.execute(
        conn,
        "INSERT INTO challenge_completion (challenge_key, member_id, window_start, window_end, "
        "points, transaction_id, completed_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            challenge.key,
            member_id,
            window.start,
            window.end,
            challenge.points,
            movement.transaction_id,
            unit.now,
        ],
    )
    unit.emit(
        events.ChallengeCompleted(
            member_id=member_id,
            challenge=challenge.key,
            window_start=window.start,
            window_end=window.end,
            points=challenge.points,
            transaction_id=movement.transaction_id,
        ),
        transaction_id=movement.transaction_id,
    )


async def _take_slot(conn: BaseDBAsyncClient, challenge: Challenge, window: Window) -> bool:
    """One of the window's first-N slots, or False when they are all taken."""
    await sql.execute(
        conn,
        "INSERT INTO challenge_slots (challenge_key, window_start, taken) VALUES (?, ?, 0) "
        "ON CONFLICT (challenge_key, window_start) DO NOTHING",
        [challenge.key, window.start],
    )
    taken = await sql.execute(
        conn,
        "UPDATE challenge_slots SET taken = taken + 1 "
        "WHERE challenge_key = ? AND window_start = ? AND taken < ?",
        [challenge.key, window.start, challenge.first],
    )
    return bool(taken)
