"""The ASGI application: /graphql, /healthz, /readyz, and the lifecycle of what they use."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from pathlib import Path

import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import storage
from app.consumers import consumers as app_consumers
from app.scheduler import Every
from app.settings import DEFAULT_REDIS_PREFIX, ConfigurationError, Settings
from domain import consumers, jobs, ledger, sql, versions
from domain.clock import SYSTEM_CLOCK, Clock
from domain.program import Program
from domain.program_file import ProgramInvalid, load_program
from domain.retention import Retention, prune
from gamification import badge_engine
from gamification.boards import Boards, BoardsUnavailable
from gamification.leaderboards import Leaderboards
from gamification.progress import Progress
from gamification.watch import MemberEvents
from partners import registry
from partners.api_keys import KeyRing
from schema.auth import Credentials
from schema.build import build_schema
from schema.http import GraphQLView, graphiql_asset
from schema.http_errors import EXCEPTION_HANDLERS, ErrorCode, error_response, negotiate

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
        """Where members stand on the badges' metrics, over the boards' Redis."""
        boards = self.leaderboards.boards
        if self._progress is None or self._progress.boards is not boards:
            self._progress = Progress(boards, lambda: self.program)
        return self._progress


async def rebuild_lost_leaderboards(runtime: Runtime) -> None:
    """At start: a Redis without the leaderboards' generation key lost them (or never had
    them); they are rebuilt from SQL then, unasked. A Redis that does not answer is left to
    the projector, which retries."""
    try:
        built = await runtime.leaderboards.ensure_built(sql.connection(), runtime.clock.now())
    except BoardsUnavailable as error:
        log.warning("leaderboards not checked at start: Redis unavailable (%s)", error)
        return
    if built is not None:
        log.info("leaderboards rebuilt from SQL (generation %s)", built)


async def rebuild_lost_progress(runtime: Runtime) -> None:
    """At start, as for the leaderboards: the badge progress sets are rebuilt from SQL when
    Redis lost them (or holds them for other badges' metrics). A Redis that does not answer is
    left to the progress projector, which retries."""
    try:
        built = await runtime.progress.ensure_built(sql.connection(), runtime.clock.now())
    except BoardsUnavailable as error:
        log.warning("badge progress not checked at start: Redis unavailable (%s)", error)
        return
    if built is not None:
        log.info("badge progress rebuilt from SQL (generation %s)", built)


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


class BodyLimit:
    """Reads the whole request body first, up to the limit: a larger one gets a 413 before
    anything parses it, whether its size was declared or it came in chunks."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        media_type = negotiate(headers.get(b"accept", b"").decode("latin-1") or None)
        declared = headers.get(b"content-length")
        if declared is not None and not declared.isdigit():
            refused = error_response(
                ErrorCode.BAD_REQUEST,
                "The Content-Length header is not a number.",
                media_type=media_type,
            )
            await refused(scope, receive, send)
            return
        if declared is not None and int(declared) > self.limit:
            await self._too_large(media_type)(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._too_large(media_type)(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _too_large(self, media_type: str | None) -> Response:
        return error_response(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"The request body is larger than the {self.limit} bytes this server takes.",
            media_type=media_type,
        )


def freeze_startup_heap() -> None:
    """Puts what startup allocated (modules, the schema, the program) out of the garbage
    collector's reach, so that a full collection walks only what requests allocate: without
    it a worker paused for about 100 ms now and then (the leaderboard bench's worst reads)."""
    gc.collect()
    gc.freeze()


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> ASGIApp:
    """The app. Given a runtime (tests, benchmarks), it uses it; otherwise it opens the stores
    from the settings when it starts and closes them when it stops."""
    settings = settings or Settings.from_env()
    state: dict[str, Runtime] = {}
    if runtime is not None:
        state["runtime"] = runtime
    # The worker's live subscribers, on one Redis connection opened with the first of them.
    member_events = MemberEvents(lambda: state["runtime"].redis, settings.redis_prefix)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        if runtime is not None:
            yield
            return
        configured = configured_program(settings)
        await storage.open_sql(settings.tortoise_url)
        redis = storage.open_redis(settings.redis_url or "")
        loops: list[Every] = []
        runners: list[consumers.Runner] = []
        try:
            in_force = await start(configured)
            live, differs = describe(in_force, settings)
            log.info(live)
            if differs:
                log.warning(differs)
            state["runtime"] = Runtime(in_force.program, redis, redis_prefix=settings.redis_prefix)
            await rebuild_lost_leaderboards(state["runtime"])
            await rebuild_lost_progress(state["runtime"])
            loops = [
                Every(
                    settings.jobs_every_seconds,
                    lambda: run_jobs(state["runtime"], settings.retention),
                    "jobs",
                ),
                Every(
                    PROGRAM_CHECK_SECONDS,
                    lambda: refresh_program(state["runtime"]),
                    "program refresh",
                ),
            ]
            runners = [consumers.Runner(c) for c in app_consumers(state["runtime"])]
            for runner in runners:
                runner.start()
            for loop in loops:
                loop.start()
            freeze_startup_heap()
            yield
        finally:
            for loop in loops:
                await loop.stop()
            await member_events.close()
            for runner in runners:
                await runner.stop()
            await redis.aclose()
            await storage.close_sql()

    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> JSONResponse:
        checks = {}
        try:
            await sql.row(sql.connection(), "SELECT 1 AS ok")
            checks["sql"] = "ok"
        except Exception as error:
            checks["sql"] = f"unavailable: {type(error).__name__}"
        try:
            await state["runtime"].redis.ping()
            checks["redis"] = "ok"
        except Exception as error:
            checks["redis"] = f"unavailable: {type(error).__name__}"
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse({"ready": ready, **checks}, status_code=200 if ready else 503)

    graphql = GraphQLView(
        build_schema(production=settings.production),
        credentials=Credentials(
            settings.jwt_secret, settings.admin_api_key, settings.jwt_max_lifetime_hours
        ),
        program=lambda: state["runtime"].program,
        clock=lambda: state["runtime"].clock,
        keys=KeyRing(
            lambda: state["runtime"].redis,
            settings.redis_prefix,
            recheck_ms=settings.key_revocation_ms,
        ),
        graphiql=not settings.production,
        live=lambda: member_events,
        heartbeat_seconds=settings.ws_heartbeat_seconds,
        leaderboards=lambda: state["runtime"].leaderboards,
        progress=lambda: state["runtime"].progress,
    )
    routes = [
        # The view takes GET and POST and answers any other method itself.
        Route("/graphql", graphql),
        WebSocketRoute("/graphql", graphql),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
    ]
    if not settings.production:
        routes.append(Route("/graphql/assets/{name}", graphiql_asset))
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers=EXCEPTION_HANDLERS)
    return BodyLimit(app, settings.max_body_bytes)
