"""What time it is. Callers pass the moment in (from a clock they were given), so that tests
move time by handing over another clock, never by patching a global."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current moment, timezone-aware."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


SYSTEM_CLOCK = SystemClock()


def utcnow() -> datetime:
    """The system's time, for the places with no clock of their own to ask (the CLI, seeds)."""
    return SYSTEM_CLOCK.now()
