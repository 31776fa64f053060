"""Program versions across restarts, and production's refusals, with real `coalition`
processes: the database's current version is the program; a file seeds an empty database and
is applied again only when the operator asks."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
from pathlib import Path

import httpx

from app.settings import DEMO_PROGRAM
from tests.integration.test_cli import coalition
from tests.integration.test_run_command import _free_port, _spawn, _wait_ready

REWARDS = "{ rewards(first: 50) { nodes { key pointsCost } } }"


def environment(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COALITION_")}
    env["COALITION_DATA_DIR"] = str(data_dir)
    env.update(extra)
    return env


def versions(data_dir: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(data_dir / "coalition.sqlite3") as conn:
        return list(conn.execute("SELECT id, digest FROM program_version ORDER BY id"))


def serve(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str, Path]:
    """`coalition run`, ready; its output goes to a log file in the data directory."""
    port = _free_port()
    env = {**env, "PORT": str(port), "COALITION_JOBS_EVERY_SECONDS": "0"}
    log = Path(env["COALITION_DATA_DIR"]) / f"run-{port}.log"
    process = _spawn(["run"], env, log)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, process, log)
    except BaseException:
        process.kill()
        process.wait()
        raise
    return process, base, log


def stop(process: subprocess.Popen[bytes], log: Path) -> str:
    process.send_signal(signal.SIGINT)
    process.wait(timeout=30)
    return log.read_text()


def test_an_applied_program_stays_the_program_through_restarts_and_jobs(tmp_path: Path):
    env = environment(tmp_path)
    # The first start seeds the empty database with the configured (demo) file: version 1.
    seeded = coalition("jobs", "run", data_dir=tmp_path)
    assert seeded.returncode == 0, seeded.stderr
    assert len(versions(tmp_path)) == 1

    cheaper = tmp_path / "cheaper.toml"
    cheaper.write_text(DEMO_PROGRAM.read_text().replace("points_cost = 500", "points_cost = 450"))
    applied = coalition("program", "apply", str(cheaper), data_dir=tmp_path)
    assert applied.returncode == 0, applied.stderr
    assert "applied as program version 2" in applied.stdout
    live = versions(tmp_path)

    # Neither the jobs nor the server put the demo file back: it is not what was applied.
    again = coalition("jobs", "run", data_dir=tmp_path)
    assert again.returncode == 0, again.stderr
    assert versions(tmp_path) == live
    process, base, log = serve(env)
    try:
        rewards = httpx.post(f"{base}/graphql", json={"query": REWARDS}).json()["data"]
        assert {"key": "coffee", "pointsCost": 450} in rewards["rewards"]["nodes"]
    finally:
        output = stop(process, log)
    assert versions(tmp_path) == live
    assert "program:  program version 2 is live (applied " in output, output
    notes = [line for line in output.splitlines() if "differs from live version 2" in line]
    assert len(notes) >= 1, output
    assert f"coalition program apply {DEMO_PROGRAM}" in notes[0]

    # Started with the applied file itself, there is nothing to say about it.
    process, _, log = serve({**env, "COALITION_PROGRAM": str(cheaper)})
    output = stop(process, log)
    assert "differs" not in output, output
    assert versions(tmp_path) == live


PRODUCTION = {
    "COALITION_ENV": "production",
    "COALITION_JWT_SECRET": "p" * 40,
    "COALITION_ADMIN_API_KEY": "k" * 30,
}


def test_production_refuses_to_start_naming_each_missing_setting(tmp_path: Path):
    done = coalition("run", data_dir=tmp_path, COALITION_ENV="production")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines[0] == "coalition: Refusing to start in production:"
    named = [line.removeprefix("coalition: ").split()[0] for line in lines[1:]]
    assert named == [
        "COALITION_JWT_SECRET",
        "COALITION_ADMIN_API_KEY",
        "COALITION_DATABASE_URL",
        "COALITION_REDIS_URL",
    ]
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "coalition.sqlite3").exists()
    assert not (tmp_path / "redis.sock").exists()


def test_production_needs_a_program_file_or_an_applied_version(tmp_path: Path, redis_url: str):
    database = f"sqlite://{tmp_path / 'prod.sqlite3'}"
    env = environment(
        tmp_path, **PRODUCTION, COALITION_DATABASE_URL=database, COALITION_REDIS_URL=redis_url
    )
    refused = coalition(
        "run",
        data_dir=tmp_path,
        **PRODUCTION,
        COALITION_DATABASE_URL=database,
        COALITION_REDIS_URL=redis_url,
    )
    assert refused.returncode == 2, refused.stdout
    assert refused.stderr.strip() == (
        "coalition: COALITION_PROGRAM must name a program file: the database has no program "
        "version applied yet"
    )

    # With a file it serves that program: no demo members, no GraphiQL offered or served.
    process, base, log = serve({**env, "COALITION_PROGRAM": str(DEMO_PROGRAM)})
    try:
        page = httpx.get(f"{base}/graphql", headers={"Accept": "text/html"})
        assert "graphiql" not in page.text.lower()
        members = httpx.post(
            f"{base}/graphql",
            json={"query": "{ members(first: 5) { nodes { id } } }"},
            headers={"X-API-Key": PRODUCTION["COALITION_ADMIN_API_KEY"]},
        ).json()
        assert members["data"]["members"]["nodes"] == []
    finally:
        output = stop(process, log)
    assert "GraphiQL" not in output
    assert "program version 1 is live (seeded from" in output

    # Once a version is applied, the database alone is enough.
    process, _, log = serve(env)
    output = stop(process, log)
    assert "program version 1 is live (applied" in output
