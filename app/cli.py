"""`coalition`: serve the API, migrate, check and apply program files, mint dev tokens."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import jwt

from app import storage
from app.asgi import configured_program, describe, live_program, prepare, read_program, start
from app.embedded_redis import EmbeddedRedis
from app.settings import ConfigurationError, Settings
from domain import versions
from domain.program_file import ProgramInvalid


def member_token(settings: Settings, external_id: str, hours: float | None = None) -> str:
    """A token for `hours`; by default as long as the server accepts."""
    lifetime = settings.jwt_max_lifetime_hours if hours is None else hours
    now = int(time.time())
    claims = {"sub": external_id, "iat": now, "exp": now + int(lifetime * 3600)}
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")


@dataclass(frozen=True)
class Prepared:
    in_force: versions.InForce
    seeded_demo: bool


async def _prepare_database(settings: Settings, seed_demo: bool) -> Prepared:
    """Migrates, and finds the program in force (the configured file seeds an empty
    database); in development, seeds the demo members into a database without members."""
    from app import demo

    configured = configured_program(settings)
    async with _database(settings):
        in_force = await start(configured)
        seeded = await demo.seed(in_force.program) if seed_demo else False
        return Prepared(in_force, seeded)


@asynccontextmanager
async def _database(settings: Settings) -> AsyncIterator[None]:
    """The database, migrated and open for the block's length."""
    await storage.migrate(settings.tortoise_url)
    await storage.open_sql(settings.tortoise_url)
    try:
        yield
    finally:
        await storage.close_sql()


def run(settings: Settings) -> int:
    """Serves until SIGTERM or SIGINT (Ctrl-C), then stops in order: requests in flight and
    the app's loops finish, the embedded redis-server stops, and the exit code is 0."""
    import uvicorn

    # uvicorn stops gracefully on SIGTERM, then raises it again under the handler it found:
    # under the default one the process would die there, before the `finally` that stops the
    # embedded redis-server. Under this one SIGTERM ends the run as Ctrl-C does. (With several
    # workers, uvicorn's supervisor handles both signals itself and returns.)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    embedded = EmbeddedRedis(settings.data_dir) if settings.redis_url is None else None
    try:
        if embedded is not None:
            # The workers inherit the address of the server this process owns.
            os.environ["COALITION_REDIS_URL"] = embedded.start()
        try:
            prepared = asyncio.run(_prepare_database(settings, seed_demo=not settings.production))
        except ConfigurationError as error:
            return _refuse(error)
        _welcome(settings, prepared)
        uvicorn.run(
            "app.asgi:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            log_level="info",
            proxy_headers=True,
        )
    finally:
        if embedded is not None:
            embedded.stop()
    return 0


def _refuse(error: ConfigurationError) -> int:
    for line in error.lines:
        print(f"coalition: {line}", file=sys.stderr)
    return 2


def _welcome(settings: Settings, prepared: Prepared) -> None:
    base = f"http://{settings.host}:{settings.port}"
    live, differs = describe(prepared.in_force, settings)
    where = " (GraphiQL in a browser)" if not settings.production else ""
    lines = [
        "",
        f"Coalition is starting on {base}/graphql{where}",
        f"  program:  {live}",
        *([f"  note:     {differs}"] if differs else []),
        f"  database: {settings.database_url}",
        f"  redis:    {os.environ.get('COALITION_REDIS_URL', settings.redis_url)}",
    ]
    if not settings.production:
        lines += [
            f"  demo members {'seeded' if prepared.seeded_demo else 'already there'}: "
            "ana, bogdan, dorota, kadri, elif",
            f"  admin:    X-API-Key: {settings.admin_api_key}",
            f"  as ana:   Authorization: Bearer {member_token(settings, 'ana')}",
            "",
        ]
    print("\n".join(lines), flush=True)


def _program_command(settings: Settings, args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        program = read_program(path)
    except FileNotFoundError:
        print(f"{path}: no such file", file=sys.stderr)
        return 2
    except ProgramInvalid as invalid:
        for problem in invalid.problems:
            print(f"{path}: {problem}", file=sys.stderr)
        return 1
    if args.action == "validate":
        print(
            f"{path}: valid ({len(program.rewards)} rewards, {len(program.tiers)} tiers, "
            f"{len(program.partners)} partners, {len(program.actions)} actions)"
        )
        return 0

    async def apply() -> int:
        async with _database(settings):
            applied = await prepare(program)
        return applied.version or 0

    version = asyncio.run(apply())
    print(f"{path}: applied as program version {version}")
    return 0


def _jobs_command(settings: Settings, args: argparse.Namespace) -> int:
    from domain import jobs

    at = None
    if args.at:
        try:
            at = datetime.fromisoformat(args.at)
        except ValueError:
            print(f"coalition: --at {args.at!r} is not an ISO date-time", file=sys.stderr)
            return 2
        if at.tzinfo is None:
            print(
                "coalition: --at needs a time zone offset, like 2027-01-01T00:00:00+02:00",
                file=sys.stderr,
            )
            return 2

    if at is not None:
        return _preview_jobs(settings, at)

    async def run() -> jobs.Report:
        configured = configured_program(settings)
        async with _database(settings):
            in_force = await start(configured)
            return await jobs.run_all(in_force.program)

    try:
        report = asyncio.run(run())
    except ConfigurationError as error:
        return _refuse(error)
    print(
        f"released {report.released} points, expired {report.expired} points, sent "
        f"{report.reminded} expiry reminders, gave {report.birthdays} birthday bonuses"
    )
    for failure in report.failures:
        print(f"failed: {failure}", file=sys.stderr)
    return 1 if report.failures else 0


def _preview_jobs(settings: Settings, at: datetime) -> int:
    """What the jobs would do at `at`: counted from the lots as they are, nothing written."""
    from domain import jobs

    async def read() -> jobs.Preview:
        configured = configured_program(settings)
        async with _database(settings):
            return await jobs.preview(await live_program(configured), at)

    try:
        seen = asyncio.run(read())
    except ConfigurationError as error:
        return _refuse(error)
    repaid = f" ({seen.repaid:,} of them repay points owed)" if seen.repaid else ""
    print(f"preview of the jobs at {seen.at.isoformat()}: nothing was written")
    print(
        f"  release   {seen.released:,} points from {seen.released_lots:,} lots of "
        f"{seen.released_members:,} members{repaid}"
    )
    print(
        f"  expire    {seen.expired:,} points from {seen.expired_lots:,} lots of "
        f"{seen.expired_members:,} members"
    )
    print(
        f"  remind    {seen.reminders:,} reminders to {seen.reminded_members:,} members, "
        f"about {seen.reminded:,} points"
    )
    print(f"  birthday  {seen.birthdays:,} bonuses, {seen.birthday_points:,} points")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="coalition", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="serve the API (embedded SQLite and Redis by default)")
    commands.add_parser("migrate", help="bring the database schema up to date")
    program = commands.add_parser("program", help="check or apply a program file")
    program.add_argument("action", choices=["validate", "apply"])
    program.add_argument("file")
    token = commands.add_parser("token", help="mint a member JWT (for trying the API)")
    token.add_argument("external_id")
    token.add_argument(
        "--hours", type=float, help="how long it lasts (default: COALITION_JWT_MAX_LIFETIME_HOURS)"
    )
    commands.add_parser("schema", help="print the GraphQL schema (SDL)")
    jobs = commands.add_parser("jobs", help="run the points life-cycle jobs once")
    jobs.add_argument("action", choices=["run"])
    jobs.add_argument(
        "--at",
        help="preview what the jobs would do at this moment (ISO, with offset); writes nothing",
    )
    args = parser.parse_args(argv)

    try:
        settings = Settings.from_env()
    except ConfigurationError as error:
        return _refuse(error)
    if args.command in ("run", "migrate", "program", "jobs"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    if args.command == "run":
        return run(settings)
    if args.command == "migrate":
        asyncio.run(storage.migrate(settings.tortoise_url))
        print("database schema is up to date")
        return 0
    if args.command == "program":
        return _program_command(settings, args)
    if args.command == "jobs":
        return _jobs_command(settings, args)
    if args.command == "token":
        longest = settings.jwt_max_lifetime_hours
        if args.hours is not None and not args.hours > 0:  # nan is not > 0 either
            print(f"coalition: --hours must be more than 0, not {args.hours:g}", file=sys.stderr)
            return 2
        if args.hours is not None and args.hours > longest:
            print(
                f"coalition: --hours {args.hours:g} is longer than the {longest} hours this "
                "server accepts (COALITION_JWT_MAX_LIFETIME_HOURS)",
                file=sys.stderr,
            )
            return 2
        print(member_token(settings, args.external_id, args.hours))
        return 0
    if args.command == "schema":
        from schema.build import build_schema

        print(build_schema(production=False).as_str())
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
