"""Who is calling: a member's JWT, a partner's API key, the admin key, or nobody."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass

import jwt

from domain import history, views
from domain.actors import ADMIN, ANONYMOUS, Actor, ActorKind
from domain.errors import InvalidInput
from domain.members import check_external_id
from partners import api_keys


class Unauthenticated(Exception):
    """Credentials were given but are wrong: the request gets a 401, not anonymous access."""


@dataclass(frozen=True)
class Credentials:
    jwt_secret: str
    admin_api_key: str


@dataclass(frozen=True)
class Caller:
    actor: Actor
    member: views.MemberView | None = None


async def identify(headers: Mapping[str, str], credentials: Credentials) -> Caller:
    api_key = headers.get("x-api-key")
    authorization = headers.get("authorization")
    if api_key and authorization:
        raise Unauthenticated("Send either an API key or a bearer token, not both.")
    if api_key:
        if hmac.compare_digest(api_key.encode(), credentials.admin_api_key.encode()):
            return Caller(ADMIN)
        partner = await api_keys.authenticate(api_key)
        if partner is None:
            raise Unauthenticated("This API key is not valid.")
        return Caller(
            Actor(ActorKind.PARTNER, partner_id=partner.partner_id, partner_key=partner.partner_key)
        )
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("Authorization must be 'Bearer <token>'.")
        return await _member(token.strip(), credentials)
    return Caller(ANONYMOUS)


async def _member(token: str, credentials: Credentials) -> Caller:
    try:
        claims = jwt.decode(
            token, credentials.jwt_secret, algorithms=["HS256"], options={"require": ["sub"]}
        )
        external_id = check_external_id(claims["sub"], "sub")
    except (jwt.PyJWTError, InvalidInput) as error:
        raise Unauthenticated(f"The bearer token is not valid: {error}") from None
    member = await history.member_by_external_id(external_id)
    actor = Actor(
        ActorKind.MEMBER, external_id=external_id, member_id=None if member is None else member.id
    )
    return Caller(actor, member)
