"""The app's outbox consumers, in one place: each keeps its own checkpoint (its name)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gamification.leaderboards import Projector

if TYPE_CHECKING:
    from app.asgi import Runtime


def consumers(runtime: Runtime) -> list[Projector]:
    return [Projector(runtime.leaderboards)]
