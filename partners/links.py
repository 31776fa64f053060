"""Which members a partner knows: those it linked, enrolled, or recorded activity for."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tortoise.exceptions import IntegrityError

from domain import events, idempotency, ledger, members, sql, text, views
from domain.actors import Actor, ActorKind
from domain.errors import DomainError, ErrorCode, Forbidden, NotFound
from domain.program import Program
from domain.unit import Unit
from partners.models import Partner, PartnerLink


@dataclass(frozen=True)
class Linked:
    member: views.MemberView
    partner_key: str
    partner_member_id: str


def may_act_for(actor: Actor, partner_key: str) -> bool:
    return actor.is_admin or (actor.kind is ActorKind.PARTNER and actor.partner_key == partner_key)


async def link(
    program: Program,
    actor: Actor,
    member: members.MemberRef,
    partner_key: str,
    partner_member_id: str,
    now: datetime | None = None,
) -> Linked:
    if partner_key not in program.partners:
        raise NotFound("Partner", "partnerId")
    if not may_act_for(actor, partner_key):
        raise Forbidden(
            "Only the partner itself (or the operator) can vouch for its accounts.", "partnerId"
        )
    text.identifier(partner_member_id, "partnerMemberId", 128)

    async def work(unit: Unit) -> Linked:
        found = await members.find(member)
        wallet = ledger.Wallet.of(found)
        partner = await Partner.get(key=partner_key, using_db=unit.conn)
        taken = await PartnerLink.get_or_none(
            partner_id=partner.id, partner_member_id=partner_member_id, using_db=unit.conn
        )
        if taken is not None and taken.member_id != wallet.member_id:
            raise DomainError(
                ErrorCode.DUPLICATE,
                "This partner account is already linked to another member.",
                "partnerMemberId",
            )
        existing = await PartnerLink.get_or_none(
            partner_id=partner.id, member_id=wallet.member_id, using_db=unit.conn
        )
        if existing is None:
            try:
                existing = await PartnerLink.create(
                    partner_id=partner.id,
                    member_id=wallet.member_id,
                    partner_member_id=partner_member_id,
                    linked_at=unit.now,
                    using_db=unit.conn,
                )
            except IntegrityError:
                raise DomainError(
                    ErrorCode.DUPLICATE,
                    "This member or partner account was linked by a request at the same time.",
                    "partnerMemberId",
                ) from None
        elif existing.partner_member_id != partner_member_id:
            # The partner renumbered its account: the newest word of the partner stands.
            existing.partner_member_id = partner_member_id
            await existing.save(using_db=unit.conn, update_fields=["partner_member_id"])
        else:
            return Linked(found, partner_key, partner_member_id)
        unit.emit(
            events.PartnerAccountLinked(
                member_id=wallet.member_id,
                partner=partner_key,
                partner_member_id=partner_member_id,
                source=actor.source,
            )
        )
        return Linked(found, partner_key, partner_member_id)

    return (await idempotency.run_once(None, program, work, Linked, now)).result


async def has_dealt_with(partner_id: int, partner_key: str, member_id: int) -> bool:
    source = f"partner:{partner_key}"
    found = await sql.row(
        sql.connection(),
        "SELECT 1 AS yes WHERE EXISTS (SELECT 1 FROM partner_link WHERE partner_id = ? AND "
        "member_id = ?) OR EXISTS (SELECT 1 FROM member WHERE id = ? AND source = ?) "
        "OR EXISTS (SELECT 1 FROM purchase WHERE member_id = ? AND source = ?) "
        "OR EXISTS (SELECT 1 FROM action_record WHERE member_id = ? AND source = ?)",
        [partner_id, member_id, member_id, source, member_id, source, member_id, source],
    )
    return found is not None
