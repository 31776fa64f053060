"""Partner API keys: 256 random bits, shown once, kept only as a SHA-256 digest."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from domain.errors import NotFound
from partners.models import Partner, PartnerApiKey

PREFIX = "cpk_"
# A verified key is trusted for this long without another lookup, which spares a query on
# every partner call; a revocation will take at most this long to reach every worker.
CACHE_SECONDS = 30.0


@dataclass(frozen=True)
class PartnerIdentity:
    partner_id: int
    partner_key: str


def digest(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


async def issue(partner_key: str) -> tuple[str, PartnerIdentity]:
    partner = await Partner.get_or_none(key=partner_key)
    if partner is None:
        raise NotFound("Partner", "partnerId")
    raw = PREFIX + secrets.token_urlsafe(32)
    await PartnerApiKey.create(
        partner_id=partner.id, key_hash=digest(raw), prefix=raw[: len(PREFIX) + 6]
    )
    return raw, PartnerIdentity(partner.id, partner.key)


_cache: dict[str, tuple[float, PartnerIdentity]] = {}


async def authenticate(raw_key: str) -> PartnerIdentity | None:
    if not raw_key.startswith(PREFIX) or len(raw_key) > 200:
        return None
    hashed = digest(raw_key)
    cached = _cache.get(hashed)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    found = await PartnerApiKey.filter(key_hash=hashed, revoked_at=None).select_related("partner")
    if not found:
        _cache.pop(hashed, None)
        return None
    identity = PartnerIdentity(found[0].partner.id, found[0].partner.key)
    if len(_cache) > 10_000:
        _cache.clear()
    _cache[hashed] = (time.monotonic() + CACHE_SECONDS, identity)
    return identity


def forget_cached() -> None:
    _cache.clear()
