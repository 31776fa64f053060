"""The badge engine: members' metrics from SQL, badge levels unlocked once, bonuses paid once.

Invariants:
- A level is unlocked at most once per member: one `member_badge` row per (member, badge,
  level), enforced by a UNIQUE constraint. The bonus is posted in the same transaction as that
  row, and only by the statement that inserted it, so however often the engine sees an event
  (a redelivered batch, the consumer and a retroactive sweep at once), a level pays once.
- Levels are never taken back: a refund that lowers a metric leaves what was unlocked.
- Metrics are always recomputed from SQL (never counted up event by event), so the engine
  needs no state of its own and a late or repeated event changes nothing it should not.

Reading costs a fixed number of statements for any number of members and badges: one per kind
of metric the program's badges use (`metrics_of`), plus the unlocked levels.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from domain import events, ledger, outbox, sql
from domain.actors import partner_of
from domain.clock import utcnow
from domain.earning import said
from domain.program import Badge, Program, Streak
from domain.redemptions import CANCELLED
from domain.transaction_kind import TransactionKind
from domain.unit import Unit, unit_in, unit_of_work
from gamification import streaks as streak_maths
from gamification.badges import Metrics, Standing, newly_reached, standing, visible

log = logging.getLogger("coalition.badges")

NAME = "badges"
# Money is summed in ten-thousandths (the columns' scale) as integers: exact on both databases.
_SCALE = 10_000
_PAGE = 500


@dataclass
class Snapshot:
    """One member's metrics, streaks and unlocked levels, read together."""

    account_id: int = 0
    debt: int = 0
    metrics: Metrics = field(default_factory=Metrics)
    streaks: dict[str, streak_maths.StreakStatus] = field(default_factory=dict)
    unlocked: dict[str, dict[int, datetime]] = field(default_factory=dict)

    def standing(self, badge: Badge) -> Standing:
        return standing(badge, self.metrics.value(badge.metric), self.unlocked.get(badge.key, {}))

    def visible(self, program: Program) -> list[Standing]:
        """Every badge the member may see, in program order."""
        return [
            self.standing(badge)
            for badge in program.badges
            if visible(badge, self.unlocked.get(badge.key, {}))
        ]


def _kinds(badges: Iterable[Badge]) -> set[str]:
    return {badge.metric.partition(":")[0] for badge in badges}


async def snapshots(
    conn: BaseDBAsyncClient,
    program: Program,
    member_ids: Collection[int],
    now: datetime,
    badges: Sequence[Badge] | None = None,
    with_streaks: Sequence[Streak] = (),
) -> dict[int, Snapshot]:
    """Snapshots of these members, counting what `badges` (default: all the program's) and
    `with_streaks` need; one statement per kind of metric, whatever the counts."""
    badges = program.badges if badges is None else badges
    ids = sorted(set(member_ids))
    found = {member: Snapshot() for member in ids}
    if not ids:
        return found
    kinds = _kinds(badges)
    wanted = {s.key: s for s in with_streaks}
    for badge in badges:
        kind, _, key = badge.metric.partition(":")
        if kind == "streak":
            streak = next((s for s in program.streaks if s.key == key), None)
            if streak is not None:
                wanted[key] = streak
    marks = sql.in_list(len(ids))

    lifetime: dict[int, int] = {}
    for row in await sql.rows(
        conn,
        "SELECT m.id, a.id AS account_id, a.lifetime, a.debt FROM member m "
        f"JOIN account a ON a.id = m.account_id WHERE m.id IN ({marks})",
        ids,
    ):
        found[row["id"]].account_id = int(row["account_id"])
        found[row["id"]].debt = int(row["debt"])
        lifetime[row["id"]] = int(row["lifetime"])

    purchases: dict[int, int] = defaultdict(int)
    spend: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    partners: dict[int, set[str]] = defaultdict(set)
    if kinds & {"purchases", "spend", "partners"}:
        for row in await sql.rows(
            conn,
            "SELECT member_id, currency, source, COUNT(*) AS n, "
            "SUM(CASE WHEN refunded_amount < amount THEN 1 ELSE 0 END) AS kept, "
            f"SUM(CAST(ROUND(amount * {_SCALE}) AS BIGINT) "
            f"- CAST(ROUND(refunded_amount * {_SCALE}) AS BIGINT)) AS spent "
            f"FROM purchase WHERE member_id IN ({marks}) GROUP BY member_id, currency, source",
            ids,
        ):
            member = row["member_id"]
            kept = int(row["kept"] or 0)
            purchases[member] += kept
            spend[member][row["currency"]] += int(row["spent"] or 0)
            partner = partner_of(row["source"])
            if partner is not None and kept:
                partners[member].add(partner)

    actions: dict[int, dict[str, int]] = defaultdict(dict)
    counted = sorted(
        {b.metric.partition(":")[2] for b in badges if b.metric.startswith("actions:")}
    )
    if counted:
        for row in await sql.rows(
            conn,
            "SELECT member_id, action, COUNT(*) AS n FROM action_record "
            f"WHERE member_id IN ({marks}) AND action IN ({sql.in_list(len(counted))}) "
            "GROUP BY member_id, action",
            [*ids, *counted],
        ):
            actions[row["member_id"]][row["action"]] = int(row["n"])

    referrals: dict[int, int] = {}
    if "referrals" in kinds:
        for row in await sql.rows(
            conn,
            "SELECT referrer_id, COUNT(*) AS n FROM referral_award "
            f"WHERE referrer_id IN ({marks}) GROUP BY referrer_id",
            ids,
        ):
            referrals[row["referrer_id"]] = int(row["n"])

    redemptions: dict[int, int] = {}
    if "redemptions" in kinds:
        for row in await sql.rows(
            conn,
            "SELECT member_id, COUNT(*) AS n FROM redemption "
            f"WHERE member_id IN ({marks}) AND status <> ? GROUP BY member_id",
            [*ids, CANCELLED],
        ):
            redemptions[row["member_id"]] = int(row["n"])

    streaks = await _streaks(conn, program, ids, list(wanted.values()), now)

    for row in await sql.rows(
        conn,
        "SELECT member_id, badge, level, unlocked_at FROM member_badge "
        f"WHERE member_id IN ({marks})",
        ids,
    ):
        levels = found[row["member_id"]].unlocked.setdefault(row["badge"], {})
        levels[int(row["level"])] = sql.to_datetime(row["unlocked_at"])

    for member in ids:
        snapshot = found[member]
        snapshot.streaks = streaks.get(member, {})
        snapshot.metrics = Metrics(
            purchases=purchases.get(member, 0),
            spend={cur: minor // _SCALE for cur, minor in spend.get(member, {}).items()},
            partners=len(partners.get(member, ())),
            points_earned=lifetime.get(member, 0),
            referrals=referrals.get(member, 0),
            redemptions=redemptions.get(member, 0),
            actions=actions.get(member, {}),
            streaks={key: status.longest for key, status in snapshot.streaks.items()},
        )
    return found


async def _streaks(
    conn: BaseDBAsyncClient,
    program: Program,
    ids: list[int],
    wanted: list[Streak],
    now: datetime,
) -> dict[int, dict[str, streak_maths.StreakStatus]]:
    """Each member's streaks, from the moments of its qualifying activities: one statement."""
    if not wanted:
        return {}
    marks = sql.in_list(len(ids))
    parts: list[str] = []
    params: list[Any] = []
    if any(s.activity == "purchases" for s in wanted):
        parts.append(
            "SELECT member_id, 'purchases' AS activity, occurred_at FROM purchase "
            f"WHERE member_id IN ({marks}) AND refunded_amount < amount"
        )
        params += ids
    keys = sorted({s.activity.partition(":")[2] for s in wanted if s.activity != "purchases"})
    if keys:
        parts.append(
            "SELECT member_id, action AS activity, occurred_at FROM action_record "
            f"WHERE member_id IN ({marks}) AND action IN ({sql.in_list(len(keys))})"
        )
        params += [*ids, *keys]
    days: dict[int, dict[str, set[date]]] = defaultdict(lambda: defaultdict(set))
    zone = program.zone
    for row in await sql.rows(conn, " UNION ALL ".join(parts), params):
        activity = row["activity"]
        name = activity if activity == "purchases" else f"actions:{activity}"
        days[row["member_id"]][name].add(
            sql.to_datetime(row["occurred_at"]).astimezone(zone).date()
        )
    today = now.astimezone(zone).date()
    return {
        member: {
            s.key: streak_maths.streak_status(days[member][s.activity], s.period, s.grace, today)
            for s in wanted
        }
        for member in ids
    }


@dataclass(frozen=True)
class Unlocked:
    member_id: int
    badge: str
    level: int
    bonus_points: int


async def award(
    unit: Unit, member_ids: Collection[int], badges: Sequence[Badge] | None = None
) -> list[Unlocked]:
    """Unlocks every level these members have reached and not unlocked yet, in the unit's
    transaction: a `member_badge` row, the bonus (if any) through the ledger, a badge.unlocked
    event. A bonus that lifts a points_earned badge unlocks that one too."""
    badges = unit.program.badges if badges is None else badges
    done: list[Unlocked] = []
    pending = set(member_ids)
    # Each pass can only unlock levels; there are finitely many, so this ends.
    while pending and badges:
        found = await snapshots(unit.conn, unit.program, pending, unit.now, badges)
        lifted: set[int] = set()
        for member, snapshot in found.items():
            if not snapshot.account_id:
                continue  # no such member
            for badge in badges:
                value = snapshot.metrics.value(badge.metric)
                for level in newly_reached(badge, value, snapshot.unlocked.get(badge.key, {})):
                    unlocked = await _unlock(unit, member, snapshot, badge, level)
                    if unlocked is not None:
                        done.append(unlocked)
                        if unlocked.bonus_points:
                            lifted.add(member)
        pending = lifted if "points_earned" in _kinds(badges) else set()
    return done


async def _unlock(
    unit: Unit, member: int, snapshot: Snapshot, badge: Badge, level: int
) -> Unlocked | None:
    inserted = await sql.row(
        unit.conn,
        "INSERT INTO member_badge (member_id, badge, level, unlocked_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (member_id, badge, level) DO NOTHING RETURNING id",
        [member, badge.key, level, unit.now],
    )
    if inserted is None:
        return None  # unlocked meanwhile, by another transaction that committed first
    snapshot.unlocked.setdefault(badge.key, {})[level] = unit.now
    bonus = badge.bonus_for(level)
    transaction_id = None
    if bonus:
        rule = f"badge:{badge.key}"
        line = said(unit.program, rule, "badge_bonus", Decimal(bonus), level=level)
        wallet = ledger.Wallet(member_id=member, account_id=snapshot.account_id, debt=snapshot.debt)
        try:
            movement = await ledger.credit(
                unit,
                wallet,
                bonus,
                ledger.ISSUANCE,
                ledger.Posting(
                    kind=TransactionKind.BADGE,
                    source="program",
                    reference=f"{badge.key}:{level}",
                    description=line.description,
                    breakdown=[line.as_json()],
                ),
                counts_toward_lifetime=True,
            )
        except ledger.WalletFull:
            # The wallet holds the most it can (its guarded UPDATE wrote nothing): the level
            # is unlocked without its bonus, rather than holding back every member's badges.
            log.warning(
                "badges: member %s is full; %s level %s gives no bonus", member, badge.key, level
            )
            bonus = 0
        else:
            transaction_id = movement.transaction_id
            snapshot.debt = movement.debt
            await sql.execute(
                unit.conn,
                "UPDATE member_badge SET transaction_id = ? WHERE id = ?",
                [transaction_id, inserted["id"]],
            )
    unit.emit(
        events.BadgeUnlocked(member_id=member, badge=badge.key, level=level, bonus_points=bonus),
        transaction_id=transaction_id,
    )
    return Unlocked(member, badge.key, level, bonus)


# -- the outbox consumer ----------------------------------------------------------------------

# The events after which a member's metrics may have moved.
MOVING = frozenset(
    {
        events.PurchaseRecorded.TYPE,
        events.PurchaseRefunded.TYPE,
        events.ActionRecorded.TYPE,
        events.ReferralRewarded.TYPE,
        events.RewardRedeemed.TYPE,
        events.RedemptionCancelled.TYPE,
        events.PointsChanged.TYPE,
        events.PointsAdjusted.TYPE,
    }
)


def affected(stored: Iterable[outbox.StoredEvent]) -> set[int]:
    """The members whose metrics the events may have moved: the referrer of a referral too."""
    members: set[int] = set()
    for event in stored:
        if event.type not in MOVING:
            continue
        if event.member_id is not None:
            members.add(event.member_id)
        if event.type == events.ReferralRewarded.TYPE:
            read, _ = events.read(event.type, event.payload)
            if isinstance(read, events.ReferralRewarded) and read.referrer_id is not None:
                members.add(read.referrer_id)
    return members


class BadgeEngine:
    """The outbox consumer named "badges": after the events that move a metric, it recomputes
    those members' metrics from SQL and unlocks what they reached, in the consumer's
    transaction (so a level, its bonus and its event commit once, with the checkpoint)."""

    name = NAME

    def __init__(self, program: Callable[[], Program]) -> None:
        self._program = program

    async def handle(
        self, conn: BaseDBAsyncClient, stored: Sequence[outbox.StoredEvent], now: datetime
    ) -> None:
        program = self._program()
        members = affected(stored)
        if not members or not program.badges:
            return
        async with unit_in(conn, program, now) as unit:
            unlocked = await award(unit, members)
        if unlocked:
            log.info("badges: %d level(s) unlocked", len(unlocked))


# -- retroactive awards -----------------------------------------------------------------------


def changed_badges(program: Program, previous: Program | None) -> list[Badge]:
    """The badges a member may newly qualify for without doing anything: new ones, and those
    whose metric, levels or streak changed since `previous`."""

    def criteria(p: Program, badge: Badge) -> tuple[Any, ...]:
        kind, _, key = badge.metric.partition(":")
        streak = next((s for s in p.streaks if s.key == key), None) if kind == "streak" else None
        return (badge.metric, badge.levels, streak)

    before = {b.key: criteria(previous, b) for b in previous.badges} if previous else {}
    return [b for b in program.badges if before.get(b.key) != criteria(program, b)]


async def award_retroactively(
    program: Program,
    badges: Sequence[Badge] | None = None,
    now: datetime | None = None,
    page: int = _PAGE,
) -> int:
    """Unlocks `badges` (default: all) for every member who already qualifies, from SQL, a page
    of members per transaction; returns the levels unlocked. Run when a program version is
    applied, for the badges it adds or changes (app.runtime.prepare)."""
    badges = program.badges if badges is None else badges
    if not badges:
        return 0
    moment = now or utcnow()
    unlocked = 0
    after = 0
    while True:
        rows = await sql.rows(
            sql.connection(),
            "SELECT id FROM member WHERE id > ? ORDER BY id LIMIT ?",
            [after, page],
        )
        if not rows:
            return unlocked
        ids = [int(r["id"]) for r in rows]
        async with unit_of_work(program, moment) as unit:
            unlocked += len(await award(unit, ids, badges))
        after = ids[-1]
