"""Who is acting: the idempotency scope and the `source` recorded on what they write."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ActorKind(StrEnum):
    ANONYMOUS = "anonymous"
    MEMBER = "member"
    PARTNER = "partner"
    ADMIN = "admin"


@dataclass(frozen=True)
class Actor:
    kind: ActorKind
    # A member is known by the externalId of its token, enrolled or not yet.
    external_id: str | None = None
    member_id: int | None = None
    partner_id: int | None = None
    partner_key: str | None = None

    @property
    def source(self) -> str:
        if self.kind is ActorKind.PARTNER:
            return f"partner:{self.partner_key}"
        if self.kind is ActorKind.MEMBER:
            return f"member:{self.external_id}"
        return self.kind.value

    @property
    def scope(self) -> str:
        """Idempotency keys are unique per caller, never across callers."""
        return self.source

    @property
    def is_admin(self) -> bool:
        return self.kind is ActorKind.ADMIN


def partner_of(source: str) -> str | None:
    """The partner key of a `source` a partner wrote ("partner:<key>"), else None."""
    kind, _, key = source.partition(":")
    return key if kind == ActorKind.PARTNER.value and key else None


ANONYMOUS = Actor(ActorKind.ANONYMOUS)
ADMIN = Actor(ActorKind.ADMIN)
