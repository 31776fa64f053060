"""The app served for real, for clients that speak HTTP over a socket (node, a browser): uvicorn
on a free loopback port, in the test's own event loop, over the test's stores."""

from __future__ import annotations

import asyncio
import shutil
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
import uvicorn
from starlette.types import ASGIApp

from app.asgi import create_app
from app.runtime import Runtime, read_program
from app.settings import Settings
from tests.helpers import BASE_PROGRAM

# What tests skip for want of a tool, said again at the end of the run (tests/conftest.py).
LOUD_SKIPS: list[str] = []


def chromium() -> str | None:
    """Debian's chromium (`apt-get install chromium`, as .ci/run does), or another on PATH."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def playwright_missing() -> str | None:
    """Why the browser tests cannot drive a browser, or None when they can."""
    if chromium() is None:
        return "no chromium"
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "no playwright (pip install -e '.[dev]')"
    return None


def node_missing() -> str | None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "no node/npm on PATH"
    return None


def loudly(message: str) -> str:
    """`message`, remembered to be said again at the end of the run: `pytest.skip(loudly(...))`."""
    LOUD_SKIPS.append(message)
    return message


@asynccontextmanager
async def app_without_stores(settings: Settings) -> AsyncIterator[ASGIApp]:
    """The app over the base test program, with no database or Redis behind it: for requests
    that read the program and the schema only (introspection, tiers), so that a test of the
    HTTP layer runs once, not once per database."""
    redis = aioredis.Redis(unix_socket_path="/nonexistent/redis.sock")
    try:
        yield create_app(settings, Runtime(read_program(BASE_PROGRAM), redis))
    finally:
        await redis.aclose()


@asynccontextmanager
async def serving(app: ASGIApp) -> AsyncIterator[str]:
    """Serves `app` on 127.0.0.1 until the block ends; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()  # raises what stopped it
                await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()
