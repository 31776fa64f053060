"""The schema as the migrations build it: idempotent, with the tables, unique constraints, CHECKs
and partial indexes the code relies on, and in step with the models."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from app import storage
from domain import sql
from tests.helpers import Stores

ROOT = Path(__file__).resolve().parents[2]
TORTOISE = ROOT / ".venv" / "bin" / "tortoise"

TABLES = {
    "account",
    "action_record",
    "entry",
    "idempotency_record",
    "ledger_transaction",
    "lot",
    "lot_draw",
    "member",
    "member_badge",
    "outbox_event",
    "partner",
    "partner_api_key",
    "partner_link",
    "program_version",
    "purchase",
    "purchase_line",
    "purchase_refund",
    "redemption",
    "reward_stock",
    "campaign_budget",
    "referral_award",
    "leaderboard_opt_out",
    "leaderboard_archive",
}

UNIQUE = {
    ("purchase", ("source", "order_id")),
    ("idempotency_record", ("scope", "key")),
    ("leaderboard_archive", ("board", "period", "period_start", "rank")),
    ("action_record", ("source", "action", "reference")),
    ("partner_link", ("partner_id", "member_id")),
    ("partner_link", ("partner_id", "partner_member_id")),
    ("member", ("external_id",)),
    ("member_badge", ("member_id", "badge", "level")),
    ("member", ("referral_code",)),
    ("member", ("account_id",)),
    ("account", ("code",)),
    ("redemption", ("code",)),
    ("partner", ("key",)),
    ("partner_api_key", ("key_hash",)),
    ("reward_stock", ("reward_key",)),
    ("campaign_budget", ("campaign_key",)),
    ("referral_award", ("referee_id",)),
}

CHECKS = {
    "account_member_not_negative",
    "account_debt_not_negative",
    "lot_remaining_in_range",
    "reward_stock_not_negative",
    "campaign_budget_not_negative",
}


def _normal(predicate: str | None) -> str | None:
    if predicate is None:
        return None
    return re.sub(r"[()\s]+", " ", predicate).strip().lower()


async def tables(db: Stores) -> set[str]:
    conn = sql.connection()
    if db.backend == "sqlite":
        found = await sql.rows(
            conn,
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        )
    else:
        found = await sql.rows(
            conn, "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'"
        )
    return {r["name"] for r in found}


async def indexes(db: Stores) -> dict[str, dict[str, Any]]:
    """Every index by name: its table, whether it is unique, its columns and its predicate."""
    conn = sql.connection()
    found: dict[str, dict[str, Any]] = {}
    if db.backend == "sqlite":
        for table in sorted(await tables(db)):
            for index in await sql.rows(conn, f"PRAGMA index_list('{table}')"):
                columns = await sql.rows(conn, f"PRAGMA index_info('{index['name']}')")
                definition = await sql.row(
                    conn, "SELECT sql FROM sqlite_master WHERE name = ?", [index["name"]]
                )
                text = (definition or {}).get("sql") or ""
                where = text.split(" WHERE ", 1)[1] if " WHERE " in text else None
                found[index["name"]] = {
                    "table": table,
                    "unique": bool(index["unique"]),
                    "columns": tuple(c["name"] for c in sorted(columns, key=lambda c: c["seqno"])),
                    "where": _normal(where),
                }
        return found
    rows = await sql.rows(
        conn,
        "SELECT i.relname AS name, t.relname AS tbl, ix.indisunique AS is_unique, "
        "pg_get_expr(ix.indpred, ix.indrelid) AS predicate, "
        "ARRAY(SELECT a.attname::text FROM unnest(ix.indkey) WITH ORDINALITY AS k(num, pos) "
        "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.num ORDER BY k.pos) "
        "AS columns "
        "FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid "
        "JOIN pg_class t ON t.oid = ix.indrelid "
        "JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = 'public'",
    )
    for r in rows:
        found[r["name"]] = {
            "table": r["tbl"],
            "unique": bool(r["is_unique"]),
            "columns": tuple(r["columns"]),
            "where": _normal(r["predicate"]),
        }
    return found


async def check_constraints(db: Stores) -> set[str]:
    conn = sql.connection()
    if db.backend == "sqlite":
        text = " ".join(
            r["sql"]
            for r in await sql.rows(
                conn, "SELECT sql FROM sqlite_master WHERE type = 'table' AND sql IS NOT NULL"
            )
        )
        return set(re.findall(r'CONSTRAINT "?(\w+)"? CHECK', text))
    found = await sql.rows(conn, "SELECT conname FROM pg_constraint WHERE contype = 'c'")
    return {r["conname"] for r in found}


async def applied_migrations() -> list[tuple[str, str]]:
    found = await sql.rows(
        sql.connection(), "SELECT app, name FROM tortoise_migrations ORDER BY app, name"
    )
    return [(r["app"], r["name"]) for r in found]


async def test_the_migrations_build_every_table(db: Stores):
    assert await tables(db) >= TABLES
    assert await applied_migrations() == [
        ("domain", "0001_initial"),
        ("domain", "0002_program_rules"),
        ("domain", "0003_purchase_discount"),
        ("domain", "0004_transaction_partner"),
        ("domain", "0005_event_consumers"),
        ("domain", "0006_tiers"),
        ("domain", "0007_member_badge"),
        ("domain", "0008_leaderboards"),
        ("partners", "0001_initial"),
        ("partners", "0002_api_key_last_used"),
    ]


async def test_the_unique_constraints_the_code_relies_on_exist(db: Stores):
    unique = {(i["table"], i["columns"]) for i in (await indexes(db)).values() if i["unique"]}
    missing = UNIQUE - unique
    assert not missing, f"unique constraints missing: {missing}"


async def test_the_partial_indexes_exist_with_their_predicates(db: Stores):
    found = await indexes(db)
    assert "outbox_unpublished" not in found
    assert found["lot_open"] == {
        "table": "lot",
        "unique": False,
        "columns": ("account_id", "expires_at"),
        "where": "remaining > 0",
    }


async def test_the_check_constraints_exist(db: Stores):
    assert await check_constraints(db) >= CHECKS


async def test_migrating_again_changes_nothing(db: Stores):
    before = (
        await tables(db),
        await indexes(db),
        await check_constraints(db),
        await applied_migrations(),
    )
    version = await sql.row(sql.connection(), "SELECT COUNT(*) AS n FROM program_version")

    await storage.migrate(db.url)
    await storage.migrate(db.url)

    after = (
        await tables(db),
        await indexes(db),
        await check_constraints(db),
        await applied_migrations(),
    )
    assert after == before
    assert await sql.row(sql.connection(), "SELECT COUNT(*) AS n FROM program_version") == version


# -- models and migrations agree ---------------------------------------------------------------


def _copy_of_the_code(into: Path) -> Path:
    """makemigrations writes a migration when it finds a change: it runs on a copy of the
    code, so that a failing check never leaves a stray file in the repository."""
    for package in ("app", "domain", "partners", "gamification", "schema"):
        shutil.copytree(
            ROOT / package, into / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    return into


def _makemigrations(cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(cwd), "PYTHONDONTWRITEBYTECODE": "1"}
    command = [str(TORTOISE), "-c", "app.storage.TORTOISE_ORM", "makemigrations"]
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def _migration_files(root: Path) -> set[str]:
    return {
        str(p.relative_to(root)) for p in root.glob("*/migrations/*.py") if p.name != "__init__.py"
    }


def test_makemigrations_finds_nothing_to_add(tmp_path: Path):
    code = _copy_of_the_code(tmp_path)
    files = _migration_files(code)
    assert {"domain/migrations/0001_initial.py", "partners/migrations/0001_initial.py"} <= files

    done = _makemigrations(code)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "No changes detected" in done.stdout + done.stderr
    assert _migration_files(code) == files


def test_makemigrations_would_notice_a_model_change(tmp_path: Path):
    # The guard above is only worth something if the command sees model changes at all.
    code = _copy_of_the_code(tmp_path)
    files = _migration_files(code)
    models = code / "domain" / "models.py"
    text = models.read_text()
    anchor = "    reward_key = fields.CharField(max_length=64, unique=True)\n    issued = "
    assert anchor in text
    models.write_text(
        text.replace(
            anchor,
            anchor.replace("    issued = ", "    note = fields.TextField()\n    issued = "),
            1,
        )
    )

    done = _makemigrations(code)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "No changes detected" not in done.stdout + done.stderr
    assert len(_migration_files(code) - files) == 1
