"""Configuration from the environment (COALITION_*), with embedded defaults for development."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from domain.retention import EVENT_DAYS, IDEMPOTENCY_DAYS, Retention

DEMO_PROGRAM = Path(__file__).with_name("demo_program.toml")
DEV_JWT_SECRET = "dev-only-jwt-secret-change-me-in-production"
DEV_ADMIN_API_KEY = "dev-admin-key"
# Every key and channel in Redis starts with it: braces make it a Redis Cluster hash tag, so
# that one program's keys live on one node.
DEFAULT_REDIS_PREFIX = "{c}"
# A member token that outlives a year is a password that cannot be changed.
HOURS_IN_A_YEAR = 8760


class ConfigurationError(Exception):
    """A setting is missing or wrong; the message has one line per problem."""

    def __init__(self, *lines: str) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


@dataclass(frozen=True)
class Settings:
    env: str
    data_dir: Path
    database_url: str
    redis_url: str | None  # None: start the embedded redis-server under data_dir
    redis_prefix: str
    # None only in production without COALITION_PROGRAM: the database's version is the program.
    program_path: Path | None
    jwt_secret: str
    admin_api_key: str
    host: str
    port: int
    workers: int
    db_pool_size: int
    max_body_bytes: int
    jobs_every_seconds: int  # 0: the server runs no jobs (run them with `coalition jobs run`)
    # How late, at most, a worker learns that another revoked a partner API key (0: on every
    # request, at one Redis round trip each).
    key_revocation_ms: int
    jwt_max_lifetime_hours: int  # member tokens that live longer (exp - iat) are refused
    # How long handled outbox events and idempotency records are kept (domain/retention.py).
    event_retention_days: int = EVENT_DAYS
    idempotency_retention_days: int = IDEMPOTENCY_DAYS
    ws_heartbeat_seconds: int = 15  # how often a websocket is sent a graphql-transport-ws ping

    @property
    def retention(self) -> Retention:
        return Retention(
            events=timedelta(days=self.event_retention_days),
            idempotency=timedelta(days=self.idempotency_retention_days),
        )

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def tortoise_url(self) -> str:
        return tortoise_url(self.database_url, self.db_pool_size)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        mode = env.get("COALITION_ENV", "development")
        if mode not in ("development", "production"):
            raise ConfigurationError("COALITION_ENV must be development or production.")
        data_dir = Path(env.get("COALITION_DATA_DIR", "var")).resolve()
        settings = cls(
            env=mode,
            data_dir=data_dir,
            database_url=env.get("COALITION_DATABASE_URL")
            or f"sqlite://{data_dir / 'coalition.sqlite3'}",
            redis_url=env.get("COALITION_REDIS_URL") or None,
            redis_prefix=env.get("COALITION_REDIS_PREFIX", DEFAULT_REDIS_PREFIX),
            program_path=_program_path(env, production=mode == "production"),
            jwt_secret=env.get("COALITION_JWT_SECRET") or DEV_JWT_SECRET,
            admin_api_key=env.get("COALITION_ADMIN_API_KEY") or DEV_ADMIN_API_KEY,
            host=env.get("HOST", "127.0.0.1"),
            port=_number(env, "PORT", 8000, highest=65535),
            workers=_number(env, "COALITION_WORKERS", 1),
            db_pool_size=_number(env, "COALITION_DB_POOL_SIZE", 20),
            max_body_bytes=_number(env, "COALITION_MAX_BODY_BYTES", 1_048_576),
            jobs_every_seconds=_number(env, "COALITION_JOBS_EVERY_SECONDS", 60, lowest=0),
            key_revocation_ms=_number(env, "COALITION_KEY_REVOCATION_MS", 250, lowest=0),
            jwt_max_lifetime_hours=_number(
                env, "COALITION_JWT_MAX_LIFETIME_HOURS", 24, highest=HOURS_IN_A_YEAR
            ),
            event_retention_days=_number(env, "COALITION_EVENT_RETENTION_DAYS", EVENT_DAYS),
            idempotency_retention_days=_number(
                env, "COALITION_IDEMPOTENCY_RETENTION_DAYS", IDEMPOTENCY_DAYS
            ),
            ws_heartbeat_seconds=_number(env, "COALITION_WS_HEARTBEAT_SECONDS", 15, highest=3600),
        )
        if settings.workers > 1 and settings.tortoise_url.startswith("sqlite"):
            raise ConfigurationError(
                "COALITION_WORKERS > 1 needs PostgreSQL: SQLite takes one writing process."
            )
        if settings.production:
            settings.require_production_settings(env)
        return settings

    def require_real_secrets(self) -> None:
        problems = self._secret_problems()
        if problems:
            raise ConfigurationError("Refusing to start in production:", *problems)

    def require_production_settings(self, env: Mapping[str, str]) -> None:
        """Production runs nothing embedded and no demo: every store is named, and the secrets
        are real. (The program may come from the database's applied versions instead of a
        file; that is checked once the database is open.)"""
        problems = self._secret_problems()
        if not env.get("COALITION_DATABASE_URL"):
            problems.append(
                "COALITION_DATABASE_URL must be set (postgresql://..., or sqlite:///path if "
                "one SQLite file is what you want): production has no embedded database"
            )
        if not env.get("COALITION_REDIS_URL"):
            problems.append(
                "COALITION_REDIS_URL must be set (redis://host:6379/0): production starts no "
                "embedded redis-server"
            )
        if problems:
            raise ConfigurationError("Refusing to start in production:", *problems)

    def _secret_problems(self) -> list[str]:
        problems = []
        if self.jwt_secret == DEV_JWT_SECRET or len(self.jwt_secret) < 32:
            problems.append("COALITION_JWT_SECRET must be set to at least 32 random characters")
        if self.admin_api_key == DEV_ADMIN_API_KEY or len(self.admin_api_key) < 24:
            problems.append("COALITION_ADMIN_API_KEY must be set to at least 24 random characters")
        return problems


def _program_path(env: Mapping[str, str], *, production: bool) -> Path | None:
    given = env.get("COALITION_PROGRAM")
    if given:
        return Path(given)
    return None if production else DEMO_PROGRAM


def _number(
    env: Mapping[str, str], name: str, default: int, highest: int = 10**9, lowest: int = 1
) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if not re.fullmatch(r"[0-9]{1,10}", raw) or not lowest <= int(raw) <= highest:
        raise ConfigurationError(
            f"{name} must be a whole number from {lowest} to {highest}, not {raw!r}."
        )
    return int(raw)


def tortoise_url(database_url: str, pool_size: int) -> str:
    """Accepts the usual postgresql:// spelling and sizes asyncpg's pool (its default is small)."""
    parts = urlsplit(database_url)
    if parts.scheme in ("postgres", "postgresql", "asyncpg"):
        query = dict(parse_qsl(parts.query))
        query.setdefault("maxsize", str(pool_size))
        query.setdefault("minsize", "1")
        return urlunsplit(("asyncpg", parts.netloc, parts.path, urlencode(query), ""))
    if parts.scheme == "sqlite":
        # Another process (the CLI applying a program, say) may write beside the server:
        # wait for its lock rather than fail at once.
        if "busy_timeout" in dict(parse_qsl(parts.query)):
            return database_url
        return database_url + ("&" if parts.query else "?") + "busy_timeout=5000"
    raise ConfigurationError(
        f"COALITION_DATABASE_URL must start with postgresql:// or sqlite://, not {parts.scheme}://"
    )
