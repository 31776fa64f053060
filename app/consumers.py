"""The outbox consumers this app runs (domain/consumers.py), each with its own checkpoint."""

from __future__ import annotations

from typing import TYPE_CHECKING

from domain.consumers import Consumer
from gamification.badge_engine import BadgeEngine
from gamification.challenge_engine import ChallengeEngine
from gamification.fanout import Fanout
from gamification.leaderboards import Projector
from gamification.progress import ProgressProjector
from gamification.surprise_engine import SurpriseEngine

if TYPE_CHECKING:
    from app.runtime import Runtime


def consumers(runtime: Runtime) -> list[Consumer]:
    """Every consumer a server runs. One that is added later starts from the oldest event kept
    (domain/retention.py), and events are kept until every registered consumer has them. The
    gamification consumers read the program in force when they handle a batch."""
    return [
        Fanout(runtime.redis, runtime.redis_prefix),
        # Ranks members on the leaderboards in Redis.
        Projector(runtime.leaderboards),
        # Where members stand on their badges' metrics, in Redis.
        ProgressProjector(runtime.progress),
        # Unlocks badge levels from SQL.
        BadgeEngine(lambda: runtime.program),
        ChallengeEngine(lambda: runtime.program),
        SurpriseEngine(lambda: runtime.program),
    ]
