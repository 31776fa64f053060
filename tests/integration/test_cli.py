"""The `coalition` command: program files, tokens, the schema."""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import jwt
import pytest
from tortoise.context import TortoiseContext
from tortoise.migrations.api import migrate as run_migrations

from app import cli, storage
from app.settings import DEMO_PROGRAM, DEV_JWT_SECRET
from domain import jobs
from tests.leaderboard_helpers import BOARDS_PROGRAM

ROOT = Path(__file__).resolve().parents[2]


def coalition(*args: str, data_dir: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COALITION_")}
    env["COALITION_DATA_DIR"] = str(data_dir)
    env.update(settings)
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """`coalition` and each of its subcommands and their subcommands, with their parsers."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, (*path, name))


COMMANDS = dict(_commands(cli.build_parser()))


def test_every_command_is_there_to_describe():
    assert set(COMMANDS) == {
        (),
        ("run",),
        ("migrate",),
        ("program",),
        ("program", "validate"),
        ("program", "apply"),
        ("token",),
        ("schema",),
        ("jobs",),
        ("jobs", "run"),
        ("jobs", "prune"),
        ("events",),
        ("events", "status"),
        ("events", "forget"),
        ("surprise",),
        ("surprise", "replay"),
        ("gamification",),
        ("gamification", "rebuild"),
    }


@pytest.mark.parametrize("path", COMMANDS, ids=lambda path: " ".join(("coalition", *path)))
def test_each_command_describes_itself_and_each_of_its_arguments(
    path: tuple[str, ...], capsys: pytest.CaptureFixture[str]
):
    parser = COMMANDS[path]
    with pytest.raises(SystemExit) as exited:
        cli.main([*path, "-h"])
    assert exited.value.code == 0
    shown = capsys.readouterr().out
    assert shown.startswith(f"usage: {' '.join(('coalition', *path))}")
    assert parser.description, f"{path} has no description"
    assert parser.description.split()[0] in shown
    assert "examples:" in shown
    for action in parser._actions:
        name = "/".join(action.option_strings) or action.dest
        assert action.help, f"{path}: {name} has no help"
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                assert choice.help, f"{path}: {choice.dest} has no summary"
                assert choice.dest in shown


def test_help_is_what_the_installed_command_prints(tmp_path: Path):
    done = coalition("program", "-h", data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "The program file (TOML) describes the whole program" in done.stdout
    assert "validate  check a program file" in done.stdout


def test_run_refuses_a_port_outside_1_to_65535(tmp_path: Path):
    for port in ("0", "65536", "eighty", "²"):
        done = coalition("run", "--port", port, data_dir=tmp_path)
        assert done.returncode == 2
        assert "--port: must be a whole number from 1 to 65535" in done.stderr, done.stderr
    assert not (tmp_path / "coalition.sqlite3").exists(), "refused before anything started"


def test_validate_accepts_the_demo_program(tmp_path: Path):
    done = coalition("program", "validate", str(DEMO_PROGRAM), data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "valid (6 rewards, 3 tiers, 3 partners, 6 actions)" in done.stdout


ONE_OF_EACH = """
[program]
name = "Just one"
timezone = "Europe/Tallinn"

[points]
expiry = "never"

[purchases]
rates = { EUR = 1 }

[[actions]]
key = "REVIEW"
name = "Write a review"
points = 10

[[tiers]]
key = "member"
name = "Member"
threshold = 0

[[partners]]
key = "bookshop"
name = "The Bookshop"
currency = "LEAF"

[[rewards]]
key = "bookmark"
name = "A bookmark"
points_cost = 1
"""


def test_validate_counts_one_of_each_in_the_singular(tmp_path: Path):
    small = tmp_path / "small.toml"
    small.write_text(ONE_OF_EACH)
    done = coalition("program", "validate", str(small), data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{small}: valid (1 reward, 1 tier, 1 partner, 1 action)\n"


def test_the_jobs_lines_count_one_in_the_singular_and_group_thousands():
    assert cli.done_line(jobs.Report(released=1, expired=0, reminded=1, birthdays=1)) == (
        "released 1 point, expired 0 points, sent 1 expiry reminder, gave 1 birthday bonus"
    )
    assert cli.done_line(jobs.Report(released=2500, expired=2, reminded=3, birthdays=2)) == (
        "released 2,500 points, expired 2 points, sent 3 expiry reminders, gave 2 birthday bonuses"
    )
    at = datetime(2027, 1, 1, tzinfo=UTC)
    ones = jobs.Preview(at, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1)
    assert cli.preview_lines(ones) == [
        "preview of the jobs at 2027-01-01T00:00:00+00:00: nothing was written",
        "  release   1 point from 1 lot of 1 member (1 of them repays points owed)",
        "  expire    1 point from 1 lot of 1 member",
        "  remind    1 reminder to 1 member, about 1 point",
        "  birthday  1 bonus, 1 point",
    ]
    many = jobs.Preview(at, 2, 3, 1200, 40, 2, 2, 5, 2, 2, 9, 2, 500)
    assert cli.preview_lines(many)[1:] == [
        "  release   1,200 points from 3 lots of 2 members (40 of them repay points owed)",
        "  expire    5 points from 2 lots of 2 members",
        "  remind    2 reminders to 2 members, about 9 points",
        "  birthday  2 bonuses, 500 points",
    ]
    assert cli.preview_lines(jobs.Preview(at))[1:] == [
        "  release   0 points from 0 lots of 0 members",
        "  expire    0 points from 0 lots of 0 members",
        "  remind    0 reminders to 0 members, about 0 points",
        "  birthday  0 bonuses, 0 points",
    ]


def test_validate_reports_every_mistake_with_its_location(tmp_path: Path):
    broken = tmp_path / "broken.toml"
    broken.write_text(
        DEMO_PROGRAM.read_text()
        .replace("points_cost = 500", "points_cost = 0")
        .replace('timezone = "Europe/Bucharest"', 'timezone = "Europe/Atlantis"')
    )
    done = coalition("program", "validate", str(broken), data_dir=tmp_path)
    assert done.returncode == 1
    assert f"{broken}: program.timezone: unknown time zone 'Europe/Atlantis'" in done.stderr
    assert f"{broken}: rewards[0].points_cost: must be a whole number" in done.stderr
    assert "Traceback" not in done.stderr


def test_validate_a_missing_file_is_a_clear_error(tmp_path: Path):
    done = coalition("program", "validate", str(tmp_path / "nope.toml"), data_dir=tmp_path)
    assert done.returncode == 2
    assert "no such file" in done.stderr


def test_apply_records_a_new_version_only_when_the_file_changes(tmp_path: Path):
    first = coalition("program", "apply", str(DEMO_PROGRAM), data_dir=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "applied as program version 1" in first.stdout
    again = coalition("program", "apply", str(DEMO_PROGRAM), data_dir=tmp_path)
    assert "applied as program version 1" in again.stdout
    changed = tmp_path / "changed.toml"
    changed.write_text(
        DEMO_PROGRAM.read_text().replace("expiry = { days = 365 }", "expiry = { days = 730 }")
    )
    third = coalition("program", "apply", str(changed), data_dir=tmp_path)
    assert "applied as program version 2" in third.stdout, third.stderr


def test_token_mints_a_member_jwt(tmp_path: Path):
    done = coalition("token", "ana", "--hours", "2", data_dir=tmp_path)
    claims = jwt.decode(done.stdout.strip(), DEV_JWT_SECRET, algorithms=["HS256"])
    assert claims["sub"] == "ana"
    assert 7100 <= claims["exp"] - claims["iat"] <= 7200


def test_token_lasts_as_long_as_the_server_accepts_by_default(tmp_path: Path):
    done = coalition("token", "ana", data_dir=tmp_path, COALITION_JWT_MAX_LIFETIME_HOURS="12")
    claims = jwt.decode(done.stdout.strip(), DEV_JWT_SECRET, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == 12 * 3600


def test_token_refuses_more_hours_than_the_server_accepts(tmp_path: Path):
    done = coalition("token", "ana", "--hours", "25", data_dir=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == (
        "coalition: --hours 25 is longer than the 24 hours this server accepts "
        "(COALITION_JWT_MAX_LIFETIME_HOURS)\n"
    )
    longer = coalition(
        "token", "ana", "--hours", "30", data_dir=tmp_path, COALITION_JWT_MAX_LIFETIME_HOURS="48"
    )
    assert longer.returncode == 0, longer.stderr
    one = coalition(
        "token", "ana", "--hours", "2", data_dir=tmp_path, COALITION_JWT_MAX_LIFETIME_HOURS="1"
    )
    assert one.stderr == (
        "coalition: --hours 2 is longer than the 1 hour this server accepts "
        "(COALITION_JWT_MAX_LIFETIME_HOURS)\n"
    )


def test_token_refuses_hours_that_are_not_more_than_zero(tmp_path: Path):
    for hours in ("0", "-1", "nan"):
        done = coalition("token", "ana", "--hours", hours, data_dir=tmp_path)
        assert done.returncode == 2
        assert done.stderr.startswith("coalition: --hours must be more than 0"), done.stderr


def test_schema_prints_what_schema_graphql_holds(tmp_path: Path):
    done = coalition("schema", data_dir=tmp_path)
    assert done.stdout.strip() == (ROOT / "schema.graphql").read_text().strip()


def _migrated_up_to(data_dir: Path, target: str) -> None:
    """A database whose schema stopped at `target`, as an older release left it."""

    async def migrate() -> None:
        config = storage.tortoise_config(f"sqlite://{data_dir / 'coalition.sqlite3'}")
        async with TortoiseContext() as context:
            await context.init(config=config, _create_db=False)
            await run_migrations(config=config, target=target)

    asyncio.run(migrate())


def test_migrate_says_what_it_did(tmp_path: Path):
    migrations = sorted(
        f"{app}.{path.stem}"
        for app in ("domain", "partners")
        for path in (ROOT / app / "migrations").glob("0*.py")
    )
    created = coalition("migrate", data_dir=tmp_path)
    assert created.returncode == 0, created.stderr
    assert created.stdout == f"created the database schema ({len(migrations)} migrations)\n"
    again = coalition("migrate", data_dir=tmp_path)
    assert again.stdout == "database schema is up to date\n"

    older = tmp_path / "older"
    older.mkdir()
    _migrated_up_to(older, "domain.0002_program_rules")
    caught_up = coalition("migrate", data_dir=older)
    assert caught_up.returncode == 0, caught_up.stderr
    missing = [
        m for m in migrations if m not in ("domain.0001_initial", "domain.0002_program_rules")
    ]
    said, listed = caught_up.stdout.strip().split(": ")
    assert said == f"applied {len(missing)} migrations to the database schema"
    assert sorted(listed.split(", ")) == missing
    assert storage.Migrated(("domain.0009_next",)).describe() == (
        "applied 1 migration to the database schema: domain.0009_next"
    )


def test_production_refuses_development_secrets(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("COALITION_")}
    env.update({"COALITION_ENV": "production", "COALITION_DATA_DIR": str(tmp_path)})
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "migrate"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "COALITION_JWT_SECRET" in done.stderr
    assert "COALITION_ADMIN_API_KEY" in done.stderr


def test_gamification_rebuild_fills_the_boards_with_a_progress_bar(tmp_path: Path, redis_url: str):
    import redis

    program = tmp_path / "program.toml"
    program.write_text(BOARDS_PROGRAM, encoding="utf-8")
    env = {"COALITION_PROGRAM": str(program), "COALITION_REDIS_URL": redis_url}
    env["COALITION_REDIS_PREFIX"] = "{cli-rebuild}"
    done = coalition("gamification", "rebuild", data_dir=tmp_path, **env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("leaderboards and progress sets rebuilt from SQL in ")
    # One bar per kept board period, and one for the members the progress sets read,
    # filled: nobody has enrolled yet, so each is empty.
    bars = [line for line in done.stderr.splitlines() if "[" in line]
    assert len(bars) == 6, done.stderr
    assert all(line.endswith("0/0") and "#" * 30 in line for line in bars)
    assert bars[-1].startswith("{cli-rebuild}:pm:* ")
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    written = ["{cli-rebuild}:lb:generation", "{cli-rebuild}:pm:generation"]
    written += ["{cli-rebuild}:pm:population", "{cli-rebuild}:pm:metrics"]
    try:
        for generation in client.mget(written[:2]):
            assert generation is not None
            assert generation in done.stdout
        assert client.get("{cli-rebuild}:pm:population") == "0"
    finally:
        client.delete(*written)
        client.close()


def test_gamification_rebuild_without_redis_says_so(tmp_path: Path):
    done = coalition(
        "gamification",
        "rebuild",
        data_dir=tmp_path,
        COALITION_REDIS_URL=f"unix://{tmp_path / 'no-such.sock'}",
    )
    assert done.returncode == 1
    assert done.stderr.startswith("coalition: Redis is unavailable")


def test_events_status_shows_each_consumer_and_forget_lets_pruning_go_past_it(tmp_path: Path):
    assert coalition("migrate", data_dir=tmp_path).returncode == 0
    # The migration registers the live fan-out, the one consumer there was before.
    status = coalition("events", "status", data_dir=tmp_path)
    assert status.returncode == 0, status.stderr
    assert status.stdout.startswith("fanout: handled 0 events, 0 events behind, last moved ")
    pruned = coalition("jobs", "prune", data_dir=tmp_path)
    assert pruned.returncode == 0, pruned.stderr
    assert pruned.stdout == (
        "pruned 0 outbox events every consumer had handled, older than 7 days, and "
        "0 idempotency records older than 30 days\n"
    )
    forgot = coalition("events", "forget", "fanout", data_dir=tmp_path)
    assert forgot.returncode == 0, forgot.stderr
    assert forgot.stdout == "forgot consumer fanout: it no longer holds events back from pruning\n"
    assert coalition("events", "status", data_dir=tmp_path).stdout == (
        "no outbox consumer has run yet: a server registers them as it starts\n"
    )
    unknown = coalition("events", "forget", "fanout", data_dir=tmp_path)
    assert unknown.returncode == 1
    assert unknown.stderr == "coalition: no consumer is called 'fanout'\n"
