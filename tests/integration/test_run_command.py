"""`make run` for real: the `coalition run` process, its embedded Redis, migrations, the demo
seed, the served API, live events, and a clean stop."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from app.settings import DEV_ADMIN_API_KEY, DEV_JWT_SECRET, Settings
from schema.ids import parse_global_id
from tests.conftest import BACKENDS

ME = "{ me { displayName balance lifetimePoints tier { current { key } } } }"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_ready(base: str, process: subprocess.Popen[str], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"coalition run exited early:\n{process.stdout.read()}")  # type: ignore[union-attr]
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("coalition run did not become ready")


@pytest.fixture(params=BACKENDS)
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COALITION_")}
    port = _free_port()
    env.update({"COALITION_DATA_DIR": str(tmp_path), "PORT": str(port)})
    if request.param == "postgresql":
        import asyncpg  # a database of its own, beside the one the other tests empty

        base_url = request.getfixturevalue("postgres_url")

        async def create() -> None:
            conn = await asyncpg.connect(base_url)
            await conn.execute(f"DROP DATABASE IF EXISTS run_{port}")
            await conn.execute(f"CREATE DATABASE run_{port}")
            await conn.close()

        import asyncio

        asyncio.run(create())
        env["COALITION_DATABASE_URL"] = base_url.replace("/coalition_test", f"/run_{port}")
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, process)
        yield base, tmp_path
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert process.returncode == 0, process.stdout.read() if process.stdout else ""
    assert not (tmp_path / "redis.sock").exists(), "the embedded redis-server was left running"


def test_make_run_serves_the_demo_with_live_events(served: tuple[str, Path]) -> None:
    base, data_dir = served
    settings = Settings.from_env({"COALITION_DATA_DIR": str(data_dir)})
    assert settings.jwt_secret == DEV_JWT_SECRET

    from app.cli import member_token

    ana = {"Authorization": f"Bearer {member_token(settings, 'ana')}"}
    me = httpx.post(f"{base}/graphql", json={"query": ME}, headers=ana).json()["data"]["me"]
    assert me["displayName"] == "Ana Popescu"
    assert me["balance"] > 0
    assert me["tier"]["current"]["key"] == "gold"
    assert httpx.get(f"{base}/graphql", headers={"Accept": "text/html"}).status_code == 200

    events = redis.Redis(unix_socket_path=str(data_dir / "redis.sock"), decode_responses=True)
    subscriber = events.pubsub()
    member = httpx.post(
        f"{base}/graphql",
        json={"query": '{ member(externalId: "ana") { id } }'},
        headers={"X-API-Key": DEV_ADMIN_API_KEY},
    ).json()["data"]["member"]
    parsed = parse_global_id(member["id"])
    assert parsed is not None
    member_number = int(parsed[1])
    subscriber.subscribe(f"{{c}}:member:{member_number}")
    assert subscriber.get_message(timeout=5)["type"] == "subscribe"

    purchase = httpx.post(
        f"{base}/graphql",
        json={
            "query": "mutation($i: RecordPurchaseInput!) { recordPurchase(input: $i) "
            "{ transaction { id points } userErrors { code } } }",
            "variables": {
                "i": {
                    "externalId": "ana",
                    "orderId": "RUN-1",
                    "amount": "100",
                    "currency": "RON",
                    "idempotencyKey": "run-1",
                }
            },
        },
        headers={"X-API-Key": DEV_ADMIN_API_KEY},
    ).json()["data"]["recordPurchase"]
    assert purchase["userErrors"] == []
    assert purchase["transaction"]["points"] == 100

    transaction = parse_global_id(purchase["transaction"]["id"])
    assert transaction is not None
    types = set()
    deadline = time.monotonic() + 10
    while len(types) < 2 and time.monotonic() < deadline:
        message = subscriber.get_message(timeout=1)
        if message and message["type"] == "message":
            event = json.loads(message["data"])
            if event["transactionId"] == int(transaction[1]):
                types.add(event["type"])
    assert types == {"points.changed", "purchase.recorded"}
    subscriber.close()
    events.close()
