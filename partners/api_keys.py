"""Partner API keys: 256 random bits, shown once, kept only as a SHA-256 digest.

A revoked key stops working at once: from the next request in the worker that revoked it,
and within `recheck_ms` (a quarter of a second by default) in every other. Each worker
remembers the keys it verified for CACHE_SECONDS, sparing a query on every partner call, but a
revocation bumps a generation in Redis, and a worker trusts what it remembers only while the
generation it last read (at most `recheck_ms` ago) is still the one it remembered them under;
otherwise it asks SQL. Reading the generation on every request would cost each partner call
a Redis round trip; `recheck_ms` = 0 does just that. If Redis cannot answer, nothing
remembered is trusted.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from domain.errors import NotFound
from partners.models import Partner, PartnerApiKey

PREFIX = "cpk_"
CACHE_SECONDS = 30.0
MAX_CACHED = 10_000

log = logging.getLogger("coalition.api_keys")


@dataclass(frozen=True)
class PartnerIdentity:
    partner_id: int
    partner_key: str


@dataclass(frozen=True)
class ApiKeyView:
    """A key as the operator sees it: never the key, nor its digest."""

    id: int
    partner_key: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def digest(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def _view(row: PartnerApiKey, partner_key: str) -> ApiKeyView:
    return ApiKeyView(
        id=row.id,
        partner_key=partner_key,
        prefix=row.prefix,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


async def issue(partner_key: str, *, now: datetime) -> tuple[str, ApiKeyView]:
    partner = await Partner.get_or_none(key=partner_key)
    if partner is None:
        raise NotFound("Partner", "partnerId")
    raw = PREFIX + secrets.token_urlsafe(32)
    row = await PartnerApiKey.create(
        partner_id=partner.id, key_hash=digest(raw), prefix=raw[: len(PREFIX) + 6], created_at=now
    )
    return raw, _view(row, partner.key)


async def listed(partner_key: str) -> list[ApiKeyView]:
    """The partner's keys, newest first, revoked ones included."""
    rows = await PartnerApiKey.filter(partner__key=partner_key).order_by("-id")
    return [_view(row, partner_key) for row in rows]


async def found(key_id: int) -> ApiKeyView | None:
    row = await PartnerApiKey.get_or_none(id=key_id).select_related("partner")
    return None if row is None else _view(row, row.partner.key)


@dataclass(frozen=True)
class _Remembered:
    identity: PartnerIdentity
    until: float
    generation: int


class KeyRing:
    """The keys one worker has verified, and the way a revocation reaches every worker."""

    def __init__(
        self,
        redis: Callable[[], aioredis.Redis],
        redis_prefix: str,
        *,
        recheck_ms: int = 250,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = redis
        self._generation_key = f"{redis_prefix}:api_keys:generation"
        self._recheck = recheck_ms / 1000
        self._monotonic = monotonic
        self._remembered: dict[str, _Remembered] = {}
        self._generation_read: tuple[int, float] | None = None  # (generation, read at)

    async def _generation(self) -> int | None:
        now = self._monotonic()
        if self._generation_read is not None and now - self._generation_read[1] < self._recheck:
            return self._generation_read[0]
        try:
            value = int(await self._redis().get(self._generation_key) or 0)
        except (RedisError, OSError) as error:
            log.warning("API key revocations unknown (%s): asking SQL", type(error).__name__)
            self._generation_read = None
            return None
        self._generation_read = (value, now)
        return value

    async def authenticate(self, raw_key: str, *, now: datetime) -> PartnerIdentity | None:
        if not raw_key.startswith(PREFIX) or len(raw_key) > 200:
            return None
        hashed = digest(raw_key)
        generation = await self._generation()
        remembered = self._remembered.get(hashed)
        if (
            remembered is not None
            and generation is not None
            and remembered.generation == generation
            and remembered.until > self._monotonic()
        ):
            return remembered.identity
        row = await PartnerApiKey.get_or_none(key_hash=hashed, revoked_at=None).select_related(
            "partner"
        )
        if row is None:
            self._remembered.pop(hashed, None)
            return None
        await PartnerApiKey.filter(id=row.id).update(last_used_at=now)
        identity = PartnerIdentity(row.partner.id, row.partner.key)
        if generation is not None:
            if len(self._remembered) >= MAX_CACHED:
                self._remembered.clear()
            self._remembered[hashed] = _Remembered(
                identity, self._monotonic() + CACHE_SECONDS, generation
            )
        return identity

    async def revoke(self, key_id: int, *, now: datetime) -> ApiKeyView:
        """Revokes a key at once; revoking it again changes nothing and says when it was."""
        updated = await PartnerApiKey.filter(id=key_id, revoked_at=None).update(revoked_at=now)
        view = await found(key_id)
        if view is None:
            raise NotFound("API key", "id")
        self._remembered.clear()
        if updated:
            try:
                generation = await self._redis().incr(self._generation_key)
                self._generation_read = (int(generation), self._monotonic())
            except (RedisError, OSError) as error:
                # Other workers then trust the key for at most CACHE_SECONDS more.
                self._generation_read = None
                log.error("API key %s revoked, but Redis was not told: %s", key_id, error)
        return view
