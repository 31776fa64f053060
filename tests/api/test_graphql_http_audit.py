"""graphql-http's `auditServer`, the GraphQL-over-HTTP spec's own audit suite, against the app
served for real: every audit passes, none with a warning.

It needs node; the npm package (pinned in .ci/package.json) is installed into
.ci/node_modules the first time. Without node or the package the test is skipped, loudly;
tests/api/test_graphql_over_http.py checks the same points in Python either way.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from app.settings import Settings
from tests.live import app_without_stores, loudly, node_missing, serving

TOOLS = Path(__file__).resolve().parents[2] / ".ci"

AUDIT = """
const { auditServer } = require("graphql-http");
auditServer({ url: process.argv[1] }).then(
  (results) => {
    const seen = results.map(({ id, name, status, reason }) => ({ id, name, status, reason }));
    process.stdout.write(JSON.stringify(seen));
  },
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
"""


def _node() -> str:
    """node, with graphql-http installed beside .ci/package.json; skips loudly otherwise."""
    missing = node_missing()
    if missing:
        pytest.skip(loudly(f"GRAPHQL-HTTP AUDIT SKIPPED: {missing}"))
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node is not None
    assert npm is not None
    if not (TOOLS / "node_modules" / "graphql-http" / "package.json").exists():
        try:
            subprocess.run(
                [npm, "ci", "--prefix", str(TOOLS), "--no-audit", "--no-fund", "--quiet"],
                check=True,
                capture_output=True,
                timeout=300,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as failed:
            output = getattr(failed, "stderr", b"") or b""
            reason = output.decode(errors="replace").strip()[-500:]
            pytest.skip(loudly(f"GRAPHQL-HTTP AUDIT SKIPPED: npm could not install it: {reason}"))
    return node


async def test_every_graphql_over_http_audit_passes(settings: Settings):
    node = _node()
    async with app_without_stores(settings) as app, serving(app) as base:
        process = await asyncio.create_subprocess_exec(
            node,
            "-e",
            AUDIT,
            f"{base}/graphql",
            cwd=TOOLS,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        async with asyncio.timeout(60):
            out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    results = json.loads(out)
    assert len(results) > 50, results  # graphql-http 1.23 has 61
    not_ok = [f"{r['id']} {r['status']}: {r['name']}: {r.get('reason')}" for r in results]
    not_ok = [line for line, r in zip(not_ok, results, strict=True) if r["status"] != "ok"]
    assert not not_ok, "\n".join(not_ok)
    print(f"graphql-http: {len(results)} audits, all ok")
