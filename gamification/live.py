"""What a live subscriber is told: the messages the fan-out publishes (gamification.fanout),
read into the four kinds `memberEvents` carries. Pure: no Redis, no database.

What must hold:
- Only `points.changed`, `badge.unlocked`, `tier.changed` and `rank.changed` are forwarded.
  Any other type, a message about another member than the channel's, or a malformed one reads
  as None: it is dropped, and never ends a subscription.
- A subscriber sees each event at most once. The fan-out publishes at least once (a batch goes
  out again when its commit fails); `Seen` drops the repeats by event id.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass
from typing import Any

from domain import events
from domain.program import BoardPeriod

# Declared in domain.events by the engines that emit them; read here by their names only.
BADGE_UNLOCKED = "badge.unlocked"
TIER_CHANGED = "tier.changed"
RANK_CHANGED = "rank.changed"
FORWARDED = frozenset({events.PointsChanged.TYPE, BADGE_UNLOCKED, TIER_CHANGED, RANK_CHANGED})


@dataclass(frozen=True)
class LivePoints:
    """A member's points moved: what it has now, and by how much this transaction moved it."""

    event_id: int
    member_id: int
    balance: int
    pending: int
    delta: int
    transaction_id: int | None


@dataclass(frozen=True)
class LiveBadge:
    event_id: int
    member_id: int
    badge: str  # the badge's key in the program
    level: int | None


@dataclass(frozen=True)
class LiveTier:
    event_id: int
    member_id: int
    from_tier: str | None  # tier keys; None: the member had none
    to_tier: str


@dataclass(frozen=True)
class LiveRank:
    event_id: int | None  # none: a rank change is told without an outbox event
    member_id: int
    board: str
    period: BoardPeriod
    rank: int
    previous_rank: int | None


LiveEvent = LivePoints | LiveBadge | LiveTier | LiveRank


class _Malformed(ValueError):
    pass


def _int(payload: dict[str, Any], name: str, *, optional: bool = False) -> Any:
    value = payload.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise _Malformed(name)
    return value


def _text(payload: dict[str, Any], name: str, *, optional: bool = False) -> Any:
    value = payload.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise _Malformed(name)
    return value


def _period(payload: dict[str, Any]) -> BoardPeriod:
    try:
        return BoardPeriod(str(payload.get("period", "")).upper())
    except ValueError:
        raise _Malformed("period") from None


def _points(event_id: int, member_id: int, payload: dict[str, Any]) -> LivePoints:
    try:
        read, _ = events.read(events.PointsChanged.TYPE, payload)
    except (TypeError, ValueError, KeyError, ArithmeticError):
        raise _Malformed("payload") from None
    if not isinstance(read, events.PointsChanged):  # pragma: no cover - read gives its type
        raise _Malformed("type")
    return LivePoints(
        event_id, member_id, read.balance, read.pending, read.delta, read.transaction_id
    )


def read_message(data: str | bytes, member_id: int) -> LiveEvent | None:
    """The event a message published on `member_id`'s channel tells that member, or None."""
    try:
        message = json.loads(data)
        if not isinstance(message, dict) or message.get("type") not in FORWARDED:
            return None
        # A rank change is no outbox event: its message has no id (gamification.boards).
        event_id = _int(message, "id", optional=message["type"] == RANK_CHANGED)
        if _int(message, "memberId") != member_id:
            return None
        payload = message.get("payload")
        if not isinstance(payload, dict):
            return None
        kind = message["type"]
        if kind == BADGE_UNLOCKED:
            return LiveBadge(
                event_id, member_id, _text(payload, "badge"), _int(payload, "level", optional=True)
            )
        if kind == TIER_CHANGED:
            return LiveTier(
                event_id,
                member_id,
                _text(payload, "fromTier", optional=True),
                _text(payload, "toTier"),
            )
        if kind == RANK_CHANGED:
            return LiveRank(
                event_id,
                member_id,
                _text(payload, "board"),
                _period(payload),
                _int(payload, "rank"),
                _int(payload, "previousRank", optional=True),
            )
        return _points(event_id, member_id, payload)
    except (ValueError, RecursionError):  # JSON, _Malformed
        return None


class Seen:
    """The last `size` event ids one subscriber was given: `first(id)` is True the first time
    an id comes, False for its repeats within the window. A repeat comes soon after the first:
    the fan-out publishes a batch again when its commit fails, and the window (1,024 ids) is
    larger than a batch (domain.consumers.BATCH, 500)."""

    def __init__(self, size: int = 1024) -> None:
        if size < 1:
            raise ValueError("the window holds at least one id")
        self.size = size
        self._order: deque[int] = deque()
        self._ids: set[int] = set()

    def first(self, event_id: int) -> bool:
        if event_id in self._ids:
            return False
        self._ids.add(event_id)
        self._order.append(event_id)
        if len(self._order) > self.size:
            self._ids.discard(self._order.popleft())
        return True
