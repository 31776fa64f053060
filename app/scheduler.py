"""Work the server does on its own, every so often: the points life-cycle jobs, and picking up
a program version applied elsewhere (`coalition program apply`, another worker).

Every worker runs its own loops; what they do is safe to do in several processes at once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from domain.loops import Loop

log = logging.getLogger("coalition.scheduler")


class Every(Loop):
    """Calls `work` every `seconds` (0: never), logging its failures and going on."""

    def __init__(self, seconds: float, work: Callable[[], Awaitable[object]], name: str) -> None:
        super().__init__(name)
        self.seconds = seconds
        self.work = work
        self.name = name

    async def rounds(self) -> None:
        while True:
            await self.sleep(self.seconds)
            if self.stopping:
                return
            try:
                await self.work()
            except Exception:  # the database may be away for a while: try again next round
                log.exception("%s failed; trying again in %s s", self.name, self.seconds)

    def start(self) -> None:
        if self.seconds > 0:
            super().start()
