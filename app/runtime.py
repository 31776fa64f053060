"""What a running Coalition holds and how it starts: the program in force, the Redis client
and the clock (Runtime), the start-up checks, the jobs loop. The HTTP app (app/asgi.py) and
the CLI share it; nothing here imports the GraphQL layer, so the CLI starts without it."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import redis.asyncio as aioredis
from tortoise.backends.base.client import BaseDBAsyncClient

from app.settings import DEFAULT_REDIS_PREFIX, ConfigurationError, Settings
from domain import jobs, ledger, sql, versions
from domain.clock import SYSTEM_CLOCK, Clock
from domain.program import Program
from domain.program_file import ProgramInvalid, load_program
from domain.retention import Retention, prune
from gamification import badge_engine
from gamification.boards import Boards, BoardsUnavailable
from gamification.leaderboards import Leaderboards
from gamification.progress import Progress
from partners import registry

log = logging.getLogger("coalition")


class Runtime:
    """What the app holds while it runs: the program in force, the Redis client, and the clock
    every request and job asks the time of (tests hand it another)."""

    def __init__(
        self,
        program: Program,
        redis: aioredis.Redis,
        clock: Clock = SYSTEM_CLOCK,
        redis_prefix: str = DEFAULT_REDIS_PREFIX,
    ) -> None:
        self.program = program
        self.redis = redis
        self.clock = clock
        self.redis_prefix = redis_prefix
        self._leaderboards: Leaderboards | None = None
        self._progress: Progress | None = None

    @property
    def leaderboards(self) -> Leaderboards:
        """The program's leaderboards over this runtime's Redis (made once per client)."""
        if self._leaderboards is None or self._leaderboards.boards.redis is not self.redis:
            self._leaderboards = Leaderboards(
                Boards(self.redis, self.redis_prefix), lambda: self.program
            )
        return self._leaderboards

    @property
    def progress(self) -> Progress:
        """Where members stand on the badges' metrics, the tier and the challenges, over the
        boards' Redis."""
        boards = self.leaderboards.boards
        if self._progress is None or self._progress.boards is not boards:
            self._progress = Progress(boards, lambda: self.program)
        return self._progress


async def rebuild_lost_leaderboards(runtime: Runtime) -> None:
    """At start: a Redis without the leaderboards' generation key lost them (or never had
    them); they are rebuilt from SQL then, unasked. A Redis that does not answer is left to
    the projector, which retries."""
    await _rebuild_if_lost("leaderboards", runtime.leaderboards.ensure_built, runtime.clock)


async def rebuild_lost_progress(runtime: Runtime) -> None:
    """At start, as for the leaderboards: the progress sets (badges, tier, challenges) are
    rebuilt from SQL when Redis lost them (or holds them for other badges or challenges). A
    Redis that does not answer is left to the progress projector, which retries."""
    await _rebuild_if_lost("progress", runtime.progress.ensure_built, runtime.clock)


async def _rebuild_if_lost(
    what: str,
    ensure_built: Callable[[BaseDBAsyncClient, datetime], Awaitable[str | None]],
    clock: Clock,
) -> None:
    try:
        built = await ensure_built(sql.connection(), clock.now())
    except BoardsUnavailable as error:
        log.warning("%s not checked at start: Redis unavailable (%s)", what, error)
        return
    if built is not None:
        log.info("%s rebuilt from SQL (generation %s)", what, built)


# How soon a program applied elsewhere (the CLI, another worker) takes effect here.
PROGRAM_CHECK_SECONDS = 5.0


async def refresh_program(runtime: Runtime) -> bool:
    """Switches to the latest applied program version if it is not the one in force."""
    latest = await versions.latest()
    if latest is None or latest.id == runtime.program.version:
        return False
    runtime.program = (await start(None)).program
    log.info("program version %s is now in force", runtime.program.version)
    return True


async def run_jobs(runtime: Runtime, retention: Retention) -> None:
    report = await jobs.run_all(runtime.program, runtime.clock.now())
    if report.released or report.expired or report.reminded or report.birthdays:
        log.info("jobs: %s", report)
    pruned = await prune(runtime.clock.now(), retention)
    if pruned.events or pruned.idempotency_records:
        log.info("pruned: %s", pruned)
    for failure in report.failures:
        log.error("job failure: %s", failure)
    await refresh_progress(runtime)


async def refresh_progress(runtime: Runtime) -> None:
    """The progress sets' daily refresh (Progress.ensure_fresh): a rolling tier window lowers
    amounts with no event. A Redis that does not answer is tried again on the next run."""
    try:
        refreshed = await runtime.progress.ensure_fresh(sql.connection(), runtime.clock.now())
    except BoardsUnavailable as error:
        log.warning("progress not refreshed: Redis unavailable (%s)", error)
        return
    if refreshed:
        log.info("progress sets refreshed from SQL")


def read_program(path: Path) -> Program:
    return load_program(path.read_text(encoding="utf-8"))


def configured_program(settings: Settings) -> Program | None:
    """The program file the settings name (COALITION_PROGRAM), read and checked; None when
    none is named (production may run on the database's applied version alone)."""
    path = settings.program_path
    if path is None:
        return None
    try:
        return read_program(path)
    except FileNotFoundError:
        raise ConfigurationError(f"COALITION_PROGRAM: {path}: no such file") from None
    except ProgramInvalid as invalid:
        raise ConfigurationError(*(f"{path}: {problem}" for problem in invalid.problems)) from None


async def prepare(program: Program, now: datetime | None = None) -> Program:
    """Applies `program` as the current version (`coalition program apply`), with everything
    the services need in SQL before the first request; idempotent. A version that adds a badge
    (or changes one's criteria) awards it at once to the members who already qualify."""
    await ledger.ensure_system_accounts()
    await registry.sync(program)
    before = await versions.latest()
    applied = await versions.apply(program)
    if before is not None and before.id != applied.version:
        previous = versions.program_of(before)
        changed = badge_engine.changed_badges(applied, previous)
        if changed:
            unlocked = await badge_engine.award_retroactively(applied, changed, now)
            log.info(
                "badges: %d level(s) unlocked by program version %s", unlocked, applied.version
            )
    return applied


async def start(configured: Program | None) -> versions.InForce:
    """What a starting process serves: the database's current program version. The configured
    file only seeds an empty database; a file that differs from the version in force is left
    for the operator to apply. ConfigurationError when there is neither."""
    await ledger.ensure_system_accounts()
    with _program_required():
        in_force = await versions.in_force(configured)
    await registry.sync(in_force.program)
    return in_force


async def live_program(configured: Program | None) -> Program:
    """The program in force, read without writing anything (a preview's); ConfigurationError
    when the database has none and no file is configured."""
    with _program_required():
        return await versions.live(configured)


@contextmanager
def _program_required() -> Iterator[None]:
    try:
        yield
    except versions.NoProgram:
        raise ConfigurationError(
            "COALITION_PROGRAM must name a program file: the database has no program version "
            "applied yet"
        ) from None


def describe(in_force: versions.InForce, settings: Settings) -> tuple[str, str | None]:
    """Start-up lines: which version is live, and (if so) that the configured file differs."""
    version = in_force.program.version
    applied = in_force.applied_at.strftime("%Y-%m-%d %H:%M UTC")
    how = f"seeded from {settings.program_path}" if in_force.seeded else f"applied {applied}"
    differs = None
    if in_force.configured_differs:
        differs = (
            f"{settings.program_path} differs from live version {version} and is not in force; "
            f"`coalition program apply {settings.program_path}` would make it a new version"
        )
    return f"program version {version} is live ({how})", differs
