"""`make run` for real: the `coalition run` process, its embedded Redis, migrations, the demo
seed, the served API, live events, a clean stop on SIGTERM or SIGINT, and `coalition jobs run`
processes writing to its SQLite file beside it."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from tortoise.context import TortoiseContext

from app import storage
from app.cli import member_token
from app.settings import DEV_ADMIN_API_KEY, DEV_JWT_SECRET, Settings
from schema.ids import parse_global_id
from tests.conftest import BACKENDS
from tests.helpers import assert_ledger_consistent, partner_gid, reward_gid

ME = "{ me { displayName balance lifetimePoints tier { current { key } } } }"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`coalition <command>` in a process group of its own, as from a terminal, its output going
    to a file: a pipe would go unread while the test runs, and once full it would stop the
    process."""
    with log.open("wb") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "app.cli", *command],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait_ready(
    base: str, process: subprocess.Popen[bytes], log: Path, seconds: float = 60
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"coalition run exited early:\n{log.read_text()}")
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("coalition run did not become ready")


def _environment(data_dir: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COALITION_")}
    env.update({"COALITION_DATA_DIR": str(data_dir), "PORT": str(_free_port()), **settings})
    return env


def _database_of_its_own(postgres_url: str, name: str) -> str:
    """A PostgreSQL database beside the one the other tests empty."""
    import asyncio

    import asyncpg

    async def create() -> None:
        conn = await asyncpg.connect(postgres_url)
        await conn.execute(f"DROP DATABASE IF EXISTS {name}")
        await conn.execute(f"CREATE DATABASE {name}")
        await conn.close()

    asyncio.run(create())
    return postgres_url.replace("/coalition_test", f"/{name}")


def _children(pid: int) -> set[int]:
    return {
        int(child)
        for task in Path(f"/proc/{pid}/task").iterdir()
        for child in (task / "children").read_text().split()
    }


def _gone(pid: int, seconds: float) -> bool:
    """Whether the process has gone, reaped too: a zombie still has its /proc entry."""
    deadline = time.monotonic() + seconds
    while Path(f"/proc/{pid}").exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@dataclass
class Server:
    base: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log: Path
    redis_pid: int  # as the embedded redis-server says itself
    children: set[int]  # the redis-server, and the workers if there are several

    def stop(self, stop: signal.Signals, *, to_group: bool = False) -> str:
        """Stops `coalition run` with the signal, sent to its process group as a terminal
        does or to it alone, and checks that it stopped cleanly."""
        if to_group:
            os.killpg(self.process.pid, stop)
        else:
            self.process.send_signal(stop)
        self.process.wait(timeout=30)
        left = {pid for pid in self.children if not _gone(pid, seconds=10)}
        assert left == set(), f"coalition run left {left} running (redis: {self.redis_pid})"
        assert not (self.data_dir / "redis.sock").exists(), "the redis-server's socket is left"
        output = self.log.read_text()
        assert self.process.returncode == 0, output
        return output


@contextmanager
def _serving(env: dict[str, str], *flags: str, port: int | None = None) -> Iterator[Server]:
    """`coalition run` with `flags`, ready to serve on 127.0.0.1 at `port` (by default the
    environment's PORT); whatever happens, nothing of it outlives the block."""
    data_dir = Path(env["COALITION_DATA_DIR"])
    log = data_dir / "coalition-run.log"
    process = _spawn(["run", *flags], env, log)
    children: set[int] = set()
    try:
        base = f"http://127.0.0.1:{port or env['PORT']}"
        _wait_ready(base, process, log)
        with redis.Redis(unix_socket_path=str(data_dir / "redis.sock")) as client:
            redis_pid = int(client.info("server")["process_id"])
        children = _children(process.pid)
        assert redis_pid in children, f"redis-server {redis_pid} is not coalition run's child"
        yield Server(base, data_dir, process, log, redis_pid, children)
    except BaseException:
        if process.poll() is None:
            process.kill()
            process.wait()
        print(log.read_text())  # shown beside the failure
        raise
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for pid in children:
            if not _gone(pid, seconds=0):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture(params=BACKENDS)
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    env = _environment(tmp_path)
    if request.param == "postgresql":
        env["COALITION_DATABASE_URL"] = _database_of_its_own(
            request.getfixturevalue("postgres_url"), f"run_{env['PORT']}"
        )
    with _serving(env) as server:
        yield server.base, tmp_path
        server.stop(signal.SIGINT)


def test_make_run_serves_the_demo_with_live_events(served: tuple[str, Path]) -> None:
    base, data_dir = served
    settings = Settings.from_env({"COALITION_DATA_DIR": str(data_dir)})
    assert settings.jwt_secret == DEV_JWT_SECRET

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
    assert purchase["transaction"]["points"] == 125  # Ana is gold: 100 points, x1.25

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


def test_run_serves_on_the_host_and_port_its_flags_name(tmp_path: Path) -> None:
    # HOST and PORT name another address: the flags win over them.
    env = _environment(tmp_path, HOST="127.0.0.2")
    port = _free_port()
    with _serving(env, "--host", "127.0.0.1", "--port", str(port), port=port) as server:
        assert httpx.get(f"{server.base}/readyz", timeout=5).status_code == 200
        for elsewhere in (f"127.0.0.1:{env['PORT']}", f"127.0.0.2:{port}"):
            with pytest.raises(httpx.ConnectError):
                httpx.get(f"http://{elsewhere}/readyz", timeout=5)
        output = server.stop(signal.SIGTERM)
    assert f"Coalition is starting on http://127.0.0.1:{port}/graphql" in output
    assert f"Uvicorn running on http://127.0.0.1:{port}" in output


def test_run_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    with _serving(_environment(tmp_path)) as server:
        output = server.stop(signal.SIGTERM)
    assert "Application shutdown complete" in output


def test_run_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    with _serving(_environment(tmp_path)) as server:
        output = server.stop(signal.SIGINT, to_group=True)
    assert "Application shutdown complete" in output
    # Not by the terminal's SIGINT, but by its owner once the app had stopped.
    log = (tmp_path / "redis.log").read_text()
    assert "Received SIGTERM" in log, log
    assert "Received SIGINT" not in log, log


@pytest.mark.skipif("postgresql" not in BACKENDS, reason="several workers need PostgreSQL")
def test_run_with_several_workers_stops_cleanly_on_sigterm(
    postgres_url: str, tmp_path: Path
) -> None:
    env = _environment(tmp_path, COALITION_WORKERS="2")
    env["COALITION_DATABASE_URL"] = _database_of_its_own(postgres_url, f"run_{env['PORT']}")
    with _serving(env) as server:
        assert len(server.children) >= 3, "the redis-server and two workers"
        server.stop(signal.SIGTERM)


# -- SQLite: the server and `coalition jobs run` processes writing at once ------------------

PURCHASE = (
    "mutation($i: RecordPurchaseInput!) { recordPurchase(input: $i) "
    "{ transaction { id } userErrors { code message } } }"
)
REDEEM = (
    "mutation($i: RedeemRewardInput!) { redeemReward(input: $i) "
    "{ redemption { id } userErrors { code message } } }"
)
ENROL = (
    "mutation($i: EnrollMemberInput!) { enrollMember(input: $i) "
    "{ member { id } userErrors { code message } } }"
)
PARTNER_KEY = (
    "mutation($i: CreatePartnerApiKeyInput!) { createPartnerApiKey(input: $i) "
    "{ apiKey userErrors { code message } } }"
)
ADMIN = {"X-API-Key": DEV_ADMIN_API_KEY}
HELD = [f"held-{n:02}" for n in range(30)]  # the jobs' work: held points, expiring points
SPENDERS = [f"spender-{n}" for n in range(6)]  # the requests' work: purchases, redemptions
JOBS_RUNS = 3
REPORT = re.compile(
    r"released ([\d,]+) points?, expired ([\d,]+) points?, sent ([\d,]+) expiry reminders?"
)


def _mutate(
    client: httpx.Client, query: str, variables: dict[str, Any], as_: dict[str, str]
) -> str | None:
    """Runs a mutation; what went wrong, if anything did."""
    response = client.post(
        "/graphql", json={"query": query, "variables": {"i": variables}}, headers=as_
    )
    if response.status_code != 200:
        return f"{response.status_code}: {response.text[:300]}"
    body = response.json()
    if body.get("errors"):
        return json.dumps(body["errors"])[:300]
    (payload,) = body["data"].values()
    return json.dumps(payload["userErrors"]) if payload["userErrors"] else None


def _purchase(external_id: str, order: str, amount: str) -> dict[str, Any]:
    return {
        "externalId": external_id,
        "orderId": order,
        "amount": amount,
        "currency": "RON",
        "idempotencyKey": order,
    }


def _assert_ledger_consistent(url: str) -> None:
    """The ledger check the other tests make, on a database no other test has open."""

    async def check() -> dict[int, int]:
        async with TortoiseContext() as context:
            await context.init(config=storage.tortoise_config(url))
            return await assert_ledger_consistent()

    asyncio.run(check())


def test_sqlite_requests_and_jobs_runs_beside_each_other_all_succeed(tmp_path: Path) -> None:
    """Deferred transactions that read before they write cannot wait for SQLite's write lock:
    beside another writing process they failed with "database is locked". Here the served
    API records purchases and redemptions while several `jobs run` processes release, expire
    and remind, all on one SQLite file: every request and every run must succeed."""
    env = _environment(tmp_path, COALITION_JOBS_EVERY_SECONDS="0")  # the jobs are the CLI's
    database = tmp_path / "coalition.sqlite3"
    with _serving(env) as server, httpx.Client(base_url=server.base, timeout=60) as client:
        key = client.post(
            "/graphql",
            json={
                "query": PARTNER_KEY,
                "variables": {"i": {"partnerId": partner_gid("paper-lantern")}},
            },
            headers=ADMIN,
        ).json()["data"]["createPartnerApiKey"]["apiKey"]
        bookshop = {"X-API-Key": key}  # its points wait out a return window
        setup = [(ENROL, {"externalId": name}, ADMIN) for name in HELD + SPENDERS]
        setup += [(PURCHASE, _purchase(n, f"{n}-book", "300"), bookshop) for n in HELD]
        setup += [(PURCHASE, _purchase(n, f"{n}-spendable", "200"), ADMIN) for n in HELD]
        setup += [(PURCHASE, _purchase(n, f"{n}-wallet", "100000"), ADMIN) for n in SPENDERS]
        for query, variables, caller in setup:
            assert _mutate(client, query, variables, caller) is None
        settings = Settings.from_env({"COALITION_DATA_DIR": str(tmp_path)})
        members = {n: {"Authorization": f"Bearer {member_token(settings, n)}"} for n in SPENDERS}

        # Due work for the jobs: every held point is due from now on (still after it was
        # earned, as held points are), and will expire within the reminder window once
        # released; the held members' spendable points have expired.
        now = datetime.now(UTC)
        soon = (now + timedelta(days=5)).isoformat(sep=" ")
        past = (now - timedelta(days=1)).isoformat(sep=" ")
        held = ", ".join(f"'{name}'" for name in HELD)
        with sqlite3.connect(database, timeout=30) as conn:
            conn.execute(
                "UPDATE lot SET available_at = ?, expires_at = ? WHERE pending = 1",
                [now.isoformat(sep=" "), soon],
            )
            conn.execute(
                "UPDATE lot SET expires_at = ? WHERE pending = 0 AND remaining > 0 AND account_id "
                f"IN (SELECT account_id FROM member WHERE external_id IN ({held}))",
                [past],
            )
            ((to_release, reminders),) = conn.execute(
                "SELECT SUM(remaining), COUNT(DISTINCT account_id) FROM lot WHERE pending = 1"
            )
            ((to_expire,),) = conn.execute(
                "SELECT SUM(remaining) FROM lot WHERE pending = 0 AND expires_at = ?", [past]
            )
        conn.close()
        assert to_release > 0
        assert to_expire > 0

        logs = [tmp_path / f"jobs-run-{n}.log" for n in range(JOBS_RUNS)]
        runs = [_spawn(["jobs", "run"], env, log) for log in logs]

        tree = reward_gid("plant-a-tree")

        def traffic(spender: str) -> list[str]:
            """Purchases and redemptions for one member until the jobs runs are over."""
            failures = []
            with httpx.Client(base_url=server.base, timeout=60) as mine:
                for n in itertools.count():
                    if n >= 10 and all(run.poll() is not None for run in runs):
                        return failures
                    if n > 600:  # the wallet would run dry: 300 redemptions of 300 points
                        return [*failures, "the jobs runs did not finish"]
                    failure = (
                        _mutate(mine, PURCHASE, _purchase(spender, f"{spender}-{n}", "50"), ADMIN)
                        if n % 2
                        else _mutate(
                            mine,
                            REDEEM,
                            {"rewardId": tree, "idempotencyKey": f"{spender}-redeem-{n}"},
                            members[spender],
                        )
                    )
                    if failure is not None:
                        failures.append(failure)
            return failures

        with ThreadPoolExecutor(len(SPENDERS)) as pool:
            failures = [f for found in pool.map(traffic, SPENDERS) for f in found]
        for run in runs:
            run.wait(timeout=60)
        server.stop(signal.SIGINT)

    assert failures == [], f"{len(failures)} failed requests, as: {failures[:3]}"
    for run, log in zip(runs, logs, strict=True):
        assert run.returncode == 0, log.read_text()[-3000:]
    done = [
        tuple(int(n.replace(",", "")) for n in REPORT.search(log.read_text()).groups())  # type: ignore[union-attr]
        for log in logs
    ]
    assert [sum(column) for column in zip(*done, strict=True)] == [
        to_release,
        to_expire,
        reminders,
    ], "each due thing was done once, by one of the runs"
    _assert_ledger_consistent(f"sqlite://{database}")
