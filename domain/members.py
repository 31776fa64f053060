"""Members: enrollment and finding a member's wallet."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime

from tortoise.exceptions import IntegrityError

from domain import events, history, idempotency, ledger, sql, text, tiers, views, wording
from domain.actors import Actor
from domain.clock import utcnow
from domain.earning import bonus_line
from domain.errors import DomainError, ErrorCode, InvalidInput, NotFound
from domain.models import Member
from domain.program import Program
from domain.transaction_kind import TransactionKind
from domain.unit import Unit

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
_REFERRAL_CODE = re.compile(r"^[0-9A-Z]{4,16}$")
# Crockford's alphabet: no I, L, O or U, so codes survive being read aloud or typed by hand.
_CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


@dataclass(frozen=True)
class MemberRef:
    """A member named by its database id or by the caller's own externalId."""

    id: int | None = None
    external_id: str | None = None


@dataclass(frozen=True)
class Enrollment:
    external_id: str
    display_name: str | None = None
    email: str | None = None
    birthday: date | None = None
    referral_code: str | None = None


def new_referral_code() -> str:
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(10))


def check_external_id(value: object, field: str = "externalId") -> str:
    return text.identifier(value, field, 128)


def validate(enrollment: Enrollment, today: date) -> Enrollment:
    check_external_id(enrollment.external_id)
    display_name = enrollment.display_name
    if display_name is not None:
        display_name = text.plain(display_name, "displayName", 200).strip()
    email = enrollment.email
    if email is not None and not _EMAIL.fullmatch(text.plain(email, "email", 254)):
        raise InvalidInput("email", "email must be an address like name@example.com.")
    birthday = enrollment.birthday
    if birthday is not None and not date(1900, 1, 1) <= birthday <= today:
        raise InvalidInput("birthday", "birthday must be a real date in the past.")
    code = enrollment.referral_code
    if code is not None:
        code = code.strip().upper()
        if not _REFERRAL_CODE.fullmatch(code):
            raise InvalidInput("referralCode", "referralCode must be 4 to 16 letters or digits.")
    return Enrollment(enrollment.external_id, display_name, email, birthday, code)


@dataclass(frozen=True)
class Enrolled:
    member: views.MemberView  # as enrollment left it, welcome bonus included


async def enroll(
    program: Program,
    actor: Actor,
    enrollment: Enrollment,
    idempotency_key: str | None,
    now: datetime | None = None,
) -> Enrolled:
    enrollment = validate(enrollment, (now or utcnow()).date())
    req = None
    if idempotency_key is not None:
        req = idempotency.request(
            actor.scope,
            idempotency_key,
            "enrollMember",
            {
                "externalId": enrollment.external_id,
                "displayName": enrollment.display_name,
                "email": enrollment.email,
                "birthday": enrollment.birthday,
                "referralCode": enrollment.referral_code,
            },
        )

    async def work(unit: Unit) -> Enrolled:
        referrer_id = None
        if enrollment.referral_code is not None:
            referrer = await Member.get_or_none(referral_code=enrollment.referral_code)
            if referrer is None:
                raise NotFound("No member with this referral code", "referralCode")
            if (
                enrollment.email is not None
                and referrer.email is not None
                and enrollment.email.casefold() == referrer.email.casefold()
            ):
                raise InvalidInput("referralCode", "A member cannot refer itself.")
            referrer_id = referrer.id
        account = await sql.row(
            unit.conn,
            "INSERT INTO account (kind, balance, pending, lifetime, created_at) "
            "VALUES (?, 0, 0, 0, ?) RETURNING id",
            [ledger.MEMBER, unit.now],
        )
        if account is None:
            raise RuntimeError("INSERT ... RETURNING gave no row")
        try:
            member = await Member.create(
                external_id=enrollment.external_id,
                display_name=enrollment.display_name,
                email=enrollment.email,
                birthday=enrollment.birthday,
                referral_code=new_referral_code(),
                referred_by_id=referrer_id,
                source=actor.source,
                account_id=account["id"],
                created_at=unit.now,
                using_db=unit.conn,
            )
        except IntegrityError:
            raise DomainError(
                ErrorCode.DUPLICATE,
                f"A member with externalId {enrollment.external_id!r} is already enrolled.",
                "externalId",
            ) from None
        unit.emit(
            events.MemberEnrolled(
                member_id=member.id,
                external_id=member.external_id,
                referred_by=referrer_id,
                source=actor.source,
            )
        )
        view = views.MemberView(
            id=member.id,
            external_id=member.external_id,
            display_name=member.display_name,
            email=member.email,
            birthday=member.birthday,
            referral_code=member.referral_code,
            created_at=unit.now,
            referred_by=referrer_id,
            account_id=int(account["id"]),
            balance=0,
            pending=0,
            lifetime=0,
            debt=0,
        )
        if unit.program.signup_points:
            movement = await ledger.credit(
                unit,
                ledger.Wallet.of(view),
                unit.program.signup_points,
                ledger.ISSUANCE,
                ledger.Posting(
                    kind=TransactionKind.SIGNUP,
                    source="program",
                    description=wording.text(unit.program, "signup_bonus"),
                    breakdown=[
                        bonus_line(
                            unit.program, "signup", "signup_bonus", unit.program.signup_points
                        )
                    ],
                ),
                counts_toward_lifetime=True,
            )
            view = await tiers.settle(unit, ledger.after(view, movement))
        return Enrolled(view)

    return (await idempotency.run_once(req, program, work, Enrolled, now)).result


async def find(ref: MemberRef, field: str = "memberId") -> views.MemberView:
    """The member a request names, with its wallet, in one statement."""
    if ref.id is not None:
        found = (await history.members_by_id([ref.id])).get(ref.id)
    elif ref.external_id is not None:
        found = await history.member_by_external_id(ref.external_id)
    else:
        raise InvalidInput(field, "Say which member: give memberId or externalId.")
    if found is None:
        raise NotFound("Member", field if ref.id is not None else "externalId")
    return found
