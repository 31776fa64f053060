"""The leaderboards: what each board's metric counts, read from SQL, and kept in Redis by the
projector (an outbox consumer), the rebuild and the period archive.

What a metric counts, per member, over a period (the times are when the ledger recorded the
activity, in the program's calendar; a purchase recorded late counts when it was recorded):

- `points_earned`: the signed wallet legs of SIGNUP, EARN, REFERRAL, BIRTHDAY, BADGE, ADJUST
  and REFUND transactions, the ones lifetime points count (a new kind that counts toward
  lifetime points belongs in EARNED_KINDS). Pending points count when earned.
  Spending (REDEEM, and CANCEL giving it back), expiry and repaying a debt (REPAY) do not move
  it. On a partner's board, only transactions carrying that partner.
- `purchases`: purchases recorded (refunded ones too); on a partner's board, those it recorded.
- `referrals`: referrals that paid out, counted for the referrer.
- `redemptions`: redemptions not cancelled.
- `actions:<KEY>`: that action's records.

A member is on a board's period once it has anything counted in it, unless it opted out.

The projector never adds to a score: for the members a batch of events touches it computes
their absolute standing from SQL (one statement per board and period the batch touches) and
writes it, so a batch handled twice leaves Redis as it was, and a batch lost with Redis or the
process is handled again (`handle` raises and the runner retries it).
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from redis.exceptions import RedisError
from tortoise.backends.base.client import BaseDBAsyncClient

from domain import consumers, events, outbox, sql
from domain.program import BoardPeriod, Leaderboard, Program
from domain.transaction_kind import TransactionKind
from gamification import scores
from gamification.boards import Boards, BoardsUnavailable, Change, Refresh

log = logging.getLogger("coalition.leaderboards")

NAME = "leaderboards"

EARNED_KINDS = (
    TransactionKind.SIGNUP,
    TransactionKind.EARN,
    TransactionKind.REFERRAL,
    TransactionKind.BIRTHDAY,
    TransactionKind.BADGE,
    TransactionKind.CHALLENGE,
    TransactionKind.SURPRISE,
    TransactionKind.ADJUST,
    TransactionKind.REFUND,
)
# Written into the statement, not passed as parameters: PostgreSQL then finds a prepared
# statement's generic plan as good as a fresh one and keeps it, where with the kinds as
# parameters it planned every execution again (0.7 ms of a 0.3 ms query, on a member's every
# rank read). They are the enum's own values, never input.
_EARNED_IN = ", ".join(f"'{kind.value}'" for kind in EARNED_KINDS)

# Which metric each kind of event can move ("*": every one); the others move no board.
# Every ledger posting emits points.changed, so points_earned follows it alone.
MOVES = {
    events.PointsChanged.TYPE: "points_earned",
    events.PurchaseRecorded.TYPE: "purchases",
    events.ReferralRewarded.TYPE: "referrals",
    events.RewardRedeemed.TYPE: "redemptions",
    events.RedemptionCancelled.TYPE: "redemptions",
    events.ActionRecorded.TYPE: "actions",
    events.LeaderboardOptOutSet.TYPE: "*",
}


def _family(metric: str) -> str:
    return "actions" if metric.startswith("actions:") else metric


# Events re-applied after a rebuild's swap, per statement.
LATE_BATCH = 2000
# How many of a closed period's leaders are archived to SQL.
ARCHIVE_TOP = 100


@dataclass(frozen=True)
class Standing:
    member_id: int
    score: int
    reached_at: datetime  # when the member's score last changed


@dataclass(frozen=True)
class _Metric:
    source: str  # FROM ... (aliased t)
    member: str
    value: str
    at: str
    where: str
    params: tuple[Any, ...]
    # For a metric counted over the member's wallet entries: the member's own rows, correlated
    # to `member m` by account, read for a batch of members (see _standings_query).
    wallet: str | None = None


def _metric(board: Leaderboard) -> _Metric:
    metric, partner = board.metric, board.partner
    if metric == "points_earned":
        where = f"t.kind IN ({_EARNED_IN})"
        params: tuple[Any, ...] = ()
        if partner is not None:
            where += " AND t.partner = ?"
            params += (partner,)
        # From the member's wallet entries (indexed by account), not the transactions (not
        # indexed by member): a batch's few members are found without a scan.
        return _Metric(
            "member m JOIN entry e ON e.account_id = m.account_id "
            "JOIN ledger_transaction t ON t.id = e.transaction_id",
            "m.id",
            "SUM(e.amount)",
            "t.created_at",
            where,
            params,
            wallet="entry e JOIN ledger_transaction t ON t.id = e.transaction_id "
            "WHERE e.account_id = m.account_id",
        )
    if metric == "purchases":
        where, params = ("t.source = ?", (f"partner:{partner}",)) if partner else ("1 = 1", ())
        return _Metric("purchase t", "t.member_id", "COUNT(*)", "t.created_at", where, params)
    if metric == "referrals":
        return _Metric("referral_award t", "t.referrer_id", "COUNT(*)", "t.created_at", "1 = 1", ())
    if metric == "redemptions":
        return _Metric(
            "redemption t",
            "t.member_id",
            "COUNT(*)",
            "t.created_at",
            "t.status <> ?",
            ("CANCELLED",),
        )
    if metric.startswith("actions:"):
        action = metric.removeprefix("actions:")
        return _Metric(
            "action_record t", "t.member_id", "COUNT(*)", "t.occurred_at", "t.action = ?", (action,)
        )
    raise ValueError(f"no leaderboard metric {metric!r}")


def _standings_query(
    board: Leaderboard, window: scores.Window, members: Sequence[int] | None
) -> tuple[str, list[Any]]:
    m = _metric(board)
    counted = [m.where]
    params: list[Any] = list(m.params)
    if window.period is not BoardPeriod.ALL_TIME:
        counted.append(f"{m.at} >= ? AND {m.at} < ?")
        params += [window.start, window.end]
    if members is not None and m.wallet is not None:
        return _wallet_standings_query(m, counted, params, members)
    where = [*counted, f"{m.member} NOT IN (SELECT member_id FROM leaderboard_opt_out)"]
    if members is not None:
        where.append(f"{m.member} IN ({sql.in_list(len(members))})")
        params += list(members)
    statement = (
        f"SELECT {m.member} AS member_id, {m.value} AS score, MAX({m.at}) AS reached_at "
        f"FROM {m.source} WHERE {' AND '.join(where)} GROUP BY {m.member}"
    )
    return statement, params


def _wallet_standings_query(
    m: _Metric, counted: list[str], params: list[Any], members: Sequence[int]
) -> tuple[str, list[Any]]:
    """A batch of members' standings on a wallet metric, each member's entries found by its
    account through the index. A join would do the same, but PostgreSQL's estimate of the
    entries per account is skewed by the system accounts' millions (issuance takes one leg of
    every earn), so for a few hundred members it scans the whole entry table instead (185 ms
    against 11 ms for 500 members among 1,000,000)."""
    rows = f"FROM {m.wallet} AND {' AND '.join(counted)}"
    statement = (
        f"SELECT member_id, score, reached_at FROM (SELECT m.id AS member_id, "
        f"(SELECT {m.value} {rows}) AS score, (SELECT MAX({m.at}) {rows}) AS reached_at "
        f"FROM member m WHERE m.id IN ({sql.in_list(len(members))}) "
        "AND m.id NOT IN (SELECT member_id FROM leaderboard_opt_out)) s "
        "WHERE reached_at IS NOT NULL"
    )
    return statement, [*params, *params, *members]


async def standings(
    conn: BaseDBAsyncClient,
    board: Leaderboard,
    window: scores.Window,
    members: Sequence[int] | None = None,
) -> list[Standing]:
    """Every member's standing on the board over the window (or only these members'), in one
    statement; opted-out members are left out."""
    if members is not None and not members:
        return []
    statement, params = _standings_query(board, window, members)
    return [
        Standing(int(r["member_id"]), int(r["score"]), sql.to_datetime(r["reached_at"]))
        for r in await sql.rows(conn, statement, params)
    ]


def kept_windows(program: Program, board: Leaderboard, now: datetime) -> list[scores.Window]:
    """The periods of a board Redis keeps at `now`: the current one of each kind."""
    return [scores.window(period, now, program.zone) for period in board.periods]


def board(program: Program, key: str) -> Leaderboard | None:
    return next((b for b in program.leaderboards if b.key == key), None)


class Leaderboards:
    """The program's boards over one Redis: refreshing members, rebuilding, archiving."""

    def __init__(self, boards: Boards, program: Callable[[], Program]) -> None:
        self.boards = boards
        self._program = program
        # Closed periods this process has archived (or found archived): checked once each.
        self._archived: set[tuple[str, str, datetime]] = set()

    @property
    def program(self) -> Program:
        return self._program()

    async def refresh(
        self,
        conn: BaseDBAsyncClient,
        touched: dict[tuple[str, scores.Window], set[int]],
        now: datetime,
        publish: bool = True,
    ) -> int:
        """Writes the absolute standings of the touched members ({(board, window): members})
        to Redis; returns how many (key, member) ranks moved. Windows already past their
        expiry are skipped."""
        found = await self.standings_of(conn, touched, now, publish)
        moved = await self.boards.apply(found.changes, found.expiries, found.announce)
        return len(moved)

    async def standings_of(
        self,
        conn: BaseDBAsyncClient,
        touched: dict[tuple[str, scores.Window], set[int]],
        now: datetime,
        publish: bool = True,
    ) -> Refresh:
        """The touched members' absolute standings from SQL (one statement per board period),
        as a Refresh to write: on its own (`refresh`) or ahead of a read."""
        program = self.program
        changes: list[Change] = []
        expiries: dict[str, int] = {}
        announce: dict[str, tuple[str, str]] = {}
        for (board_key, window), members in touched.items():
            found = board(program, board_key)
            if found is None or not members:
                continue
            expires = window.expires_at
            if expires is not None and expires <= now:
                continue
            key = self.boards.key(board_key, window)
            ordered = sorted(members)
            by_member = {s.member_id: s for s in await standings(conn, found, window, ordered)}
            for member_id in ordered:
                standing = by_member.get(member_id)
                value = (
                    None if standing is None else window.encode(standing.score, standing.reached_at)
                )
                changes.append(Change(key, member_id, value))
            if expires is not None:
                expiries[key] = math.ceil((expires - now).total_seconds())
            if publish:
                announce[key] = (board_key, window.period.value)
        return Refresh(tuple(changes), expiries, announce)

    async def refresh_members(self, members: Iterable[int], now: datetime) -> int:
        """Every kept board's current periods, for these members (an opt-out, at once)."""
        wanted = set(members)
        program = self.program
        touched = {
            (b.key, window): wanted
            for b in program.leaderboards
            for window in kept_windows(program, b, now)
        }
        return await self.refresh(sql.connection(), touched, now)

    async def fresh(
        self, board_key: str, window: scores.Window, members: Iterable[int], now: datetime
    ) -> Refresh:
        """These members' standings on one board period, from SQL, to write ahead of a read
        of it (read-your-writes, whatever the projector has reached)."""
        return await self.standings_of(sql.connection(), {(board_key, window): set(members)}, now)

    # -- the projector ------------------------------------------------------------------------
    def touched_by(
        self, stored: Sequence[outbox.StoredEvent], now: datetime
    ) -> dict[tuple[str, scores.Window], set[int]]:
        """Which members a batch of events may have moved, on which board periods: those of
        the moment each event happened (a backlog from last week lands in last week) and the
        current ones."""
        program = self.program
        zone = program.zone
        periods = {p for b in program.leaderboards for p in b.periods}
        current = {p: scores.window(p, now, zone) for p in periods}
        every = {_family(b.metric) for b in program.leaderboards}
        # Members by metric and by the windows of their events' moments (mostly the current).
        by_window: dict[tuple[str, scores.Window], set[int]] = {}
        for event in stored:
            family = MOVES.get(event.type)
            if family is None:
                continue
            moves = every if family == "*" else {family} & every
            if event.type == events.PointsChanged.TYPE and event.payload.get("kind") == "BIRTHDAY":
                # The birthday job records its action without an action.recorded event.
                moves |= {"actions"} & every
            members: set[int] = set()
            if event.member_id is not None:
                members.add(event.member_id)
            if event.type == events.ReferralRewarded.TYPE:
                domain_event, _ = events.read(event.type, event.payload)
                if isinstance(domain_event, events.ReferralRewarded) and domain_event.referrer_id:
                    members.add(domain_event.referrer_id)
            if not members:
                continue
            moment = events.occurred_at(event.payload) or now
            for moved in moves:
                for period, window in current.items():
                    by_window.setdefault((moved, window), set()).update(members)
                    if not window.start <= moment < (window.end or moment + timedelta(1)):
                        at = scores.window(period, moment, zone)
                        by_window.setdefault((moved, at), set()).update(members)
        touched: dict[tuple[str, scores.Window], set[int]] = {}
        for b in program.leaderboards:
            for (family, window), members in by_window.items():
                if family == _family(b.metric) and window.period in b.periods:
                    touched[(b.key, window)] = members
        return touched

    async def project(
        self, conn: BaseDBAsyncClient, stored: Sequence[outbox.StoredEvent], now: datetime
    ) -> None:
        # A Redis that lost its keys (flushed, replaced) is rebuilt before it is written to.
        await self.ensure_built(conn, now)
        await self.archive_closed(conn, now)
        await self.refresh(conn, self.touched_by(stored, now), now)

    # -- rebuilding -----------------------------------------------------------------------------
    async def rebuild(
        self,
        conn: BaseDBAsyncClient,
        now: datetime,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> str:
        """Recomputes every kept board period from SQL into temporary keys, swaps them in at
        once (the old values UNLINKed), drops keys of boards the program no longer keeps, and
        records a new generation; then re-applies the members of events written since it
        began (its watermark: the projector's checkpoint when it started, as everything
        before it had reached SQL before the rebuild read it), which covers what the projector
        wrote to the old keys meanwhile. `progress(key, loaded, total)` hears of
        each key's loading. Returns the generation."""
        program = self.program
        previous = await self.boards.generation()  # and a Redis that does not answer stops here
        generation = uuid.uuid4().hex[:12]
        log.info("leaderboards: rebuilding generation %s over %s", generation, previous)
        handled = await consumers.checkpoint(conn, NAME)
        watermark = handled.position if handled is not None else await outbox.head(conn)
        renames: dict[str, str | None] = {}
        expiries: dict[str, int] = {}
        try:
            for b in program.leaderboards:
                for window in kept_windows(program, b, now):
                    live = self.boards.key(b.key, window)
                    temporary = self.boards.temporary_key(generation, live)
                    found = await standings(conn, b, window)
                    renames[live] = temporary if found else None
                    written = await self.boards.load(
                        temporary,
                        ((s.member_id, window.encode(s.score, s.reached_at)) for s in found),
                        loaded=_told(progress, live, len(found)),
                    )
                    if window.expires_at is not None and written:
                        expiries[live] = math.ceil((window.expires_at - now).total_seconds())
            for stale in await self._stale_keys(set(renames)):
                renames[stale] = None
            await self.boards.swap(renames, expiries, generation)
        except BaseException:
            await self.boards.drop([t for t in renames.values() if t is not None])
            raise
        while late := await outbox.after(conn, watermark, None, LATE_BATCH):
            await self.refresh(conn, self.touched_by(late, now), now, publish=False)
            watermark = late[-1].position
        return generation

    async def _stale_keys(self, kept: set[str]) -> list[str]:
        """Live board keys no kept board period has: boards dropped from the program, and
        closed periods (their expiry drops them anyway, after the grace)."""
        found: list[str] = []
        program = self.program
        current = {b.key for b in program.leaderboards}
        pattern = f"{self.boards.tag}:lb:*"
        try:
            async for key in self.boards.redis.scan_iter(match=pattern, count=1000):
                name = str(key)
                if name == self.boards.generation_key or name in kept:
                    continue
                board_key = name.removeprefix(f"{self.boards.tag}:lb:").split(":", 1)[0]
                if board_key not in current:
                    found.append(name)
        except RedisError as error:
            raise BoardsUnavailable(str(error)) from error
        return found

    async def ensure_built(self, conn: BaseDBAsyncClient, now: datetime) -> str | None:
        """Rebuilds when Redis holds no generation (it was flushed or lost); returns the new
        generation then, else None."""
        if await self.boards.generation() is not None:
            return None
        log.warning("leaderboards: Redis holds no generation key; rebuilding from SQL")
        return await self.rebuild(conn, now)

    # -- archiving ------------------------------------------------------------------------------
    async def archive_closed(self, conn: BaseDBAsyncClient, now: datetime) -> int:
        """Archives the top of every board's period that closed before `now` (the one just
        before the current one), once; returns how many periods it archived."""
        program = self.program
        done = 0
        for b in program.leaderboards:
            for period in b.periods:
                closed = scores.window(period, now, program.zone).previous(program.zone)
                if closed is None:
                    continue
                mark = (b.key, period.value, closed.start)
                if mark in self._archived:
                    continue
                if await archive(conn, b, closed, now):
                    done += 1
                self._archived.add(mark)
        return done


def _told(
    progress: Callable[[str, int, int], None] | None, key: str, total: int
) -> Callable[[int], None] | None:
    if progress is None:
        return None
    return lambda done: progress(key, done, total)


def ranked(found: Iterable[Standing], window: scores.Window) -> list[tuple[int, Standing]]:
    """Standings in board order (rank from 1), ties broken as Redis breaks them."""
    order = sorted(
        found,
        key=lambda s: (window.encode(s.score, s.reached_at), str(s.member_id)),
        reverse=True,
    )
    return list(enumerate(order, start=1))


async def archive(
    conn: BaseDBAsyncClient, b: Leaderboard, window: scores.Window, now: datetime
) -> bool:
    """Keeps the top ARCHIVE_TOP of a closed period in SQL, computed from SQL; False when it
    was archived already."""
    exists = await sql.row(
        conn,
        "SELECT 1 AS yes FROM leaderboard_archive WHERE board = ? AND period = ? "
        "AND period_start = ? LIMIT 1",
        [b.key, window.period.value, window.start],
    )
    if exists is not None:
        return False
    top = ranked(await standings(conn, b, window), window)[:ARCHIVE_TOP]
    if not top:
        return False
    params: list[Any] = []
    for rank, standing in top:
        params += [
            b.key,
            window.period.value,
            window.start,
            rank,
            standing.member_id,
            scores.clamp_score(standing.score),
            now,
        ]
    await sql.execute(
        conn,
        "INSERT INTO leaderboard_archive (board, period, period_start, rank, member_id, score, "
        f"archived_at) VALUES {sql.values_clause(7, len(top))} "
        "ON CONFLICT (board, period, period_start, rank) DO NOTHING",
        params,
    )
    return True


@dataclass(frozen=True)
class ArchivedEntry:
    rank: int
    member_id: int
    score: int


async def archived(
    board_key: str, period: BoardPeriod, start: datetime, first: int
) -> list[ArchivedEntry]:
    found = await sql.rows(
        sql.connection(),
        "SELECT rank, member_id, score FROM leaderboard_archive WHERE board = ? AND period = ? "
        "AND period_start = ? ORDER BY rank LIMIT ?",
        [board_key, period.value, start, first],
    )
    return [ArchivedEntry(int(r["rank"]), int(r["member_id"]), int(r["score"])) for r in found]


class Projector:
    """The outbox consumer that keeps the boards: absolute standings for the members each
    batch touches. A Redis failure raises, so the batch rolls back and is retried."""

    name = NAME

    def __init__(self, leaderboards: Leaderboards) -> None:
        self.leaderboards = leaderboards

    async def handle(
        self, conn: BaseDBAsyncClient, events: Sequence[outbox.StoredEvent], now: datetime
    ) -> None:
        await self.leaderboards.project(conn, events, now)
