"""Background loops that stop between rounds of work, never in the middle of one.

Cancelling a task while it is inside a transaction can leave its pooled connection checked out
(asyncpg's pool never gets it back); enough stops and the pool is empty, and the next query
waits forever. So `stop` asks the loop to finish its round and waits for it; only a loop that
is still busy after a grace period is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

log = logging.getLogger("coalition.loops")

STOP_GRACE_SECONDS = 30.0


class Loop:
    """Runs `rounds()` in a task. `rounds` returns once `stopping` is true, and waits with
    `pause` (cut short by `wake` or a stop) or `sleep` (cut short by a stop only)."""

    def __init__(self, name: str) -> None:
        self.loop_name = name
        self._wake = asyncio.Event()
        self._stopped = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def stopping(self) -> bool:
        return self._stopped.is_set()

    def wake(self) -> None:
        self._wake.set()

    async def pause(self, seconds: float) -> None:
        """Waits `seconds`, or until woken or stopped; the wake-up is used up."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
        self._wake.clear()

    async def sleep(self, seconds: float) -> None:
        """Waits `seconds`, or until stopped: a wake-up does not cut it short (a back-off)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopped.wait(), timeout=seconds)

    async def rounds(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        if self._task is None:
            self._stopped.clear()
            self._task = asyncio.create_task(self.rounds(), name=self.loop_name)

    async def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        self._stopped.set()
        self._wake.set()
        done, _ = await asyncio.wait({task}, timeout=grace)
        if not done:
            log.warning("%s still busy %s s after it was asked to stop; cancelling", task, grace)
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
