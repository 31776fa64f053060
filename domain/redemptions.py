"""Spending points on rewards, and giving them back when a redemption is cancelled."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from domain import events, idempotency, ledger, members, sql, tier_rules, views, wording
from domain.actors import Actor, ActorKind
from domain.errors import DomainError, ErrorCode, Forbidden, NotFound
from domain.models import Redemption, RewardStock
from domain.program import Program, Reward
from domain.transaction_kind import TransactionKind
from domain.unit import Unit
from domain.words import counted

ISSUED = "ISSUED"
FULFILLED = "FULFILLED"
CANCELLED = "CANCELLED"
_CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


@dataclass(frozen=True)
class Redeemed:
    """A redemption made or cancelled: the member, the redemption and the transaction as the
    operation left them."""

    member: views.MemberView
    redemption: views.RedemptionView
    transaction: views.TransactionView


@dataclass(frozen=True)
class Fulfilled:
    redemption: views.RedemptionView


def new_code() -> str:
    raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(12))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


async def sync_stock(program: Program) -> None:
    """Every reward with a stock limit gets its counter row."""
    limited = [key for key, reward in program.rewards.items() if reward.stock is not None]
    existing = set(
        await RewardStock.filter(reward_key__in=limited).values_list("reward_key", flat=True)
    )
    missing = [RewardStock(reward_key=key) for key in limited if key not in existing]
    if missing:
        await RewardStock.bulk_create(missing, ignore_conflicts=True)


async def stock_left(
    program: Program, reward_keys: list[str], conn: BaseDBAsyncClient | None = None
) -> dict[str, int | None]:
    """Units still available per reward; None means unlimited. One statement, none when no
    reward asked about has a stock."""
    stocked = [key for key in reward_keys if program.rewards[key].stock is not None]
    found = (
        await sql.rows(
            conn or sql.connection(),
            "SELECT reward_key, issued FROM reward_stock "
            f"WHERE reward_key IN ({sql.in_list(len(stocked))})",
            stocked,
        )
        if stocked
        else []
    )
    issued = {r["reward_key"]: r["issued"] for r in found}
    left: dict[str, int | None] = {}
    for key in reward_keys:
        stock = program.rewards[key].stock
        left[key] = None if stock is None else max(stock - int(issued.get(key, 0)), 0)
    return left


@dataclass(frozen=True)
class Standing:
    """What redeeming a reward is judged on, for one member at one moment."""

    tier: str | None  # the member's stored tier (views.MemberView.tier; None: the base)
    balance: int  # spendable points
    redeemed_in_period: int  # its redemptions of the reward in the limit's current period
    stock_left: int | None  # units the reward has left; None: unlimited


def refusal(program: Program, reward: Reward, standing: Standing) -> DomainError | None:
    """Why redeeming `reward` would be refused, or None: the one rule, which `redeem` applies
    and `Reward.availability` foretells. When several apply, the first of these is the answer:
    the tier (NOT_ELIGIBLE), the points (INSUFFICIENT_POINTS), the member's own limit
    (LIMIT_EXCEEDED), the stock (OUT_OF_STOCK)."""
    reached = tier_rules.position(program.tiers, standing.tier)
    if reward.min_tier is not None and reached < program.tier_rank(reward.min_tier):
        needed = program.tier(reward.min_tier)
        named = needed.name.get() if needed else reward.min_tier
        return DomainError(
            ErrorCode.NOT_ELIGIBLE,
            f"{reward.name.get()} is for {named} members and above.",
            "rewardId",
        )
    if standing.balance < reward.points_cost:
        return ledger.InsufficientPoints(reward.points_cost)
    if reward.limit is not None and standing.redeemed_in_period >= reward.limit.count:
        return DomainError(
            ErrorCode.LIMIT_EXCEEDED,
            f"{reward.name.get()} can be redeemed {counted(reward.limit.count, 'time')} "
            f"{reward.limit.per}.",
            "rewardId",
        )
    if standing.stock_left is not None and standing.stock_left <= 0:
        return _out_of_stock(reward)
    return None


def _out_of_stock(reward: Reward) -> DomainError:
    return DomainError(ErrorCode.OUT_OF_STOCK, f"{reward.name.get()} is out of stock.", "rewardId")


def points_short(reward: Reward, standing: Standing) -> int:
    """How many more spendable points redeeming needs; 0 when the balance is enough."""
    return max(reward.points_cost - standing.balance, 0)


async def redeemed_in_period(
    conn: BaseDBAsyncClient,
    program: Program,
    member_id: int,
    rewards: Sequence[Reward],
    now: datetime,
) -> dict[str, int]:
    """How often the member redeemed each of these rewards that has a limit, in that limit's
    current period (calendar periods in the program's time zone; cancelled redemptions do not
    count), in one statement; rewards without a limit are left out."""
    limited = [(reward.key, reward.limit) for reward in rewards if reward.limit is not None]
    if not limited:
        return {}
    conditions: list[str] = []
    params: list[Any] = [member_id, CANCELLED]
    for key, limit in limited:
        start = limit.period.start(now, program.zone)
        if start is None:
            conditions.append("reward_key = ?")
            params.append(key)
        else:
            conditions.append("(reward_key = ? AND created_at >= ?)")
            params += [key, start]
    found = await sql.rows(
        conn,
        "SELECT reward_key, COUNT(*) AS n FROM redemption WHERE member_id = ? AND status <> ? "
        f"AND ({' OR '.join(conditions)}) GROUP BY reward_key",
        params,
    )
    used = {key: 0 for key, _ in limited}
    used.update({r["reward_key"]: int(r["n"]) for r in found})
    return used


async def redeem(
    program: Program,
    actor: Actor,
    member: members.MemberRef,
    reward_key: str,
    idempotency_key: object,
    now: datetime | None = None,
) -> Redeemed:
    req = idempotency.request(
        actor.scope,
        idempotency_key,
        "redeemReward",
        {"memberId": member.id, "rewardId": reward_key},
    )

    async def work(unit: Unit) -> Redeemed:
        reward = unit.program.rewards.get(reward_key)
        if reward is None:
            raise NotFound("Reward", "rewardId")
        # Locked until commit: this member's redemptions are judged one at a time, each on the
        # wallet and the redemptions as the one before left them.
        found = await ledger.current(unit, await members.find(member))
        wallet = ledger.Wallet.of(found)
        standing = Standing(
            tier=found.tier,
            balance=found.balance,
            redeemed_in_period=(
                await redeemed_in_period(unit.conn, unit.program, found.id, [reward], unit.now)
            ).get(reward.key, 0),
            stock_left=(
                (await stock_left(unit.program, [reward.key], unit.conn))[reward.key]
                if reward.stock is not None
                else None
            ),
        )
        refused = refusal(unit.program, reward, standing)
        if refused is not None:
            raise refused
        movement = await ledger.debit(
            unit,
            wallet,
            reward.points_cost,
            ledger.REDEMPTION,
            ledger.Posting(
                kind=TransactionKind.REDEEM,
                source=actor.source,
                reference=reward.key,
                description=wording.text(unit.program, "redeemed", rule=f"reward:{reward.key}"),
                partner=reward.partner,
            ),
        )
        redemption = await _create(unit, wallet, reward, movement.transaction_id)
        # Last, so that the hot counter row of a limited reward is locked for the least time;
        # guarded, because other members may have taken the last units since it was read.
        if reward.stock is not None:
            taken = await sql.execute(
                unit.conn,
                "UPDATE reward_stock SET issued = issued + 1 WHERE reward_key = ? AND issued < ?",
                [reward.key, reward.stock],
            )
            if not taken:
                raise _out_of_stock(reward)
        unit.emit(
            events.RewardRedeemed(
                member_id=wallet.member_id,
                redemption_id=redemption.id,
                reward=reward.key,
                points=reward.points_cost,
                source=actor.source,
            ),
            transaction_id=movement.transaction_id,
        )
        return Redeemed(
            member=ledger.after(found, movement),
            redemption=redemption,
            transaction=movement.transaction,
        )

    return (await idempotency.run_once(req, program, work, Redeemed, now)).result


async def fulfill(
    program: Program, actor: Actor, redemption_id: int, now: datetime | None = None
) -> Fulfilled:
    """Marks a redemption handed over. Doing it again changes nothing; a cancelled one cannot
    be fulfilled. The operator, or the partner whose reward it is, may do it."""

    async def work(unit: Unit) -> Fulfilled:
        redemption = await _view(unit, redemption_id)
        if redemption is None:
            raise NotFound("Redemption", "redemptionId")
        # The partner whose reward it was when redeemed (older rows: whose it is now).
        reward = unit.program.rewards.get(redemption.reward_key)
        owner = redemption.partner or (reward.partner if reward else None)
        if not actor.is_admin and not (
            actor.kind is ActorKind.PARTNER and owner is not None and actor.partner_key == owner
        ):
            raise Forbidden(
                "Only the operator or the reward's partner fulfills it.", "redemptionId"
            )
        changed = await sql.execute(
            unit.conn,
            "UPDATE redemption SET status = ?, fulfilled_at = ? WHERE id = ? AND status = ?",
            [FULFILLED, unit.now, redemption.id, ISSUED],
        )
        if changed:
            unit.emit(
                events.RedemptionFulfilled(
                    member_id=redemption.member_id,
                    redemption_id=redemption.id,
                    reward=redemption.reward_key,
                    source=actor.source,
                )
            )
        else:
            current = await sql.row(
                unit.conn, "SELECT status FROM redemption WHERE id = ?", [redemption.id]
            )
            if current is None or current["status"] != FULFILLED:
                raise DomainError(
                    ErrorCode.INVALID_STATE,
                    "This redemption was cancelled, so it cannot be fulfilled.",
                    "redemptionId",
                )
        fulfilled = await _view(unit, redemption.id)
        if fulfilled is None:
            raise NotFound("Redemption", "redemptionId")
        return Fulfilled(fulfilled)

    return (await idempotency.run_once(None, program, work, Fulfilled, now)).result


async def _view(unit: Unit, redemption_id: int) -> views.RedemptionView | None:
    found = await sql.row(unit.conn, f"{views.REDEMPTION_SELECT} WHERE r.id = ?", [redemption_id])
    return None if found is None else views.redemption_view(found)


async def _create(
    unit: Unit, wallet: ledger.Wallet, reward: Reward, transaction_id: int
) -> views.RedemptionView:
    # Codes are 60 random bits: a clash is too unlikely to be worth a retry loop.
    made = await Redemption.create(
        member_id=wallet.member_id,
        reward_key=reward.key,
        points=reward.points_cost,
        created_at=unit.now,
        code=new_code(),
        status=ISSUED,
        transaction_id=transaction_id,
        using_db=unit.conn,
    )
    return views.RedemptionView(
        id=made.id,
        member_id=wallet.member_id,
        reward_key=reward.key,
        points=reward.points_cost,
        code=made.code,
        status=ISSUED,
        transaction_id=transaction_id,
        partner=reward.partner,
        created_at=unit.now,
        cancelled_at=None,
        fulfilled_at=None,
    )


async def cancel(
    program: Program,
    actor: Actor,
    redemption_id: int,
    idempotency_key: object,
    now: datetime | None = None,
) -> Redeemed:
    req = idempotency.request(
        actor.scope, idempotency_key, "cancelRedemption", {"redemptionId": redemption_id}
    )

    async def work(unit: Unit) -> Redeemed:
        redemption = await _view(unit, redemption_id)
        if redemption is None:
            raise NotFound("Redemption", "redemptionId")
        if actor.kind is ActorKind.MEMBER and redemption.member_id != actor.member_id:
            raise Forbidden("You can cancel only your own redemptions.", "redemptionId")
        changed = await sql.execute(
            unit.conn,
            "UPDATE redemption SET status = ?, cancelled_at = ? WHERE id = ? AND status = ?",
            [CANCELLED, unit.now, redemption.id, ISSUED],
        )
        if not changed:
            # Another cancellation may have won the race since the read above: say what the
            # redemption is now, not what it was.
            current = await sql.row(
                unit.conn, "SELECT status FROM redemption WHERE id = ?", [redemption.id]
            )
            status = str(current["status"] if current else redemption.status).lower()
            raise DomainError(
                ErrorCode.INVALID_STATE,
                f"This redemption is {status}, so it cannot be cancelled.",
                "redemptionId",
            )
        found = await members.find(members.MemberRef(id=redemption.member_id))
        wallet = ledger.Wallet.of(found)
        movement = await ledger.reverse_debit(
            unit,
            wallet,
            redemption.transaction_id,
            ledger.REDEMPTION,
            ledger.Posting(
                kind=TransactionKind.CANCEL,
                source=actor.source,
                reference=redemption.reward_key,
                description=wording.text(unit.program, "redemption_cancelled"),
                reverses_id=redemption.transaction_id,
                partner=redemption.partner,
            ),
        )
        await sql.execute(
            unit.conn,
            "UPDATE redemption SET cancel_transaction_id = ? WHERE id = ?",
            [movement.transaction_id, redemption.id],
        )
        reward = unit.program.rewards.get(redemption.reward_key)
        if reward is not None and reward.stock is not None:
            await sql.execute(
                unit.conn,
                "UPDATE reward_stock SET issued = issued - 1 WHERE reward_key = ? AND issued > 0",
                [redemption.reward_key],
            )
        unit.emit(
            events.RedemptionCancelled(
                member_id=wallet.member_id,
                redemption_id=redemption.id,
                reward=redemption.reward_key,
                points=movement.points,
                source=actor.source,
            ),
            transaction_id=movement.transaction_id,
        )
        cancelled = replace(redemption, status=CANCELLED, cancelled_at=unit.now)
        return Redeemed(
            member=ledger.after(found, movement),
            redemption=cancelled,
            transaction=movement.transaction,
        )

    return (await idempotency.run_once(req, program, work, Redeemed, now)).result
