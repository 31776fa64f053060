"""`memberEvents` from `coalition run` processes: an event recorded through one worker process
reaches a subscriber on another (PostgreSQL, one Redis), and a stopping server closes its
websockets cleanly, with no hang and no traceback."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from app.cli import member_token
from app.settings import DEV_ADMIN_API_KEY, Settings
from schema.ids import parse_global_id
from tests.conftest import BACKENDS
from tests.integration.test_run_command import (
    _database_of_its_own,
    _environment,
    _spawn,
    _wait_ready,
)

WAIT = 20.0
ADMIN = {"X-API-Key": DEV_ADMIN_API_KEY}
SUBSCRIBE = {
    "id": "1",
    "type": "subscribe",
    "payload": {
        "query": "subscription { memberEvents { __typename "
        "... on PointsChanged { delta balance member { externalId balance } } } }"
    },
}
PURCHASE = (
    "mutation($i: RecordPurchaseInput!) { recordPurchase(input: $i) "
    "{ transaction { points } member { balance } userErrors { code } } }"
)


def _member_number(base: str, external_id: str) -> int:
    found = httpx.post(
        f"{base}/graphql",
        json={"query": f'{{ member(externalId: "{external_id}") {{ id }} }}'},
        headers=ADMIN,
    ).json()["data"]["member"]
    parsed = parse_global_id(found["id"])
    assert parsed is not None
    return int(parsed[1])


def _purchase(base: str, order: str) -> dict[str, Any]:
    variables = {
        "i": {
            "externalId": "ana",
            "orderId": order,
            "amount": "100",
            "currency": "RON",
            "idempotencyKey": order,
        }
    }
    response = httpx.post(
        f"{base}/graphql", json={"query": PURCHASE, "variables": variables}, headers=ADMIN
    )
    payload: dict[str, Any] = response.json()["data"]["recordPurchase"]
    assert payload["userErrors"] == [], payload
    return payload


async def _subscribed(ws: ClientConnection, token: str, events: redis.Redis, channel: str) -> None:
    """Connected as the member and subscribed, its worker listening on the member's channel."""
    await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": token}}))
    assert json.loads(await asyncio.wait_for(ws.recv(), WAIT)) == {"type": "connection_ack"}
    await ws.send(json.dumps(SUBSCRIBE))
    deadline = time.monotonic() + WAIT
    while dict(events.pubsub_numsub(channel)).get(channel, 0) < 1:
        assert time.monotonic() < deadline, "the worker did not subscribe"
        await asyncio.sleep(0.05)


async def _next_event(ws: ClientConnection) -> dict[str, Any]:
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
        if message["type"] == "next":
            event: dict[str, Any] = message["payload"]["data"]["memberEvents"]
            return event
        assert message["type"] == "ping", message


async def _watch_then_stop(
    url: str,
    token: str,
    channel: str,
    events: redis.Redis,
    record: Callable[[], dict[str, Any]],
    process: subprocess.Popen[bytes],
    *,
    heartbeat: bool = False,
) -> tuple[dict[str, Any], dict[str, Any], int | None]:
    """Subscribes as the member, records a purchase, reads the event; then SIGTERM with the
    subscription open. What was bought, the event, and the close code the socket got."""
    async with connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await _subscribed(ws, token, events, channel)
        bought = await asyncio.to_thread(record)
        event = await _next_event(ws)
        if heartbeat:  # it comes while nothing else does (after the purchase's other events)
            while (message := json.loads(await asyncio.wait_for(ws.recv(), WAIT)))["type"] != (
                "ping"
            ):
                assert message["type"] == "next", message
        process.send_signal(signal.SIGTERM)
        closed = await _closing(ws)
    return bought, event, closed.rcvd.code if closed.rcvd else None


async def _closing(ws: ClientConnection) -> ConnectionClosed:
    """How the socket was closed; heartbeats may come before."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), WAIT)
    except ConnectionClosed as closed:
        return closed


def _stopped_cleanly(process: subprocess.Popen[bytes], log: Path) -> None:
    """The process exits 0 soon after SIGTERM, and its log has no traceback."""
    assert process.wait(30) == 0, log.read_text()
    output = log.read_text()
    assert "Traceback" not in output, output
    assert "Application shutdown complete" in output


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait()


@pytest.mark.skipif("postgresql" not in BACKENDS, reason="two worker processes need PostgreSQL")
def test_an_event_recorded_through_one_worker_reaches_a_subscriber_on_another(
    postgres_url: str, redis_url: str, tmp_path: Path
) -> None:
    shared = {"COALITION_REDIS_URL": redis_url, "COALITION_REDIS_PREFIX": "{workers}"}
    shared["COALITION_JOBS_EVERY_SECONDS"] = "0"
    one = _environment(tmp_path / "one", **shared)
    database = _database_of_its_own(postgres_url, f"live_{one['PORT']}")
    one["COALITION_DATABASE_URL"] = database
    two = _environment(tmp_path / "two", **shared, COALITION_DATABASE_URL=database)
    logs = [Path(env["COALITION_DATA_DIR"]) / "run.log" for env in (one, two)]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for env, log in zip((one, two), logs, strict=True):  # in turn: the first seeds the demo
            log.parent.mkdir(parents=True)
            processes.append(_spawn(["run"], env, log))
            _wait_ready(f"http://127.0.0.1:{env['PORT']}", processes[-1], log)
        recorder, watcher = (f"http://127.0.0.1:{env['PORT']}" for env in (one, two))
        ana = _member_number(recorder, "ana")
        settings = Settings.from_env({"COALITION_DATA_DIR": str(tmp_path)})
        with redis.Redis.from_url(redis_url, decode_responses=True) as events:
            bought, event, code = asyncio.run(
                _watch_then_stop(
                    watcher.replace("http://", "ws://") + "/graphql",
                    f"Bearer {member_token(settings, 'ana')}",
                    f"{{workers}}:member:{ana}",
                    events,
                    lambda: _purchase(recorder, "LIVE-1"),
                    processes[1],
                )
            )
        assert event == {
            "__typename": "PointsChanged",
            "delta": bought["transaction"]["points"],
            "balance": bought["member"]["balance"],
            "member": {"externalId": "ana", "balance": bought["member"]["balance"]},
        }
        assert code == 1012  # the server is restarting: a client connects again
        _stopped_cleanly(processes[1], logs[1])
        processes[0].send_signal(signal.SIGTERM)
        _stopped_cleanly(processes[0], logs[0])
    finally:
        for process in processes:
            _stop(process)


@pytest.mark.skipif("sqlite" not in BACKENDS, reason="the SQLite run is the default setup")
def test_make_run_sends_live_events_and_stops_cleanly_with_subscribers(tmp_path: Path) -> None:
    env = _environment(tmp_path, COALITION_WS_HEARTBEAT_SECONDS="1")
    base = f"http://127.0.0.1:{env['PORT']}"
    log = tmp_path / "run.log"
    process = _spawn(["run"], env, log)
    try:
        _wait_ready(base, process, log)
        ana = _member_number(base, "ana")
        settings = Settings.from_env({"COALITION_DATA_DIR": str(tmp_path)})
        socket = str(tmp_path / "redis.sock")
        with redis.Redis(unix_socket_path=socket, decode_responses=True) as events:
            bought, event, code = asyncio.run(
                _watch_then_stop(
                    base.replace("http://", "ws://") + "/graphql",
                    f"Bearer {member_token(settings, 'ana')}",
                    f"{{c}}:member:{ana}",
                    events,
                    lambda: _purchase(base, "LIVE-1"),
                    process,
                    heartbeat=True,
                )
            )
        assert event["delta"] == bought["transaction"]["points"]
        assert code == 1012
        _stopped_cleanly(process, log)
    finally:
        _stop(process)


BADGES = {
    "id": "1",
    "type": "subscribe",
    "payload": {
        "query": "subscription { memberEvents { __typename "
        "... on BadgeUnlocked { level badge { key } member { externalId } } } }"
    },
}


async def _badge_unlocked(ws: ClientConnection) -> dict[str, Any]:
    """The first BadgeUnlocked; the points and rank changes the purchase also made come
    before or after it."""
    while True:
        event = await _next_event(ws)
        if event["__typename"] == "BadgeUnlocked":
            return event


async def _watch_badge(
    url: str, token: str, channel: str, events: redis.Redis, record: Callable[[], object]
) -> dict[str, Any]:
    async with connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": token}}))
        assert json.loads(await asyncio.wait_for(ws.recv(), WAIT)) == {"type": "connection_ack"}
        await ws.send(json.dumps(BADGES))
        deadline = time.monotonic() + WAIT
        while dict(events.pubsub_numsub(channel)).get(channel, 0) < 1:
            assert time.monotonic() < deadline, "the worker did not subscribe"
            await asyncio.sleep(0.05)
        await asyncio.to_thread(record)
        return await _badge_unlocked(ws)


@pytest.mark.skipif("postgresql" not in BACKENDS, reason="two worker processes need PostgreSQL")
def test_a_badge_unlocked_by_a_purchase_through_one_worker_reaches_a_subscriber_on_another(
    postgres_url: str, redis_url: str, tmp_path: Path
) -> None:
    """A new member's first purchase, through one worker, unlocks the first level of the demo's
    purchases badge; the badge engine's event reaches the member's socket on the other."""
    shared = {"COALITION_REDIS_URL": redis_url, "COALITION_REDIS_PREFIX": "{badges}"}
    shared["COALITION_JOBS_EVERY_SECONDS"] = "0"
    one = _environment(tmp_path / "one", **shared)
    database = _database_of_its_own(postgres_url, f"badge_{one['PORT']}")
    one["COALITION_DATABASE_URL"] = database
    two = _environment(tmp_path / "two", **shared, COALITION_DATABASE_URL=database)
    logs = [Path(env["COALITION_DATA_DIR"]) / "run.log" for env in (one, two)]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for env, log in zip((one, two), logs, strict=True):
            log.parent.mkdir(parents=True)
            processes.append(_spawn(["run"], env, log))
            _wait_ready(f"http://127.0.0.1:{env['PORT']}", processes[-1], log)
        recorder, watcher = (f"http://127.0.0.1:{env['PORT']}" for env in (one, two))
        enrolled = httpx.post(
            f"{recorder}/graphql",
            json={
                "query": 'mutation { enrollMember(input: {externalId: "zoe"}) '
                "{ member { id } userErrors { code } } }"
            },
            headers=ADMIN,
        ).json()["data"]["enrollMember"]
        assert enrolled["userErrors"] == []
        zoe = _member_number(recorder, "zoe")

        def first_purchase() -> None:
            variables = {
                "i": {
                    "externalId": "zoe",
                    "orderId": "ZOE-1",
                    "amount": "80",
                    "currency": "RON",
                    "idempotencyKey": "ZOE-1",
                }
            }
            answer = httpx.post(
                f"{recorder}/graphql",
                json={"query": PURCHASE, "variables": variables},
                headers=ADMIN,
            ).json()["data"]["recordPurchase"]
            assert answer["userErrors"] == [], answer

        settings = Settings.from_env({"COALITION_DATA_DIR": str(tmp_path)})
        with redis.Redis.from_url(redis_url, decode_responses=True) as events:
            event = asyncio.run(
                _watch_badge(
                    watcher.replace("http://", "ws://") + "/graphql",
                    f"Bearer {member_token(settings, 'zoe')}",
                    f"{{badges}}:member:{zoe}",
                    events,
                    first_purchase,
                )
            )
        assert event == {
            "__typename": "BadgeUnlocked",
            "level": 1,
            "badge": {"key": "regular"},
            "member": {"externalId": "zoe"},
        }
        for process, log in zip(processes, logs, strict=True):
            process.send_signal(signal.SIGTERM)
            _stopped_cleanly(process, log)
    finally:
        for process in processes:
            _stop(process)
