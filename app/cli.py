"""`coalition`: serve the API, migrate, check and apply program files, mint dev tokens."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TextIO

import jwt

from app import storage
from app.embedded_redis import EmbeddedRedis
from app.runtime import configured_program, describe, live_program, prepare, read_program, start
from app.settings import ConfigurationError, Settings
from domain import consumers, jobs, retention, sql, versions
from domain.clock import utcnow
from domain.program_file import ProgramInvalid
from domain.words import counted
from gamification.boards import BoardsUnavailable
from gamification.surprise_engine import Replayed, replay, seeds


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


def run(settings: Settings, host: str | None = None, port: int | None = None) -> int:
    """Serves on `host` and `port` (the settings' when not given) until SIGTERM or SIGINT
    (Ctrl-C), then stops in order: requests in flight and the app's loops finish, the embedded
    redis-server stops, and the exit code is 0."""
    import uvicorn

    settings = replace(settings, host=host or settings.host, port=port or settings.port)

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
        defined = (
            counted(len(program.rewards), "reward"),
            counted(len(program.tiers), "tier"),
            counted(len(program.partners), "partner"),
            counted(len(program.actions), "action"),
        )
        print(f"{path}: valid ({', '.join(defined)})")
        return 0

    async def apply() -> int:
        async with _database(settings):
            applied = await prepare(program)
        return applied.version or 0

    version = asyncio.run(apply())
    print(f"{path}: applied as program version {version}")
    return 0


def _jobs_command(settings: Settings, args: argparse.Namespace) -> int:
    if args.action == "prune":
        return _prune(settings)
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
    print(done_line(report))
    for failure in report.failures:
        print(f"failed: {failure}", file=sys.stderr)
    return 1 if report.failures else 0


class ProgressBar:
    """One line per key, redrawn in place on a terminal: `key [#####.....] 5,000/10,000`."""

    WIDTH = 30

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.live = out.isatty()
        self.current: str | None = None

    def __call__(self, key: str, done: int, total: int) -> None:
        filled = self.WIDTH if total == 0 else self.WIDTH * done // total
        line = f"{key:<40} [{'#' * filled}{'.' * (self.WIDTH - filled)}] {done:,}/{total:,}"
        if self.live:
            self.out.write(("\r" if self.current == key else "") + line)
            if done >= total:
                self.out.write("\n")
        elif done >= total:
            self.out.write(line + "\n")
        self.current = key
        self.out.flush()


def _gamification_command(settings: Settings, args: argparse.Namespace) -> int:
    from app.runtime import Runtime

    async def rebuild() -> tuple[str, str]:
        configured = configured_program(settings)
        embedded = EmbeddedRedis(settings.data_dir) if settings.redis_url is None else None
        url = settings.redis_url or (embedded.start() if embedded else "")
        redis = storage.open_redis(url)
        try:
            async with _database(settings):
                in_force = await start(configured)
                runtime = Runtime(in_force.program, redis, redis_prefix=settings.redis_prefix)
                bar = ProgressBar(sys.stderr)
                boards = await runtime.leaderboards.rebuild(sql.connection(), utcnow(), bar)
                progress = await runtime.progress.rebuild(sql.connection(), utcnow(), bar)
                return boards, progress
        finally:
            await redis.aclose()
            if embedded is not None:
                embedded.stop()

    started = time.monotonic()
    try:
        generation, progress = asyncio.run(rebuild())
    except ConfigurationError as error:
        return _refuse(error)
    except BoardsUnavailable as error:
        print(f"coalition: Redis is unavailable: {error}", file=sys.stderr)
        return 1
    took = time.monotonic() - started
    print(
        f"leaderboards and progress sets rebuilt from SQL in {took:.1f} s "
        f"(generations {generation} and {progress})"
    )
    return 0


def _prune(settings: Settings) -> int:
    async def run() -> retention.Pruned:
        async with _database(settings):
            return await retention.prune(utcnow(), settings.retention)

    pruned = asyncio.run(run())
    print(
        f"pruned {_n(pruned.events, 'outbox event')} every consumer had handled, older than "
        f"{_n(settings.event_retention_days, 'day')}, and "
        f"{_n(pruned.idempotency_records, 'idempotency record')} older than "
        f"{_n(settings.idempotency_retention_days, 'day')}"
    )
    return 0


def _events_command(settings: Settings, args: argparse.Namespace) -> int:
    async def status() -> list[str]:
        async with _database(settings):
            return await consumer_lines()

    async def forget() -> bool:
        async with _database(settings):
            return await consumers.forget(sql.connection(), args.name)

    if args.action == "status":
        print("\n".join(asyncio.run(status())))
        return 0
    if not asyncio.run(forget()):
        print(f"coalition: no consumer is called {args.name!r}", file=sys.stderr)
        return 1
    print(f"forgot consumer {args.name}: it no longer holds events back from pruning")
    return 0


async def consumer_lines() -> list[str]:
    """Each outbox consumer: how far it has got, how far behind it is, how its retries stand."""
    conn = sql.connection()
    found = await consumers.checkpoints(conn)
    if not found:
        return ["no outbox consumer has run yet: a server registers them as it starts"]
    lines = []
    for c in found:
        behind = await consumers.lag(conn, c.position)
        line = (
            f"{c.name}: handled {_n(c.handled, 'event')}, {_n(behind, 'event')} behind, "
            f"last moved {c.updated_at.isoformat()}"
        )
        if c.failures:
            retry = c.retry_at.isoformat() if c.retry_at else "soon"
            line += f"; failed {_n(c.failures, 'time')} in a row ({c.last_error}), retrying {retry}"
        lines.append(line)
    return lines


def _preview_jobs(settings: Settings, at: datetime) -> int:
    """What the jobs would do at `at`: counted from the lots as they are, nothing written."""

    async def read() -> jobs.Preview:
        configured = configured_program(settings)
        async with _database(settings):
            return await jobs.preview(await live_program(configured), at)

    try:
        seen = asyncio.run(read())
    except ConfigurationError as error:
        return _refuse(error)
    print("\n".join(preview_lines(seen)))
    return 0


def done_line(report: jobs.Report) -> str:
    """What a jobs run did, in one line."""
    return (
        f"released {_n(report.released, 'point')}, expired {_n(report.expired, 'point')}, "
        f"sent {_n(report.reminded, 'expiry reminder')}, "
        f"gave {_n(report.birthdays, 'birthday bonus', 'birthday bonuses')}"
    )


def preview_lines(seen: jobs.Preview) -> list[str]:
    """What the jobs would do at a moment, one line a job."""
    repays = "repays" if seen.repaid == 1 else "repay"
    repaid = f" ({seen.repaid:,} of them {repays} points owed)" if seen.repaid else ""
    return [
        f"preview of the jobs at {seen.at.isoformat()}: nothing was written",
        f"  release   {_n(seen.released, 'point')} from {_n(seen.released_lots, 'lot')} of "
        f"{_n(seen.released_members, 'member')}{repaid}",
        f"  expire    {_n(seen.expired, 'point')} from {_n(seen.expired_lots, 'lot')} of "
        f"{_n(seen.expired_members, 'member')}",
        f"  remind    {_n(seen.reminders, 'reminder')} to {_n(seen.reminded_members, 'member')}, "
        f"about {_n(seen.reminded, 'point')}",
        f"  birthday  {_n(seen.birthdays, 'bonus', 'bonuses')}, "
        f"{_n(seen.birthday_points, 'point')}",
    ]


def _n(count: int, singular: str, plural: str | None = None) -> str:
    """A count for people to read: thousands grouped, the noun agreeing ("1 point")."""
    return counted(count, singular, plural, grouped=True)


EXAMPLES = """\
examples:
  coalition run                       serve http://127.0.0.1:8000/graphql
  coalition run --host 0.0.0.0 --port 9000
  coalition program validate FILE     check a program file
  coalition program apply FILE        make it the program in force
  coalition token ana                 a member token (Authorization: Bearer ...)
  coalition jobs run                  do what the points jobs have due now

Settings come from the environment: COALITION_DATABASE_URL, COALITION_REDIS_URL,
COALITION_PROGRAM, COALITION_DATA_DIR, HOST, PORT... (README.md, "Configuration")."""


def _port(value: str) -> int:
    """A TCP port for argparse: 1 to 65535, or a usage error saying so."""
    if not re.fullmatch(r"[0-9]{1,5}", value) or not 1 <= int(value) <= 65535:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to 65535, not {value!r}")
    return int(value)


class _HelpFormatter(argparse.HelpFormatter):
    """Wraps prose paragraphs to the terminal's width; keeps a paragraph with indented lines
    (the examples) as it is written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs = []
        for paragraph in text.split("\n\n"):
            if any(line.startswith(" ") for line in paragraph.splitlines()):
                paragraphs.append("\n".join(indent + line for line in paragraph.splitlines()))
            else:
                paragraphs.append(super()._fill_text(paragraph, width, indent))
        return "\n\n".join(paragraphs)


def _command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    summary: str,
    description: str,
    examples: str = "",
) -> argparse.ArgumentParser:
    """A subcommand: `summary` in its parent's list, the description and examples in its -h."""
    return commands.add_parser(
        name,
        help=summary,
        description=description,
        epilog=f"examples:\n{examples}" if examples else None,
        formatter_class=_HelpFormatter,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="coalition",
        description="Coalition, a GraphQL loyalty platform: serve the API, migrate the "
        "database, check and apply program files, run the points jobs, mint member tokens "
        "for trying the API.",
        epilog=EXAMPLES,
        formatter_class=_HelpFormatter,
    )
    commands = parser.add_subparsers(
        title="commands",
        dest="command",
        required=True,
        metavar="COMMAND",
        help="one of these; `coalition COMMAND -h` describes it",
    )

    run = _command(
        commands,
        "run",
        "serve the API (embedded SQLite and Redis by default)",
        "Serves the GraphQL API at /graphql until SIGTERM or Ctrl-C. It migrates the "
        "database first; an empty database takes COALITION_PROGRAM (the demo program by "
        "default) as its first program version and, in development, the demo members. "
        "Without COALITION_DATABASE_URL and COALITION_REDIS_URL it uses a SQLite file and an "
        "embedded redis-server under COALITION_DATA_DIR (./var).",
        "  coalition run\n"
        "  coalition run --port 9000\n"
        "  coalition run --host 0.0.0.0 --port 8080   # reachable from other machines",
    )
    run.add_argument(
        "--host",
        metavar="ADDRESS",
        help="the address to listen on (default: $HOST, else 127.0.0.1; 0.0.0.0 for every "
        "interface)",
    )
    run.add_argument(
        "--port",
        type=_port,
        metavar="PORT",
        help="the TCP port to listen on, 1 to 65535 (default: $PORT, else 8000)",
    )

    _command(
        commands,
        "migrate",
        "bring the database schema up to date",
        "Applies the migrations the database has not had yet, and says what it did: created "
        "the schema (an empty database), applied some migrations, or found it up to date. "
        "`coalition run` does this at every start too; it is safe to run again.",
        "  coalition migrate\n"
        "  COALITION_DATABASE_URL=postgresql://user:pass@host/db coalition migrate",
    )

    program = _command(
        commands,
        "program",
        "check or apply a program file",
        "The program file (TOML) describes the whole program: rates, rules, campaigns, "
        "actions, tiers, rewards, partners, badges and leaderboards (deploy/program-file.md).",
        "  coalition program validate my-program.toml\n  coalition program apply my-program.toml",
    )
    program_actions = program.add_subparsers(
        title="actions",
        dest="action",
        required=True,
        metavar="ACTION",
        help="what to do with the file; `coalition program ACTION -h` describes it",
    )
    validate = _command(
        program_actions,
        "validate",
        "check a program file and report every mistake with its location",
        "Reads the file and checks it without touching the database. Exit code 0 if it is "
        "valid (with a count of what it defines), 1 with one line per mistake if not, 2 if "
        "there is no such file.",
        "  coalition program validate app/demo_program.toml",
    )
    validate.add_argument("file", metavar="FILE", help="the program file (TOML) to check")
    apply = _command(
        program_actions,
        "apply",
        "make a program file the program in force, as a new version",
        "Checks the file, then records it as the next program version unless it is the "
        "version in force already; running servers pick it up within seconds. Past "
        "transactions keep the version they were computed with.",
        "  coalition program apply my-program.toml",
    )
    apply.add_argument("file", metavar="FILE", help="the program file (TOML) to apply")

    token = _command(
        commands,
        "token",
        "mint a member JWT (for trying the API)",
        "Prints a member token signed with COALITION_JWT_SECRET, for the Authorization: "
        "Bearer header. The member need not exist yet: enrollMember creates it.",
        "  coalition token ana\n"
        "  coalition token ana --hours 2\n"
        '  curl -H "Authorization: Bearer $(coalition token ana)" ...',
    )
    token.add_argument("external_id", metavar="EXTERNAL_ID", help="the member's externalId")
    token.add_argument(
        "--hours",
        type=float,
        help="how long the token lasts, more than 0 and at most COALITION_JWT_MAX_LIFETIME_HOURS "
        "(default: that many hours, 24 unless set)",
    )

    _command(
        commands,
        "schema",
        "print the GraphQL schema (SDL)",
        "Prints the schema in GraphQL's schema definition language, as schema.graphql holds "
        "it (`make schema` writes that file).",
        "  coalition schema > schema.graphql",
    )

    jobs_command = _command(
        commands,
        "jobs",
        "run the points life-cycle jobs once",
        "The jobs release pending points whose wait is over, expire points past their expiry, "
        "remind members of points about to expire and give birthday bonuses. The server runs "
        "them every COALITION_JOBS_EVERY_SECONDS; this runs them once.",
        "  coalition jobs run\n  coalition jobs run --at 2027-01-01T00:00:00+02:00",
    )
    jobs_actions = jobs_command.add_subparsers(
        title="actions",
        dest="action",
        required=True,
        metavar="ACTION",
        help="`coalition jobs ACTION -h` describes it",
    )
    jobs_run = _command(
        jobs_actions,
        "run",
        "do what is due now, or preview a moment with --at",
        "Does everything due as of now, each member in a transaction of its own; safe to run "
        "twice or beside a server. With --at it writes nothing and says what the jobs would "
        "do at that moment.",
        "  coalition jobs run\n"
        "  coalition jobs run --at 2027-01-01T00:00:00+02:00   # preview; writes nothing",
    )
    jobs_run.add_argument(
        "--at",
        metavar="MOMENT",
        help="preview what the jobs would do at this moment (ISO 8601 with an offset, like "
        "2027-01-01T00:00:00+02:00); writes nothing",
    )
    _command(
        jobs_actions,
        "prune",
        "delete handled outbox events and old idempotency records",
        "Deletes outbox events that every consumer has handled once they are older than "
        "COALITION_EVENT_RETENTION_DAYS (7), and idempotency records older than "
        "COALITION_IDEMPOTENCY_RETENTION_DAYS (30): a retry with such a key is a new request. "
        "The server does this with its other jobs.",
        "  coalition jobs prune",
    )

    events_command = _command(
        commands,
        "events",
        "see and manage the outbox consumers",
        "Each outbox consumer (the live fan-out, and the others a server runs) reads the "
        "events after its own checkpoint, and retries on its own when it fails.",
        "  coalition events status\n  coalition events forget old-consumer",
    )
    events_actions = events_command.add_subparsers(
        title="actions",
        dest="action",
        required=True,
        metavar="ACTION",
        help="`coalition events ACTION -h` describes it",
    )
    _command(
        events_actions,
        "status",
        "how far each consumer has got",
        "For each consumer: the events it has handled, how many it is behind, when it last "
        "moved, and its failures and next retry if it is failing.",
        "  coalition events status",
    )
    forget_command = _command(
        events_actions,
        "forget",
        "drop a retired consumer's checkpoint",
        "A consumer that no longer runs holds every event after its checkpoint back from "
        "pruning; forgetting it lets them go. A consumer that still runs registers again, "
        "from the oldest event kept.",
        "  coalition events forget old-consumer",
    )
    forget_command.add_argument("name", metavar="NAME", help="the consumer's name")

    surprise_command = _command(
        commands,
        "surprise",
        "replay a surprise bonus draw",
        'Surprise draws are HMAC-SHA256(seed, "<surprise>:<event id>") mapped exactly to '
        "[0, 1) and compared with the surprise's chance. The seeds are kept in the database, "
        "never in the program file.",
        "  coalition surprise replay 1234",
    )
    surprise_actions = surprise_command.add_subparsers(
        title="actions",
        dest="action",
        required=True,
        metavar="ACTION",
        help="`coalition surprise replay -h` describes it",
    )
    replaying = _command(
        surprise_actions,
        "replay",
        "draw again for an event and compare with what was recorded",
        "Makes every surprise's draw on the outbox event again from its recorded seed, and "
        "prints the roll, the chance, the outcome and what was recorded (a win paid or refused "
        "for want of budget; nothing for a loss). Exit code 0 when every replay matches its "
        "record, 1 when one does not. Writes nothing.",
        "  coalition surprise replay 1234\n  coalition surprise replay 1234 --show-seed",
    )
    replaying.add_argument("event_id", type=int, metavar="EVENT_ID", help="the outbox event's id")
    replaying.add_argument(
        "--show-seed", action="store_true", help="print the seed too, to check the HMAC elsewhere"
    )

    gamification = _command(
        commands,
        "gamification",
        "keep the Redis projections of gamification (leaderboards, progress sets)",
        "Leaderboards and where members stand on badges, tiers and challenges live in Redis, "
        "derived from SQL; these commands recompute them.",
        "  coalition gamification rebuild",
    )
    gamification_actions = gamification.add_subparsers(
        title="actions",
        dest="action",
        required=True,
        metavar="ACTION",
        help="`coalition gamification rebuild -h` describes it",
    )
    _command(
        gamification_actions,
        "rebuild",
        "recompute every leaderboard and progress set from SQL and swap them in",
        "Recomputes every board's current periods, and the sets of members on every badge "
        "metric, the tier and each running challenge window (for percentiles), from SQL into "
        "temporary keys, with a progress bar, then swaps them in atomically (RENAME; the old "
        "values UNLINKed) and applies what happened meanwhile. Safe beside running servers, "
        "which go on answering from the old keys until the swap. A server also does this by "
        "itself when it starts on a Redis that lost them.",
        "  coalition gamification rebuild",
    )
    return parser


def _surprise_command(settings: Settings, args: argparse.Namespace) -> int:
    async def read() -> tuple[list[Replayed], dict[str, str]]:
        configured = configured_program(settings)
        async with _database(settings):
            program = await live_program(configured)
            found = await replay(program, args.event_id)
            return found, (await seeds() if args.show_seed else {})

    try:
        found, kept = asyncio.run(read())
    except ConfigurationError as error:
        return _refuse(error)
    print("\n".join(replay_lines(args.event_id, found, kept)))
    return 0 if all(r.matches for r in found) else 1


def replay_lines(event_id: int, found: list[Replayed], seeds: dict[str, str]) -> list[str]:
    """What replaying the draws on an event shows, a few lines a surprise."""
    if not found:
        return [f"event {event_id}: no surprise has drawn yet, so there is nothing to replay"]
    lines = []
    for r in found:
        made = r.draw
        outcome = "wins" if made.wins else "loses"
        if r.qualifies is False:
            outcome += " (but the surprise does not draw on this event)"
        if not r.recorded:
            record = "nothing (no win recorded)"
        elif r.transaction_id is None:
            record = "a win, refused: the budget of its period was spent"
        else:
            record = f"a win, paid {_n(r.paid, 'point')} (transaction {r.transaction_id})"
        lines += [
            f"event {event_id}, surprise {r.surprise}:",
            f'  draw      HMAC-SHA256(seed, "{r.surprise}:{event_id}") = {made.digest}',
            f"  roll      {float(made.roll):.12f} (exactly the digest / 2^256) against a chance "
            f"of {made.chance}: {outcome}",
            f"  recorded  {record}",
            f"  replay    {'matches the record' if r.matches else 'DOES NOT MATCH the record'}",
        ]
        if r.surprise in seeds:
            lines.append(f"  seed      {seeds[r.surprise]}")
    return lines


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    try:
        settings = Settings.from_env()
    except ConfigurationError as error:
        return _refuse(error)
    if args.command in ("run", "migrate", "program", "jobs", "events", "surprise", "gamification"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    if args.command == "run":
        return run(settings, host=args.host, port=args.port)
    if args.command == "migrate":
        print(asyncio.run(storage.migrate(settings.tortoise_url)).describe())
        return 0
    if args.command == "program":
        return _program_command(settings, args)
    if args.command == "jobs":
        return _jobs_command(settings, args)
    if args.command == "events":
        return _events_command(settings, args)
    if args.command == "surprise":
        return _surprise_command(settings, args)
    if args.command == "gamification":
        return _gamification_command(settings, args)
    if args.command == "token":
        longest = settings.jwt_max_lifetime_hours
        if args.hours is not None and not args.hours > 0:  # nan is not > 0 either
            print(f"coalition: --hours must be more than 0, not {args.hours:g}", file=sys.stderr)
            return 2
        if args.hours is not None and args.hours > longest:
            print(
                f"coalition: --hours {args.hours:g} is longer than the "
                f"{counted(longest, 'hour')} this server accepts "
                "(COALITION_JWT_MAX_LIFETIME_HOURS)",
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
