"""Settings from the environment: development defaults, production's refusals, database URLs."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from tortoise.backends.base.config_generator import expand_db_url

from app.settings import (
    DEMO_PROGRAM,
    DEV_ADMIN_API_KEY,
    DEV_JWT_SECRET,
    ConfigurationError,
    Settings,
    tortoise_url,
)

JWT = "j" * 32
ADMIN = "a" * 24


def production(**extra: str) -> dict[str, str]:
    env = {
        "COALITION_ENV": "production",
        "COALITION_JWT_SECRET": JWT,
        "COALITION_ADMIN_API_KEY": ADMIN,
        "COALITION_DATABASE_URL": "postgresql://loyalty@db.internal/loyalty",
        "COALITION_REDIS_URL": "redis://cache.internal:6379/0",
    }
    env.update(extra)
    return env


def query_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def test_an_empty_environment_gives_the_development_defaults():
    settings = Settings.from_env({})
    data_dir = Path("var").resolve()
    assert settings.env == "development"
    assert settings.production is False
    assert settings.data_dir == data_dir
    assert settings.database_url == f"sqlite://{data_dir / 'coalition.sqlite3'}"
    assert settings.tortoise_url == settings.database_url + "?busy_timeout=5000"
    assert settings.redis_url is None
    assert settings.redis_prefix == "{c}"
    assert settings.program_path == DEMO_PROGRAM
    assert DEMO_PROGRAM.is_file()
    assert settings.jwt_secret == DEV_JWT_SECRET
    assert settings.admin_api_key == DEV_ADMIN_API_KEY
    assert settings.host == "127.0.0.1"
    assert settings.port == 8000
    assert settings.workers == 1
    assert settings.db_pool_size == 20
    assert settings.max_body_bytes == 1_048_576
    assert settings.jwt_max_lifetime_hours == 24


def test_every_variable_is_read(tmp_path: Path):
    settings = Settings.from_env(
        {
            "COALITION_DATA_DIR": str(tmp_path),
            "COALITION_DATABASE_URL": "postgresql://u:p@db.example:5433/loyalty",
            "COALITION_REDIS_URL": "redis://cache:6379/2",
            "COALITION_REDIS_PREFIX": "{x}",
            "COALITION_PROGRAM": str(tmp_path / "p.toml"),
            "COALITION_JWT_SECRET": "s",
            "COALITION_ADMIN_API_KEY": "k",
            "HOST": "0.0.0.0",
            "PORT": "9000",
            "COALITION_WORKERS": "4",
            "COALITION_DB_POOL_SIZE": "7",
            "COALITION_MAX_BODY_BYTES": "2048",
            "COALITION_JWT_MAX_LIFETIME_HOURS": "72",
        }
    )
    assert settings.data_dir == tmp_path.resolve()
    assert settings.database_url == "postgresql://u:p@db.example:5433/loyalty"
    assert settings.redis_url == "redis://cache:6379/2"
    assert settings.redis_prefix == "{x}"
    assert settings.program_path == tmp_path / "p.toml"
    assert (settings.jwt_secret, settings.admin_api_key) == ("s", "k")
    assert (settings.host, settings.port, settings.workers) == ("0.0.0.0", 9000, 4)
    assert (settings.db_pool_size, settings.max_body_bytes) == (7, 2048)
    assert settings.jwt_max_lifetime_hours == 72
    assert settings.tortoise_url == "asyncpg://u:p@db.example:5433/loyalty?maxsize=7&minsize=1"


def test_the_default_database_lives_in_the_data_dir(tmp_path: Path):
    settings = Settings.from_env({"COALITION_DATA_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite://{tmp_path.resolve() / 'coalition.sqlite3'}"


def test_empty_values_fall_back_to_the_defaults():
    settings = Settings.from_env(
        {
            "COALITION_DATABASE_URL": "",
            "COALITION_REDIS_URL": "",
            "COALITION_PROGRAM": "",
            "COALITION_JWT_SECRET": "",
            "COALITION_ADMIN_API_KEY": "",
            "PORT": "",
        }
    )
    assert settings.database_url.startswith("sqlite://")
    assert settings.redis_url is None
    assert settings.program_path == DEMO_PROGRAM
    assert settings.jwt_secret == DEV_JWT_SECRET
    assert settings.admin_api_key == DEV_ADMIN_API_KEY
    assert settings.port == 8000


@pytest.mark.parametrize("mode", ["staging", "prod", "Production", "test", ""])
def test_an_unknown_environment_is_refused(mode: str):
    with pytest.raises(ConfigurationError, match="COALITION_ENV"):
        Settings.from_env({"COALITION_ENV": mode})


# -- production ------------------------------------------------------------------------------


def test_production_with_real_secrets_starts():
    settings = Settings.from_env(production())
    assert settings.production is True
    assert settings.jwt_secret == JWT
    assert settings.admin_api_key == ADMIN


def test_production_without_secrets_names_both_variables():
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({"COALITION_ENV": "production"})
    message = str(caught.value)
    assert message.startswith("Refusing to start in production")
    assert "COALITION_JWT_SECRET" in message
    assert "COALITION_ADMIN_API_KEY" in message


def test_production_names_every_missing_setting_on_a_line_of_its_own():
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({"COALITION_ENV": "production"})
    first, *problems = caught.value.lines
    assert first == "Refusing to start in production:"
    assert [line.split()[0] for line in problems] == [
        "COALITION_JWT_SECRET",
        "COALITION_ADMIN_API_KEY",
        "COALITION_DATABASE_URL",
        "COALITION_REDIS_URL",
    ]


@pytest.mark.parametrize("missing", ["COALITION_DATABASE_URL", "COALITION_REDIS_URL"])
def test_production_runs_nothing_embedded(missing: str):
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({k: v for k, v in production().items() if k != missing})
    assert [line.split()[0] for line in caught.value.lines[1:]] == [missing]


def test_production_may_use_an_sqlite_file_it_names():
    settings = Settings.from_env(production(COALITION_DATABASE_URL="sqlite:///srv/loyalty.db"))
    assert settings.database_url == "sqlite:///srv/loyalty.db"


def test_production_has_no_default_program_file(tmp_path: Path):
    # The database's applied version is the program; a file only if one is named.
    assert Settings.from_env(production()).program_path is None
    named = tmp_path / "program.toml"
    assert Settings.from_env(production(COALITION_PROGRAM=str(named))).program_path == named
    assert Settings.from_env({}).program_path == DEMO_PROGRAM


@pytest.mark.parametrize(
    ("env", "named", "not_named"),
    [
        (production(COALITION_JWT_SECRET=DEV_JWT_SECRET), "JWT_SECRET", "ADMIN_API_KEY"),
        (production(COALITION_JWT_SECRET="j" * 31), "JWT_SECRET", "ADMIN_API_KEY"),
        (production(COALITION_JWT_SECRET=""), "JWT_SECRET", "ADMIN_API_KEY"),
        (production(COALITION_ADMIN_API_KEY=DEV_ADMIN_API_KEY), "ADMIN_API_KEY", "JWT_SECRET"),
        (production(COALITION_ADMIN_API_KEY="a" * 23), "ADMIN_API_KEY", "JWT_SECRET"),
        (production(COALITION_ADMIN_API_KEY=""), "ADMIN_API_KEY", "JWT_SECRET"),
    ],
    ids=["dev-jwt", "short-jwt", "empty-jwt", "dev-admin", "short-admin", "empty-admin"],
)
def test_production_refuses_a_dev_or_short_secret_naming_it(
    env: dict[str, str], named: str, not_named: str
):
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env(env)
    assert f"COALITION_{named}" in str(caught.value)
    assert f"COALITION_{not_named}" not in str(caught.value)


def test_development_accepts_any_secret():
    settings = Settings.from_env({"COALITION_JWT_SECRET": "x", "COALITION_ADMIN_API_KEY": "y"})
    assert (settings.jwt_secret, settings.admin_api_key) == ("x", "y")


def test_require_real_secrets_can_be_checked_on_any_settings():
    with pytest.raises(ConfigurationError):
        Settings.from_env({}).require_real_secrets()
    Settings.from_env(production()).require_real_secrets()


# -- numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("port", ["abc", "0", "-1", "80.5", " 80", "80 ", "1e3", "0x50", "8_000"])
def test_a_bad_port_is_refused_naming_it(port: str):
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({"PORT": port})
    assert str(caught.value) == f"PORT must be a whole number from 1 to 65535, not {port!r}."


def test_a_port_of_superscript_digits_is_refused_as_configuration():
    # str.isdigit() is true for "²" but int() refuses it: the operator must get the message,
    # not a traceback.
    with pytest.raises(ConfigurationError, match="PORT"):
        Settings.from_env({"PORT": "²"})


@pytest.mark.parametrize("port", ["65536", "99999"])
def test_a_port_beyond_65535_is_refused(port: str):
    # A port the server could never bind is a configuration mistake, said at start.
    with pytest.raises(ConfigurationError, match="PORT"):
        Settings.from_env({"PORT": port})


def test_several_workers_need_postgresql():
    with pytest.raises(ConfigurationError, match="COALITION_WORKERS > 1 needs PostgreSQL"):
        Settings.from_env({"COALITION_WORKERS": "2"})
    with pytest.raises(ConfigurationError, match="needs PostgreSQL"):
        Settings.from_env({"COALITION_WORKERS": "3", "COALITION_DATABASE_URL": "sqlite://x.db"})
    assert Settings.from_env({"COALITION_WORKERS": "1"}).workers == 1
    settings = Settings.from_env(
        {"COALITION_WORKERS": "2", "COALITION_DATABASE_URL": "postgres://h/db"}
    )
    assert settings.workers == 2


@pytest.mark.parametrize("name", ["COALITION_WORKERS", "COALITION_DB_POOL_SIZE"])
@pytest.mark.parametrize("value", ["0", "-2", "many"])
def test_other_counts_must_be_positive_whole_numbers(name: str, value: str):
    with pytest.raises(ConfigurationError, match=name):
        Settings.from_env({name: value})


@pytest.mark.parametrize("hours", ["0", "-1", "1.5", "8761", "a day"])
def test_a_token_lifetime_must_be_a_whole_number_of_hours_up_to_a_year(hours: str):
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({"COALITION_JWT_MAX_LIFETIME_HOURS": hours})
    assert str(caught.value) == (
        f"COALITION_JWT_MAX_LIFETIME_HOURS must be a whole number from 1 to 8760, not {hours!r}."
    )


def test_the_edges_of_good_numbers_are_accepted():
    assert Settings.from_env({"PORT": "1"}).port == 1
    assert Settings.from_env({"PORT": "65535"}).port == 65535
    assert Settings.from_env({"COALITION_MAX_BODY_BYTES": "1"}).max_body_bytes == 1
    for hours in (1, 8760):
        env = {"COALITION_JWT_MAX_LIFETIME_HOURS": str(hours)}
        assert Settings.from_env(env).jwt_max_lifetime_hours == hours


# -- database URLs ---------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "asyncpg"])
def test_postgres_urls_become_asyncpg_with_a_sized_pool(scheme: str):
    url = tortoise_url(f"{scheme}://user:secret@db.example:5432/loyalty", 20)
    assert url == "asyncpg://user:secret@db.example:5432/loyalty?maxsize=20&minsize=1"


def test_the_pool_size_is_the_one_given():
    assert query_of(tortoise_url("postgresql://h/db", 3)) == {"maxsize": "3", "minsize": "1"}


def test_pool_sizes_given_in_the_url_are_kept():
    url = tortoise_url("postgres://h/db?maxsize=5&minsize=2", 20)
    assert query_of(url) == {"maxsize": "5", "minsize": "2"}
    url = tortoise_url("postgresql://h/db?minsize=3", 20)
    assert query_of(url) == {"minsize": "3", "maxsize": "20"}


def test_other_query_parameters_are_kept():
    url = tortoise_url("postgresql://h/db?sslmode=require&application_name=coalition", 9)
    assert query_of(url) == {
        "sslmode": "require",
        "application_name": "coalition",
        "maxsize": "9",
        "minsize": "1",
    }


def test_credentials_with_escapes_are_kept_verbatim():
    url = tortoise_url("postgresql://us%40r:p%2Fss%3Aw@h:6543/db", 20)
    assert url.startswith("asyncpg://us%40r:p%2Fss%3Aw@h:6543/db?")
    config = expand_db_url(url)
    assert config["engine"] == "tortoise.backends.asyncpg"
    assert config["credentials"]["password"] == "p/ss:w"
    assert config["credentials"]["port"] == 6543


def test_a_unix_socket_host_in_the_query_is_preserved():
    url = tortoise_url("postgresql://loyalty@/loyalty?host=/var/run/postgresql", 20)
    assert urlsplit(url).scheme == "asyncpg"
    assert query_of(url)["host"] == "/var/run/postgresql"
    credentials = expand_db_url(url)["credentials"]
    assert credentials["host"] == "/var/run/postgresql"
    assert credentials["database"] == "loyalty"
    assert credentials["user"] == "loyalty"
    assert str(credentials["maxsize"]) == "20"
    assert str(credentials["minsize"]) == "1"


@pytest.mark.parametrize(
    "url", ["sqlite://./var/x.sqlite3", "sqlite:///tmp/x.sqlite3", "sqlite://:memory:"]
)
def test_sqlite_urls_get_a_busy_timeout(url: str):
    assert tortoise_url(url, 20) == url + "?busy_timeout=5000"


def test_a_sqlite_url_with_a_query_gets_the_busy_timeout_appended():
    url = tortoise_url("sqlite:///tmp/x.sqlite3?journal_mode=WAL", 20)
    assert url == "sqlite:///tmp/x.sqlite3?journal_mode=WAL&busy_timeout=5000"
    assert query_of(url) == {"journal_mode": "WAL", "busy_timeout": "5000"}


def test_a_busy_timeout_given_in_a_sqlite_url_is_kept():
    for url in ("sqlite:///tmp/x.sqlite3?busy_timeout=100", "sqlite://x?a=1&busy_timeout=0"):
        assert tortoise_url(url, 20) == url


def test_a_sqlite_url_is_not_given_a_pool():
    assert "maxsize" not in tortoise_url("sqlite:///tmp/x.sqlite3", 20)


@pytest.mark.parametrize(
    "url", ["mysql://h/db", "redis://h/0", "http://h/db", "h/db", "", "postgresq://h/db"]
)
def test_unsupported_schemes_are_refused_naming_the_variable(url: str):
    with pytest.raises(ConfigurationError) as caught:
        tortoise_url(url, 20)
    assert "COALITION_DATABASE_URL" in str(caught.value)
    assert f"not {urlsplit(url).scheme}://" in str(caught.value)


def test_settings_with_an_unsupported_database_fail_when_the_url_is_needed():
    settings = Settings.from_env({"COALITION_DATABASE_URL": "mysql://h/db"})
    with pytest.raises(ConfigurationError, match="COALITION_DATABASE_URL"):
        _ = settings.tortoise_url
