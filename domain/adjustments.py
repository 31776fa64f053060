"""The operator's corrections: signed points with a reason, kept in the ledger like the rest."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain import events, idempotency, ledger, members, text, tiers, views
from domain.actors import Actor
from domain.errors import InvalidInput
from domain.program import MAX_POINTS, Program
from domain.transaction_kind import TransactionKind
from domain.unit import Unit


@dataclass(frozen=True)
class Adjusted:
    member: views.MemberView
    transaction: views.TransactionView


async def adjust(
    program: Program,
    actor: Actor,
    member: members.MemberRef,
    points: object,
    reason: str,
    idempotency_key: object,
    now: datetime | None = None,
) -> Adjusted:
    if (
        isinstance(points, bool)
        or not isinstance(points, int)
        or points == 0
        or (abs(points) > MAX_POINTS)
    ):
        raise InvalidInput(
            "points",
            f"points must be a non-zero whole number between -{MAX_POINTS} and {MAX_POINTS}.",
        )
    text.plain(reason, "reason", 500, multiline=True)
    req = idempotency.request(
        actor.scope,
        idempotency_key,
        "adjustPoints",
        {
            "memberId": member.id,
            "points": points,
            "reason": reason,
        },
    )

    async def work(unit: Unit) -> Adjusted:
        found = await members.find(member)
        wallet = ledger.Wallet.of(found)
        posting = ledger.Posting(
            kind=TransactionKind.ADJUST, source=actor.source, description=reason
        )
        # A correction changes what the member is considered to have earned, both ways.
        if points > 0:
            movement = await ledger.credit(
                unit, wallet, points, ledger.ADJUSTMENT, posting, counts_toward_lifetime=True
            )
        else:
            movement = await ledger.debit(
                unit, wallet, -points, ledger.ADJUSTMENT, posting, counts_toward_lifetime=True
            )
        unit.emit(
            events.PointsAdjusted(
                member_id=wallet.member_id, points=points, reason=reason, source=actor.source
            ),
            transaction_id=movement.transaction_id,
        )
        after = ledger.after(found, movement)
        if points > 0:
            after = await tiers.settle(unit, after)
        return Adjusted(member=after, transaction=movement.transaction)

    return (await idempotency.run_once(req, program, work, Adjusted, now)).result
