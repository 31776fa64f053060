"""Work the server does on its own, every so often: the points life-cycle jobs, and picking up
a program version applied elsewhere (`coalition program apply`, another worker).

Every worker runs its own loops; what they do is safe to do in several processes at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("coalition.scheduler")


class Every:
    """Calls `work` every `seconds` (0: never), logging its failures and going on."""

    def __init__(self, seconds: float, work: Callable[[], Awaitable[object]], name: str) -> None:
        self.seconds = seconds
        self.work = work
        self.name = name
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.seconds)
            try:
                await self.work()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may be away for a while: try again next round
                log.exception("%s failed; trying again in %s s", self.name, self.seconds)

    def start(self) -> None:
        if self._task is None and self.seconds > 0:
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
