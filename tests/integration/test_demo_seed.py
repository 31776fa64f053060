"""The demo members that `make run` seeds: real history, made once."""

from __future__ import annotations

from app import demo
from domain import history
from gamification.tiers import tier_progress
from tests.helpers import Stores, assert_ledger_consistent, table_counts


async def test_the_demo_is_seeded_once_with_real_history(db: Stores):
    assert await demo.seed(db.program) is True
    counts = await table_counts()
    assert counts["member"] == len(demo.DEMO_MEMBERS)
    assert counts["purchase"] == len(demo.DEMO_PURCHASES)
    assert counts["action_record"] == len(demo.DEMO_ACTIONS)
    assert counts["redemption"] == 3
    assert counts["partner_link"] == 2
    await assert_ledger_consistent()

    ana = await history.member_by_external_id("ana")
    assert ana is not None
    assert tier_progress(ana.lifetime, db.program.tiers).current.key == "gold"
    bogdan = await history.member_by_external_id("bogdan")
    assert bogdan is not None
    assert tier_progress(bogdan.lifetime, db.program.tiers).current.key == "silver"

    assert await demo.seed(db.program) is False
    assert await table_counts() == counts
