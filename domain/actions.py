"""Recording an action (a review, a referral, a share...): fixed points per action key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from tortoise.exceptions import IntegrityError

from domain import earning, events, idempotency, ledger, members, sql, text, tiers, views
from domain.actors import Actor
from domain.errors import DomainError, ErrorCode, InvalidInput
from domain.program import Action, Program
from domain.transaction_kind import TransactionKind
from domain.unit import Unit
from domain.words import counted


@dataclass(frozen=True)
class Recorded:
    member: views.MemberView
    transaction: views.TransactionView


async def record(
    program: Program,
    actor: Actor,
    member: members.MemberRef,
    action: str,
    reference: str | None,
    idempotency_key: object,
    now: datetime | None = None,
) -> Recorded:
    # Whether the program knows the action is asked inside the unit of work, after a replay
    # has had its chance to answer: the program may have changed since the first call.
    if not isinstance(action, str):
        raise InvalidInput("action", "action must be the key of one of the program's actions.")
    if reference is not None:
        text.plain(reference, "reference", 200)
    req = idempotency.request(
        actor.scope,
        idempotency_key,
        "recordAction",
        {
            "memberId": member.id,
            "externalId": member.external_id,
            "action": action,
            "reference": reference,
        },
    )

    async def work(unit: Unit) -> Recorded:
        award = earning.points_for_action(action, unit.program)
        spec = unit.program.actions.get(action)
        if award is None or spec is None:
            known = ", ".join(unit.program.actions) or "none"
            raise InvalidInput(
                "action", f"{action!r} is not an action of this program (known: {known})."
            )
        found = await members.find(member)
        tier = unit.program.tiers[tiers.current(unit.program, found)].key
        award = earning.points_for_action(action, unit.program, tier) or award
        wallet = ledger.Wallet.of(found)
        if spec.caps or spec.cooldown:
            # One member's actions are counted one at a time, or two at once could both fit.
            await ledger.lock(unit, wallet)
            await check_limits(unit, wallet.member_id, spec)
        movement = await ledger.credit(
            unit,
            wallet,
            award.points,
            ledger.ISSUANCE,
            ledger.Posting(
                kind=TransactionKind.EARN,
                source=actor.source,
                partner=actor.partner_key,
                reference=reference,
                description=award.breakdown[0].description,
                breakdown=award.breakdown_json(),
            ),
            counts_toward_lifetime=True,
            pending_days=spec.pending_days,
            expiry=spec.expiry,
        )
        try:
            await sql.execute(
                unit.conn,
                "INSERT INTO action_record (member_id, action, source, reference, transaction_id, "
                "occurred_at) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    wallet.member_id,
                    action,
                    actor.source,
                    reference,
                    movement.transaction_id,
                    unit.now,
                ],
            )
        except IntegrityError:
            raise DomainError(
                ErrorCode.DUPLICATE,
                f"Action {action} with reference {reference!r} was already recorded.",
                "reference",
            ) from None
        unit.emit(
            events.ActionRecorded(
                member_id=wallet.member_id,
                action=action,
                reference=reference,
                points=award.points,
                source=actor.source,
            ),
            transaction_id=movement.transaction_id,
        )
        after = await tiers.settle(unit, ledger.after(found, movement))
        return Recorded(member=after, transaction=movement.transaction)

    return (await idempotency.run_once(req, program, work, Recorded, now)).result


async def check_limits(unit: Unit, member_id: int, spec: Action) -> None:
    """Refuses an action past its cooldown or its caps (calendar periods in the program's time
    zone) with LIMIT_EXCEEDED, saying when it will earn again."""
    if spec.cooldown is not None:
        last = await sql.row(
            unit.conn,
            "SELECT MAX(occurred_at) AS last FROM action_record WHERE member_id = ? AND action = ?",
            [member_id, spec.key],
        )
        if last is not None and last["last"] is not None:
            again = sql.to_datetime(last["last"]) + spec.cooldown
            if again > unit.now:
                raise DomainError(
                    ErrorCode.LIMIT_EXCEEDED,
                    f"{spec.key} earns points again from {_local(again, unit.program.zone)}.",
                    "action",
                )
    for cap in spec.caps:
        start = cap.period.start(unit.now, unit.program.zone)
        since = "" if start is None else " AND occurred_at >= ?"
        found = await sql.row(
            unit.conn,
            f"SELECT COUNT(*) AS n FROM action_record WHERE member_id = ? AND action = ?{since}",
            [member_id, spec.key, *([start] if start else [])],
        )
        if found is not None and int(found["n"]) >= cap.count:
            raise DomainError(
                ErrorCode.LIMIT_EXCEEDED,
                f"{spec.key} earns points at most {counted(cap.count, 'time')} {cap.per}.",
                "action",
            )


def _local(moment: datetime, zone: ZoneInfo) -> str:
    """A moment for a message: ISO 8601 in the program's time zone, with its offset and the
    zone's name, rounded up to the second so that it never says a time before the one meant."""
    if moment.microsecond:
        moment += timedelta(microseconds=1_000_000 - moment.microsecond)
    return f"{moment.astimezone(zone).isoformat(timespec='seconds')} ({zone.key})"
