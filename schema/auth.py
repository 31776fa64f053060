"""Who is calling: a member's JWT, a partner's API key, the admin key, or nobody."""

from __future__ import annotations

import hmac
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt

from domain import history, views
from domain.actors import ADMIN, ANONYMOUS, Actor, ActorKind
from domain.errors import InvalidInput
from domain.members import check_external_id
from domain.words import counted
from partners import api_keys

# Issuers' clocks and ours may disagree this much about exp, iat and nbf.
CLOCK_LEEWAY_SECONDS = 30


class Unauthenticated(Exception):
    """Credentials were given but are wrong: the request gets a 401, not anonymous access."""


@dataclass(frozen=True)
class Credentials:
    jwt_secret: str
    admin_api_key: str
    # A member token must expire, and no later than this after it was issued: a leaked one
    # cannot be revoked, only waited out.
    max_token_hours: int


@dataclass(frozen=True)
class Caller:
    actor: Actor
    # The member's view when identifying it read one (for the request's loader to reuse).
    member: views.MemberView | None = None
    # Until when the credentials hold: a member token's exp, with the leeway; None for keys.
    valid_until: datetime | None = None


class KnownMembers:
    """Which member each external id names, remembered once found, so that a member's token
    costs no statement after its first request. A member's id and external id never change
    and no member is deleted, so a remembered id stays right in every worker; an external id
    not enrolled yet is not remembered (it may be enrolled next). Bounded: the least recently
    used are forgotten first."""

    def __init__(self, size: int = 100_000) -> None:
        self.size = size
        self._ids: OrderedDict[str, int] = OrderedDict()

    async def find(self, external_id: str) -> tuple[int | None, views.MemberView | None]:
        """The member's id, and its view when it had to be read for it."""
        known = self._ids.get(external_id)
        if known is not None:
            self._ids.move_to_end(external_id)
            return known, None
        member = await history.member_by_external_id(external_id)
        if member is None:
            return None, None
        self._ids[external_id] = member.id
        if len(self._ids) > self.size:
            self._ids.popitem(last=False)
        return member.id, member


async def identify(
    headers: Mapping[str, str],
    credentials: Credentials,
    keys: api_keys.KeyRing,
    members: KnownMembers,
    now: datetime,
) -> Caller:
    api_key = headers.get("x-api-key")
    authorization = headers.get("authorization")
    if api_key and authorization:
        raise Unauthenticated("Send either an API key or a bearer token, not both.")
    if api_key:
        if hmac.compare_digest(api_key.encode(), credentials.admin_api_key.encode()):
            return Caller(ADMIN)
        partner = await keys.authenticate(api_key, now=now)
        if partner is None:
            raise Unauthenticated("This API key is not valid.")
        return Caller(
            Actor(ActorKind.PARTNER, partner_id=partner.partner_id, partner_key=partner.partner_key)
        )
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("Authorization must be 'Bearer <token>'.")
        return await _member(token.strip(), credentials, members, now)
    return Caller(ANONYMOUS)


def _claims(token: str, credentials: Credentials, now: datetime) -> dict[str, Any]:
    try:
        # The signature and the claims' presence here; the times below, by the injected clock
        # (PyJWT would read the system's).
        claims = jwt.decode(
            token,
            credentials.jwt_secret,
            algorithms=["HS256"],
            options={
                "require": ["sub", "exp"],
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except jwt.MissingRequiredClaimError as missing:
        raise Unauthenticated(
            f"The bearer token is not valid: the token has no {missing.claim}."
        ) from None
    except jwt.PyJWTError as error:
        raise Unauthenticated(f"The bearer token is not valid: {error}") from None
    moment = now.timestamp()
    expires = _seconds(claims, "exp")
    issued = _seconds(claims, "iat")
    if expires is None or moment > expires + CLOCK_LEEWAY_SECONDS:
        raise Unauthenticated("The bearer token is not valid: Signature has expired")
    for claim, begins in (("iat", issued), ("nbf", _seconds(claims, "nbf"))):
        if begins is not None and begins > moment + CLOCK_LEEWAY_SECONDS:
            raise Unauthenticated(f"The bearer token is not valid: not yet valid ({claim})")
    lifetime = expires - (moment if issued is None else issued)
    if lifetime > credentials.max_token_hours * 3600:
        raise Unauthenticated(
            "The bearer token is not valid: the token lives longer than the "
            f"{counted(credentials.max_token_hours, 'hour')} this server accepts."
        )
    return claims


def _seconds(claims: dict[str, Any], claim: str) -> float | None:
    """A time claim in seconds since the epoch (RFC 7519's NumericDate, a JSON number), or
    None when the token has none."""
    value = claims.get(claim)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise Unauthenticated(
            f"The bearer token is not valid: {claim} must be a number of seconds since 1970."
        )
    return float(value)


async def _member(
    token: str, credentials: Credentials, members: KnownMembers, now: datetime
) -> Caller:
    claims = _claims(token, credentials, now)
    try:
        external_id = check_external_id(claims["sub"], "sub")
    except InvalidInput as error:
        raise Unauthenticated(f"The bearer token is not valid: {error}") from None
    member_id, member = await members.find(external_id)
    actor = Actor(ActorKind.MEMBER, external_id=external_id, member_id=member_id)
    valid_until = datetime.fromtimestamp(int(claims["exp"]) + CLOCK_LEEWAY_SECONDS, UTC)
    return Caller(actor, member, valid_until)
