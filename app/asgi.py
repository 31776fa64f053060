"""The ASGI application: /graphql, /healthz, /readyz, and the lifecycle of what they use."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import storage
from app.consumers import consumers as app_consumers
from app.runtime import (
    PROGRAM_CHECK_SECONDS,
    Runtime,
    configured_program,
    describe,
    rebuild_lost_leaderboards,
    rebuild_lost_progress,
    refresh_program,
    run_jobs,
    start,
)
from app.scheduler import Every
from app.settings import Settings
from domain import consumers, sql
from gamification.watch import MemberEvents
from partners.api_keys import KeyRing
from schema.auth import Credentials
from schema.build import build_schema
from schema.http import GraphQLView, graphiql_asset
from schema.http_errors import EXCEPTION_HANDLERS, ErrorCode, error_response, negotiate

log = logging.getLogger("coalition")


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
