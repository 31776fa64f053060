"""The outbox consumers this app runs (domain/consumers.py), each with its own checkpoint."""

from __future__ import annotations

from typing import TYPE_CHECKING

from domain.consumers import Consumer
from gamification.badge_engine import BadgeEngine
from gamification.fanout import Fanout
from gamification.leaderboards import Projector

if TYPE_CHECKING:
    from app.asgi import Runtime


def consumers(runtime: Runtime) -> list[Consumer]:
    """Every consumer a server runs. One that is added later starts from the oldest event kept
    (domain/retention.py), and events are kept until every registered consumer has them."""
    return [
        Fanout(runtime.redis, runtime.redis_prefix),
        # Unlocks badge levels from SQL, with the program in force when each batch is handled.
        BadgeEngine(lambda: runtime.program),
        Projector(runtime.leaderboards),
    ]
