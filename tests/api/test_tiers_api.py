"""Stored tiers through the API: reached at once on a purchase, kept on retain at a review,
lowered one tier (or to base) by the review job, with events, history, earn multipliers and
tier-only rewards following the stored tier."""

from __future__ import annotations

import asyncio
from typing import Any

from app.consumers import consumers as app_consumers
from domain import events, jobs, sql
from domain.consumers import Runner
from tests.helpers import API, BASE_PROGRAM, ManualClock, count_statements

# Silver 2500 (kept on 1500, earns 1.5x), gold 10000 (kept on 6000, earns 2x); the 12 months
# up to the next monthly review, in Bucharest; a reward for silver and above.
ROLLING = (
    BASE_PROGRAM.read_text()
    .replace("threshold = 2500\n", 'threshold = 2500\nretain = 1500\nmultiplier = "1.5"\n', 1)
    .replace("threshold = 10000\n", 'threshold = 10000\nretain = 6000\nmultiplier = "2"\n', 1)
    + '\n[tier_rules]\nwindow = "rolling_12_months"\n'
    + '\n[[rewards]]\nkey = "lounge"\nname = "Lounge pass"\npoints_cost = 100\n'
    + 'min_tier = "silver"\n'
)
TO_BASE = ROLLING.replace(
    'window = "rolling_12_months"\n', 'window = "rolling_12_months"\ndowngrade = "to_base"\n'
)

STATUS = """query($id: ID!) { member(id: $id) {
  tier { current { key } next { key } progress pointsToNext qualifyingAmount retainBy
         windowStartsAt reviewAt }
  tierChanges { fromKey toKey from { key } to { key } reason qualifyingAmount occurredAt } } }"""


async def status(api: API, member_id: str) -> dict[str, Any]:
    return (await api.gql(STATUS, {"id": member_id}, as_=api.admin()))["member"]


async def tier_events(external_id: str) -> list[events.TierChanged]:
    rows = await sql.rows(
        sql.connection(),
        "SELECT o.type, o.payload FROM outbox_event o JOIN member m ON m.id = o.member_id "
        "WHERE o.type = ? AND m.external_id = ? ORDER BY o.id",
        [events.TierChanged.TYPE, external_id],
    )
    found = []
    for r in rows:
        event, _ = events.read(r["type"], sql.to_json(r["payload"]))
        assert isinstance(event, events.TierChanged)
        found.append(event)
    return found


async def test_a_purchase_that_qualifies_upgrades_at_once_with_an_event_and_a_history_line(
    api: API,
):
    await api.use_program(ROLLING)
    clock = api.use_clock(ManualClock("2026-03-15T10:00:00+00:00"))
    ana = await api.enroll("ana")
    first = await api.purchase(ana, "2000")
    assert first["transaction"]["points"] == 2000
    assert (await status(api, ana))["tier"]["current"]["key"] == "bronze"
    upgrade = await api.purchase(ana, "600")
    assert upgrade["transaction"]["points"] == 600  # earned at bronze: the upgrade comes after
    seen = await status(api, ana)
    tier = seen["tier"]
    assert tier["current"]["key"] == "silver"
    assert tier["next"]["key"] == "gold"
    assert tier["qualifyingAmount"] == 2600
    assert tier["pointsToNext"] == 7400
    assert tier["retainBy"] == 0
    # The window: the 12 months up to the next review, 1 April 2026 at midnight in Bucharest.
    assert tier["reviewAt"].startswith("2026-03-31T21:00:00")
    assert tier["windowStartsAt"].startswith("2025-03-31T21:00:00")
    [change] = seen["tierChanges"]
    assert change["fromKey"] == "bronze"
    assert change["toKey"] == "silver"
    assert change["from"] == {"key": "bronze"}
    assert change["to"] == {"key": "silver"}
    assert change["reason"] == "QUALIFIED"
    assert change["qualifyingAmount"] == 2600
    assert [(e.from_tier, e.to_tier, e.reason) for e in await tier_events("ana")] == [
        ("bronze", "silver", events.TierChangeReason.QUALIFIED)
    ]
    # The next purchase earns at silver: 1.5x, with a breakdown line naming the tier.
    clock.advance(minutes=1)
    boosted = await api.purchase(ana, "100")
    assert boosted["transaction"]["points"] == 150
    lines = await api.gql(
        "query($id: ID!) { node(id: $id) { ... on PointTransaction { breakdown { rule "
        "description points } } } }",
        {"id": boosted["transaction"]["id"]},
        as_=api.admin(),
    )
    rules = {line["rule"]: line for line in lines["node"]["breakdown"]}
    assert rules["tier:silver"]["description"] == "Silver tier: x1.5"
    assert rules["tier:silver"]["points"] == "50"


async def test_an_action_earns_the_tier_multiplier_too(api: API):
    await api.use_program(ROLLING)
    api.use_clock(ManualClock("2026-03-15T10:00:00+00:00"))
    ana = await api.enroll("ana")
    assert (await api.adjust(ana, 10_000))["userErrors"] == []
    assert (await status(api, ana))["tier"]["current"]["key"] == "gold"
    payload = await api.mutate(
        "recordAction",
        {"memberId": ana, "action": "REVIEW", "idempotencyKey": "review-1"},
        "transaction { points }",
        as_=api.admin(),
    )
    assert payload["transaction"]["points"] == 100  # 50 at gold's 2x


async def test_tier_only_rewards_follow_the_stored_tier(api: API):
    await api.use_program(ROLLING)
    clock = api.use_clock(ManualClock("2026-03-15T10:00:00+00:00"))
    ana = await api.enroll("ana")
    first = await api.purchase(ana, "2400")
    refused = await api.redeem("lounge", member_id=ana)
    assert [e["code"] for e in refused["userErrors"]] == ["NOT_ELIGIBLE"]
    await api.purchase(ana, "200")  # 2600: silver
    # A refund of the first purchase leaves 200 in the window: the tier stays until a review.
    refund = await api.mutate(
        "refundPurchase",
        {"purchaseId": first["purchase"]["id"], "idempotencyKey": "r1"},
        "purchase { refundedAmount }",
        as_=api.admin(),
    )
    assert refund["userErrors"] == []
    seen = await status(api, ana)
    assert seen["tier"]["current"]["key"] == "silver"
    assert seen["tier"]["qualifyingAmount"] == 200
    assert seen["tier"]["retainBy"] == 1300
    assert (await api.redeem("lounge", member_id=ana))["userErrors"] == []
    # The review on 1 April finds 200 < 1500: silver goes; the reward with it.
    clock.set("2026-04-01T00:30:00+03:00")
    report = await jobs.run_all(api.runtime.program, clock.now())
    assert report.tiers_changed == 1
    assert not report.failures
    assert (await status(api, ana))["tier"]["current"]["key"] == "bronze"
    refused = await api.redeem("lounge", member_id=ana)
    assert [e["code"] for e in refused["userErrors"]] == ["NOT_ELIGIBLE"]


async def _gold_member(api: API, clock: ManualClock) -> str:
    ana = await api.enroll("ana")
    await api.purchase(ana, "10000")  # gold in March 2026
    clock.advance(days=1)
    return ana


async def test_the_review_keeps_on_retain_then_lowers_one_tier_at_a_time(api: API):
    await api.use_program(ROLLING)
    clock = api.use_clock(ManualClock("2026-03-15T10:00:00+00:00"))
    ana = await _gold_member(api, clock)
    program = api.runtime.program
    # Reviews through the window's year: 10000 in the window, gold is kept each month.
    clock.set("2026-04-01T08:00:00+00:00")
    first = await jobs.run_all(program, clock.now())
    assert first.tiers_changed == 0
    assert (await status(api, ana))["tier"]["current"]["key"] == "gold"
    # 1 April 2027: the window (1 April 2026 - 1 April 2027) misses the March purchase.
    clock.set("2027-04-01T08:00:00+00:00")
    report = await jobs.run_all(program, clock.now())
    assert report.tiers_changed == 1
    seen = await status(api, ana)
    assert seen["tier"]["current"]["key"] == "silver"  # one tier, not straight to bronze
    assert seen["tierChanges"][0]["reason"] == "REVIEW"
    assert seen["tierChanges"][0]["qualifyingAmount"] == 0
    # The same review again, and a second runner: nothing more.
    again = await jobs.run_all(program, clock.now())
    assert again.tiers_changed == 0
    assert len((await status(api, ana))["tierChanges"]) == 2
    # A month later, the next review takes the next tier.
    clock.set("2027-05-01T08:00:00+00:00")
    assert (await jobs.run_all(program, clock.now())).tiers_changed == 1
    assert (await status(api, ana))["tier"]["current"]["key"] == "bronze"
    assert [(e.from_tier, e.to_tier, e.reason.value) for e in await tier_events("ana")] == [
        ("bronze", "gold", "QUALIFIED"),
        ("gold", "silver", "REVIEW"),
        ("silver", "bronze", "REVIEW"),
    ]


async def test_to_base_drops_to_what_the_window_still_reaches(api: API):
    await api.use_program(TO_BASE)
    clock = api.use_clock(ManualClock("2026-03-15T10:00:00+00:00"))
    ana = await _gold_member(api, clock)
    clock.set("2027-03-20T10:00:00+00:00")
    await api.purchase(ana, "1000")  # in the window of the 1 April 2027 review: not enough
    clock.set("2027-04-01T08:00:00+00:00")
    assert (await jobs.run_all(api.runtime.program, clock.now())).tiers_changed == 1
    assert (await status(api, ana))["tier"]["current"]["key"] == "bronze"


async def test_reviews_in_two_runners_at_once_judge_each_member_once(api: API):
    await api.use_program(ROLLING)
    clock = api.use_clock(ManualClock("2026-03-15T10:00:00+00:00"))
    members = []
    for n in range(4):
        member = await api.enroll(f"m{n}")
        await api.purchase(member, "10000")
        members.append(member)
    clock.set("2027-04-01T08:00:00+00:00")
    program = api.runtime.program
    async with asyncio.timeout(60):
        one, two = await asyncio.gather(
            jobs.run_all(program, clock.now()), jobs.run_all(program, clock.now())
        )
    assert not one.failures
    assert not two.failures
    assert one.tiers_changed + two.tiers_changed == 4
    for member in members:
        seen = await status(api, member)
        assert seen["tier"]["current"]["key"] == "silver"
        assert [c["reason"] for c in seen["tierChanges"]] == ["REVIEW", "QUALIFIED"]


async def test_pending_points_lift_a_tier_only_once_released(api: API):
    held = ROLLING.replace("[purchases]\n", "[purchases]\npending_days = 14\n", 1)
    await api.use_program(held)
    clock = api.use_clock(ManualClock("2026-03-02T10:00:00+00:00"))
    ana = await api.enroll("ana")
    await api.purchase(ana, "3000")
    seen = await status(api, ana)
    assert seen["tier"]["current"]["key"] == "bronze"
    assert seen["tier"]["qualifyingAmount"] == 0
    clock.advance(days=15)
    report = await jobs.run_all(api.runtime.program, clock.now())
    assert report.released == 3000
    seen = await status(api, ana)
    assert seen["tier"]["current"]["key"] == "silver"
    assert seen["tierChanges"][0]["reason"] == "QUALIFIED"


async def test_spend_qualification_counts_money_in_its_currency(api: API):
    spend = ROLLING.replace(
        '[tier_rules]\nwindow = "rolling_12_months"\n',
        '[tier_rules]\nqualify_on = "spend"\nspend_currency = "EUR"\nwindow = "calendar_year"\n',
    )
    await api.use_program(spend)
    api.use_clock(ManualClock("2026-03-15T10:00:00+00:00"))
    ana = await api.enroll("ana")
    await api.purchase(ana, "2000", "RON")  # another currency: does not count
    await api.purchase(ana, "2499.99", "EUR", tax="0")
    seen = await status(api, ana)
    assert seen["tier"]["qualifyingAmount"] == 2499
    assert seen["tier"]["current"]["key"] == "bronze"
    await api.purchase(ana, "0.01", "EUR")
    seen = await status(api, ana)
    assert seen["tier"]["current"]["key"] == "silver"
    assert seen["tier"]["windowStartsAt"].startswith("2025-12-31T22:00:00")


async def test_a_version_that_turns_windows_on_counts_what_members_did_before(api: API):
    clock = api.use_clock(ManualClock("2026-03-15T10:00:00+00:00"))
    ana = await api.enroll("ana")
    await api.purchase(ana, "3000")  # lifetime points: silver, nothing more is written
    assert (await status(api, ana))["tier"]["current"]["key"] == "silver"
    count = await sql.row(sql.connection(), "SELECT COUNT(*) AS n FROM tier_credit")
    assert count is not None
    assert int(count["n"]) == 0
    clock.advance(days=1)
    await api.use_program(ROLLING)
    seen = await status(api, ana)
    assert seen["tier"]["current"]["key"] == "silver"
    assert seen["tier"]["qualifyingAmount"] == 3000
    assert (await api.purchase(ana, "100"))["transaction"]["points"] == 150
    assert (await status(api, ana))["tier"]["qualifyingAmount"] == 3150


PAGE = """{ members(first: 50) { nodes { externalId
  tier { current { key } qualifyingAmount retainBy reviewAt }
  tierChanges(first: 5) { toKey reason } } } }"""


async def test_a_page_of_members_with_windowed_tiers_costs_the_same_as_one(api: API):
    await api.use_program(ROLLING)
    first = await api.enroll("m0")
    await api.purchase(first, "3000")
    with count_statements() as one:
        await api.gql(PAGE, as_=api.admin())
    for n in range(1, 12):
        member = await api.enroll(f"m{n}")
        await api.purchase(member, str(1000 * n))
    with count_statements() as many:
        data = await api.gql(PAGE, as_=api.admin())
    nodes = data["members"]["nodes"]
    assert len(nodes) == 12
    assert {n["tier"]["current"]["key"] for n in nodes} == {"bronze", "silver", "gold"}
    assert sum(len(n["tierChanges"]) for n in nodes) >= 10
    assert len(many) == len(one)


async def test_the_tier_percentile_compares_the_windows_qualifying_amounts(api: API):
    await api.use_program(ROLLING)
    clock = api.use_clock(ManualClock("2026-03-15T10:00:00+00:00"))
    ana, bob = await api.enroll("ana"), await api.enroll("bob")
    await api.enroll("cid")
    # Bob's 5,000 of a year ago are out of the window now: only this window's count.
    clock.set("2025-02-10T10:00:00+00:00")
    assert (await api.purchase(bob, "5000"))["userErrors"] == []
    clock.set("2026-03-15T10:00:00+00:00")
    assert (await api.purchase(ana, "300"))["userErrors"] == []
    assert (await api.purchase(bob, "100"))["userErrors"] == []
    runners = [Runner(c, clock) for c in app_consumers(api.runtime)]
    while sum([await runner.drain() for runner in runners]):
        pass
    query = "query($id: ID!) { member(id: $id) { tier { qualifyingAmount percentile } } }"
    seen = {}
    for name, member in (("ana", ana), ("bob", bob)):
        data = await api.gql(query, {"id": member}, as_=api.admin())
        seen[name] = data["member"]["tier"]
    assert seen == {
        "ana": {"qualifyingAmount": 300, "percentile": 100 * 2 / 3},
        "bob": {"qualifyingAmount": 150, "percentile": 100 / 3},  # earned at silver, 1.5x
    }
