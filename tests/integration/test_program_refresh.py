"""A program applied elsewhere (`coalition program apply`, another worker) takes effect in a
running server without a restart."""

from __future__ import annotations

from app.runtime import prepare, refresh_program
from domain import sql
from domain.program_file import load_program
from tests.helpers import API, BASE_PROGRAM

REWARDS = "{ rewards(first: 50) { nodes { key pointsCost } } }"


async def test_a_newer_version_applied_elsewhere_is_picked_up(api: API):
    before = api.runtime.program.version
    assert await refresh_program(api.runtime) is False  # nothing newer yet

    cheaper = BASE_PROGRAM.read_text().replace("points_cost = 500", "points_cost = 450")
    elsewhere = await prepare(load_program(cheaper))  # what `coalition program apply` does
    assert elsewhere.version is not None
    assert before is not None
    assert elsewhere.version > before
    assert api.runtime.program.version == before

    assert await refresh_program(api.runtime) is True
    assert api.runtime.program.version == elsewhere.version
    rewards = (await api.gql(REWARDS))["rewards"]["nodes"]
    assert {"key": "coffee", "pointsCost": 450} in rewards
    assert await refresh_program(api.runtime) is False

    # Purchases recorded from now on say which version they were computed under.
    ana = await api.enroll("ana")
    payload = await api.purchase(ana, "100")
    row = await sql.row(
        sql.connection(),
        "SELECT program_version_id FROM ledger_transaction WHERE kind = 'EARN' ORDER BY id DESC",
    )
    assert row is not None
    assert payload["userErrors"] == []
    assert int(row["program_version_id"]) == elsewhere.version
