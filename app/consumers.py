"""The app's outbox consumers, in one place: each keeps its own checkpoint under its name."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gamification.challenge_engine import ChallengeEngine
from gamification.surprise_engine import SurpriseEngine

if TYPE_CHECKING:
    from app.asgi import Runtime


def consumers(runtime: Runtime) -> list[ChallengeEngine | SurpriseEngine]:
    """Every consumer, reading the program in force when it handles a batch."""
    return [
        ChallengeEngine(lambda: runtime.program),
        SurpriseEngine(lambda: runtime.program),
    ]
