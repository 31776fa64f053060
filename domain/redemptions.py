"""Spending points on rewards, and giving them back when a redemption is cancelled."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import datetime

from domain import idempotency, ledger, members, sql, views
from domain.actors import Actor, ActorKind
from domain.errors import DomainError, ErrorCode, Forbidden, NotFound
from domain.models import Redemption, RewardStock
from domain.program import Program, Reward
from domain.unit import Unit

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


async def stock_left(program: Program, reward_keys: list[str]) -> dict[str, int | None]:
    """Units still available per reward; None means unlimited."""
    issued = dict(
        await RewardStock.filter(reward_key__in=reward_keys).values_list("reward_key", "issued")
    )
    left: dict[str, int | None] = {}
    for key in reward_keys:
        stock = program.rewards[key].stock
        left[key] = None if stock is None else max(stock - int(issued.get(key, 0)), 0)
    return left


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
        found = await members.find(member)
        wallet = ledger.Wallet.of(found)
        if reward.min_tier is not None:
            tier = unit.program.tier_for(found.qualifying_points)
            if unit.program.tier_rank(tier.key) < unit.program.tier_rank(reward.min_tier):
                needed = unit.program.tier(reward.min_tier)
                assert needed is not None  # the program file checks min_tier
                raise DomainError(
                    ErrorCode.NOT_ELIGIBLE,
                    f"{reward.name.get()} is for {needed.name.get()} members and above.",
                    "rewardId",
                )
        movement = await ledger.debit(
            unit,
            wallet,
            reward.points_cost,
            ledger.REDEMPTION,
            ledger.Posting(
                kind="REDEEM",
                source=actor.source,
                reference=reward.key,
                description=f"Redeemed: {reward.name.get()}",
                partner=reward.partner,
            ),
        )
        if reward.limit is not None:
            # The debit above holds the wallet's lock: this member's redemptions are counted
            # one at a time.
            await _check_limit(unit, found.id, reward)
        redemption = await _create(unit, wallet, reward, movement.transaction_id)
        # Last, so that the hot counter row of a limited reward is locked for the least time.
        if reward.stock is not None:
            taken = await sql.execute(
                unit.conn,
                "UPDATE reward_stock SET issued = issued + 1 WHERE reward_key = ? AND issued < ?",
                [reward.key, reward.stock],
            )
            if not taken:
                raise DomainError(
                    ErrorCode.OUT_OF_STOCK, f"{reward.name.get()} is out of stock.", "rewardId"
                )
        unit.emit(
            "reward.redeemed",
            {
                "memberId": wallet.member_id,
                "redemptionId": redemption.id,
                "reward": reward.key,
                "points": reward.points_cost,
                "source": actor.source,
            },
            member_id=wallet.member_id,
            transaction_id=movement.transaction_id,
        )
        return Redeemed(
            member=ledger.after(found, movement),
            redemption=redemption,
            transaction=movement.transaction,
        )

    return (await idempotency.run_once(req, program, work, Redeemed, now)).result


async def _check_limit(unit: Unit, member_id: int, reward: Reward) -> None:
    assert reward.limit is not None
    start = reward.limit.period.start(unit.now, unit.program.zone)
    since = "" if start is None else " AND created_at >= ?"
    found = await sql.row(
        unit.conn,
        "SELECT COUNT(*) AS n FROM redemption WHERE member_id = ? AND reward_key = ? "
        f"AND status <> ?{since}",
        [member_id, reward.key, CANCELLED, *([start] if start else [])],
    )
    if found is not None and int(found["n"]) >= reward.limit.count:
        raise DomainError(
            ErrorCode.LIMIT_EXCEEDED,
            f"{reward.name.get()} can be redeemed {reward.limit.count} times {reward.limit.per}.",
            "rewardId",
        )


async def fulfil(
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
            raise Forbidden("Only the operator or the reward's partner fulfils it.", "redemptionId")
        changed = await sql.execute(
            unit.conn,
            "UPDATE redemption SET status = ?, fulfilled_at = ? WHERE id = ? AND status = ?",
            [FULFILLED, unit.now, redemption.id, ISSUED],
        )
        if changed:
            unit.emit(
                "redemption.fulfilled",
                {
                    "memberId": redemption.member_id,
                    "redemptionId": redemption.id,
                    "reward": redemption.reward_key,
                    "source": actor.source,
                },
                member_id=redemption.member_id,
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
                kind="CANCEL",
                source=actor.source,
                reference=redemption.reward_key,
                description="Redemption cancelled: points returned",
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
            "redemption.cancelled",
            {
                "memberId": wallet.member_id,
                "redemptionId": redemption.id,
                "reward": redemption.reward_key,
                "points": movement.points,
                "source": actor.source,
            },
            member_id=wallet.member_id,
            transaction_id=movement.transaction_id,
        )
        cancelled = replace(redemption, status=CANCELLED, cancelled_at=unit.now)
        return Redeemed(
            member=ledger.after(found, movement),
            redemption=cancelled,
            transaction=movement.transaction,
        )

    return (await idempotency.run_once(req, program, work, Redeemed, now)).result
