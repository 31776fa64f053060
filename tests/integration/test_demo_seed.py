"""The demo members that `make run` seeds: real history, made once, on the demo program."""

from __future__ import annotations

from app import demo
from app.asgi import prepare, read_program
from app.settings import DEMO_PROGRAM
from domain import history, sql
from tests.helpers import Stores, assert_ledger_consistent, table_counts


async def kinds(external_id: str) -> list[str]:
    rows = await sql.rows(
        sql.connection(),
        "SELECT t.kind FROM ledger_transaction t JOIN member m ON m.id = t.member_id "
        "WHERE m.external_id = ? ORDER BY t.id",
        [external_id],
    )
    return [r["kind"] for r in rows]


async def test_the_demo_is_seeded_once_with_real_history(db: Stores):
    program = await prepare(read_program(DEMO_PROGRAM))
    assert await demo.seed(program) is True
    counts = await table_counts()
    assert counts["member"] == len(demo.DEMO_MEMBERS)
    assert counts["purchase"] == len(demo.DEMO_PURCHASES) + 1  # and the coffee order with lines
    assert counts["purchase_line"] == 3
    assert counts["action_record"] == len(demo.DEMO_ACTIONS)
    assert counts["redemption"] == 3
    assert counts["partner_link"] == 2
    await assert_ledger_consistent()

    by_name = {m: await history.member_by_external_id(m) for m in ("ana", "bogdan", "kadri")}
    ana, bogdan, kadri = by_name["ana"], by_name["bogdan"], by_name["kadri"]
    assert ana is not None
    assert bogdan is not None
    assert kadri is not None
    assert program.tier_for(ana.lifetime).key == "gold"
    assert program.tier_for(bogdan.lifetime).key == "silver"
    # Everyone got the signup bonus; Ana and Elif the referral; Kadri's books are still
    # within their return window, one of them already returned.
    assert (await kinds("ana"))[0] == "SIGNUP"
    assert "REFERRAL" in await kinds("ana")
    assert "REFERRAL" in await kinds("elif")
    assert "REFUND" in await kinds("kadri")
    assert kadri.pending > 0

    statuses = {
        r["status"] for r in await sql.rows(sql.connection(), "SELECT status FROM redemption")
    }
    assert statuses == {"ISSUED", "FULFILLED", "CANCELLED"}

    assert await demo.seed(program) is False
    assert await table_counts() == counts
