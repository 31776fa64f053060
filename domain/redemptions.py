"""Spending points on rewards, and giving them back when a redemption is cancelled."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from domain import idempotency, ledger, members, sql, views
from domain.actors import Actor, ActorKind
from domain.errors import DomainError, ErrorCode, Forbidden, NotFound
from domain.models import Redemption, RewardStock
from domain.program import Program
from domain.unit import Unit

ISSUED = "ISSUED"
CANCELLED = "CANCELLED"
_CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


@dataclass(frozen=True)
class Redeemed:
    member_id: int
    redemption_id: int
    transaction_id: int
    changed: views.Changed | None = None


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
) -> Redeemed:
    if reward_key not in program.rewards:
        raise NotFound("Reward", "rewardId")
    req = idempotency.request(
        actor.scope,
        idempotency_key,
        "redeemReward",
        {"memberId": member.id, "rewardId": reward_key},
    )

    fresh: list[views.Changed] = []

    async def work(unit: Unit) -> idempotency.Result:
        reward = unit.program.rewards.get(reward_key)
        if reward is None:
            raise NotFound("Reward", "rewardId")
        found = await members.find(member)
        wallet = ledger.Wallet.of(found)
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
            ),
        )
        fresh.append(ledger.changed(found, movement))
        redemption = await _create(
            unit, wallet, reward.key, reward.points_cost, movement.transaction_id
        )
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
        return {
            "memberId": wallet.member_id,
            "redemptionId": redemption.id,
            "transactionId": movement.transaction_id,
        }

    return _redeemed(await idempotency.run_once(req, program, work), fresh)


def _redeemed(ran: idempotency.Ran, fresh: list[views.Changed]) -> Redeemed:
    return Redeemed(
        ran.result["memberId"],
        ran.result["redemptionId"],
        ran.result["transactionId"],
        changed=None if ran.replayed else fresh[-1],
    )


async def _create(
    unit: Unit, wallet: ledger.Wallet, reward_key: str, points: int, transaction_id: int
) -> Redemption:
    # Codes are 60 random bits: a clash is too unlikely to be worth a retry loop.
    return await Redemption.create(
        member_id=wallet.member_id,
        reward_key=reward_key,
        points=points,
        code=new_code(),
        status=ISSUED,
        transaction_id=transaction_id,
        using_db=unit.conn,
    )


async def cancel(
    program: Program, actor: Actor, redemption_id: int, idempotency_key: object
) -> Redeemed:
    req = idempotency.request(
        actor.scope, idempotency_key, "cancelRedemption", {"redemptionId": redemption_id}
    )
    fresh: list[views.Changed] = []

    async def work(unit: Unit) -> idempotency.Result:
        redemption = await Redemption.get_or_none(id=redemption_id, using_db=unit.conn)
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
            now = await sql.row(
                unit.conn, "SELECT status FROM redemption WHERE id = ?", [redemption.id]
            )
            status = str(now["status"] if now else redemption.status).lower()
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
            ),
        )
        fresh.append(ledger.changed(found, movement))
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
        return {
            "memberId": wallet.member_id,
            "redemptionId": redemption.id,
            "transactionId": movement.transaction_id,
        }

    return _redeemed(await idempotency.run_once(req, program, work), fresh)
