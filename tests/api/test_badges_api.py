"""Badges and streaks end to end: activity through the API, the badge engine consuming the
outbox, Member.badges and Member.streaks, retroactive awards, bonuses posted once.

The program is the base test program with referrals, two streaks and a badge of each metric.
"""

from __future__ import annotations

import asyncio
from dataclasses import fields
from datetime import datetime, timedelta
from typing import Any

import httpx
from tortoise.transactions import in_transaction

from app.asgi import create_app
from app.consumers import consumers as app_consumers
from app.runtime import Runtime
from domain import consumers, outbox, sql
from gamification import badge_engine
from gamification.badge_engine import BadgeEngine
from schema import ids
from tests.helpers import (
    API,
    BASE_PROGRAM,
    ManualClock,
    assert_ledger_consistent,
    count_statements,
    new_key,
)

BADGES = """
[referral]
referrer_points = 100
referee_points = 50

[[streaks]]
key = "daily"
name = { en = "Daily shopper", ro = "Cumpărător zilnic" }
period = "day"
activity = "purchases"
grace = 1

[[streaks]]
key = "reviews"
name = "Weekly reviewer"
period = "week"
activity = "actions:REVIEW"

[[badges]]
key = "regular"
name = { en = "Regular", ro = "Client fidel" }
metric = "purchases"
levels = [1, 3]
bonus = [10, 50]

[[badges]]
key = "big-spender"
name = "Big spender"
metric = "spend:RON"
levels = [100, 1000]

[[badges]]
key = "explorer"
name = "Explorer"
metric = "partners"
levels = [2]

[[badges]]
key = "earner"
name = "Earner"
metric = "points_earned"
levels = [500]

[[badges]]
key = "connector"
name = "Connector"
metric = "referrals"
levels = [1]

[[badges]]
key = "collector"
name = "Collector"
metric = "redemptions"
levels = [1]

[[badges]]
key = "critic"
name = "Critic"
metric = "actions:REVIEW"
levels = [2]

[[badges]]
key = "streaker"
name = "Streaker"
metric = "streak:daily"
levels = [3]

[[badges]]
key = "secret"
name = "Secret shopper"
metric = "purchases"
levels = [5]
hidden = true
bonus = 100
"""
PROGRAM = BASE_PROGRAM.read_text() + BADGES
NOW = "2026-12-02T12:00:00+02:00"  # Wednesday noon in Bucharest

PROGRESS = "badges { badge { key } current target progress level unlockedAt }"


class Engine:
    """The "badges" consumer as the server runs it (domain.consumers.Runner), drained on
    demand; and the same consumer handed events again by hand, as after a failed commit."""

    def __init__(self, api: API) -> None:
        self.api = api
        self.consumer = BadgeEngine(lambda: api.runtime.program)
        self.runner = consumers.Runner(self.consumer, clock=api.runtime.clock)

    async def drain(self) -> None:
        # Its own events (badge.unlocked, points.changed) come back to it: until none are left.
        await self.runner.drain()

    async def redeliver_everything(self) -> None:
        """Every event so far, handled again."""
        rows = await sql.rows(sql.connection(), "SELECT * FROM outbox_event ORDER BY id")
        names = [f.name for f in fields(outbox.StoredEvent)]
        again = [
            outbox.StoredEvent(
                **{n: sql.to_json(r[n]) if n == "payload" else r[n] for n in names}  # type: ignore[arg-type]
            )
            for r in rows
        ]
        async with in_transaction("default") as conn:
            await self.consumer.handle(conn, again, self.api.runtime.clock.now())
        await self.drain()


async def setup(api: API) -> Engine:
    api.use_clock(ManualClock(NOW))
    await api.use_program(PROGRAM)
    return Engine(api)


async def unlocked() -> set[tuple[str, str, int]]:
    rows = await sql.rows(
        sql.connection(),
        "SELECT m.external_id, b.badge, b.level FROM member_badge b "
        "JOIN member m ON m.id = b.member_id",
    )
    return {(r["external_id"], r["badge"], int(r["level"])) for r in rows}


async def badge_transactions() -> list[dict[str, Any]]:
    return await sql.rows(
        sql.connection(),
        "SELECT t.reference, t.breakdown, t.description, e.amount FROM ledger_transaction t "
        "JOIN entry e ON e.transaction_id = t.id JOIN account a ON a.id = e.account_id "
        "WHERE t.kind = 'BADGE' AND a.kind = 'member' ORDER BY t.id",
    )


def ago(clock_now: str, **delta: float) -> str:
    return (datetime.fromisoformat(clock_now) - timedelta(**delta)).isoformat()


async def review(api: API, member_id: str) -> None:
    payload = await api.mutate(
        "recordAction",
        {
            "memberId": member_id,
            "action": "REVIEW",
            "reference": new_key(),
            "idempotencyKey": new_key(),
        },
        "transaction { id }",
        as_=api.admin(),
    )
    assert payload["userErrors"] == []


async def referral_code(api: API, member_id: str) -> str:
    data = await api.gql(
        "query($id: ID!) { member(id: $id) { referralCode } }", {"id": member_id}, as_=api.admin()
    )
    return data["member"]["referralCode"]


async def test_each_criterion_unlocks_its_badge(api: API):
    engine = await setup(api)
    ana = await api.enroll("ana")
    skyways, beanery = await api.partner("skyways"), await api.partner("beanery")
    # Two purchases at two partners, 120 RON in all, two days in a row.
    assert (await api.purchase(ana, "70", as_=skyways, occurredAt=ago(NOW, days=1)))[
        "userErrors"
    ] == []
    assert (await api.purchase(ana, "50", as_=beanery))["userErrors"] == []
    await engine.drain()
    assert await unlocked() == {
        ("ana", "regular", 1),
        ("ana", "big-spender", 1),
        ("ana", "explorer", 1),
    }
    # A review is not yet a critic; two are.
    await review(api, ana)
    await engine.drain()
    assert ("ana", "critic", 1) not in await unlocked()
    await review(api, ana)
    # Points: the purchases, the bonus, 100 from the operator... and a redemption.
    assert (await api.adjust(ana, 300))["userErrors"] == []
    assert (await api.redeem("plant-a-tree", member_id=ana))["userErrors"] == []
    # A friend's first purchase pays the referral.
    bob = await api.enroll("bob", referralCode=await referral_code(api, ana))
    assert (await api.purchase(bob, "60"))["userErrors"] == []
    await engine.drain()
    assert await unlocked() == {
        ("ana", "regular", 1),
        ("ana", "big-spender", 1),
        ("ana", "explorer", 1),
        ("ana", "critic", 1),
        ("ana", "earner", 1),  # 70 + 50 + 10 (bonus) + 300 + 100 (referral) = 530
        ("ana", "collector", 1),
        ("ana", "connector", 1),
        ("bob", "regular", 1),
    }
    # A third day in a row: the daily streak reaches 3, and the third purchase is silver.
    assert (await api.purchase(ana, "5", occurredAt=ago(NOW, days=2)))["userErrors"] == []
    await engine.drain()
    assert {("ana", "streaker", 1), ("ana", "regular", 2)} <= await unlocked()
    await assert_ledger_consistent()


async def test_a_bonus_is_posted_once_even_when_the_events_are_seen_twice(api: API):
    engine = await setup(api)
    ana = await api.enroll("ana")
    for _ in range(3):
        assert (await api.purchase(ana, "20"))["userErrors"] == []
    await engine.drain()
    await engine.redeliver_everything()
    await engine.drain()
    assert {(b, lvl) for _, b, lvl in await unlocked()} == {("regular", 1), ("regular", 2)}
    bonuses = await badge_transactions()
    assert [(t["reference"], int(t["amount"])) for t in bonuses] == [
        ("regular:1", 10),
        ("regular:2", 50),
    ]
    # The breakdown line names the badge and the level, in the program's first language.
    line = sql.to_json(bonuses[1]["breakdown"])[0]
    assert line["rule"] == "badge:regular"
    assert line["description"] == "Badge unlocked: Regular, level 2"
    assert bonuses[1]["description"] == "Badge unlocked: Regular, level 2"
    events = await sql.rows(
        sql.connection(), "SELECT payload FROM outbox_event WHERE type = 'badge.unlocked'"
    )
    payloads = [sql.to_json(e["payload"]) for e in events]
    assert [(p["badge"], p["level"], p["bonusPoints"]) for p in payloads] == [
        ("regular", 1, 10),
        ("regular", 2, 50),
    ]
    assert await api.balance(ana) == 60 + 10 + 50
    await assert_ledger_consistent()
    # The history says it in the caller's language.
    data = await api.gql(
        "{ me { transactions(first: 1) { nodes { kind points description } } } }",
        as_={**api.member("ana"), "Accept-Language": "ro"},
    )
    assert data["me"]["transactions"]["nodes"][0]["kind"] == "BADGE"
    assert data["me"]["transactions"]["nodes"][0]["points"] == 50


async def test_member_badges_show_progress_and_hidden_ones_once_unlocked(api: API):
    engine = await setup(api)
    ana = await api.enroll("ana")
    catalog = await api.gql("{ badges { key bonus } }")
    assert "secret" not in [b["key"] for b in catalog["badges"]]
    assert catalog["badges"][0] == {"key": "regular", "bonus": [10, 50]}
    # Nor is it found by its id: its name would give it away.
    node = "query($id: ID!) { node(id: $id) { ... on Badge { key } } }"
    assert await api.gql(node, {"id": ids.global_id("Badge", "secret")}) == {"node": None}
    assert await api.gql(node, {"id": ids.global_id("Badge", "regular")}) == {
        "node": {"key": "regular"}
    }

    async def badges() -> dict[str, dict[str, Any]]:
        data = await api.gql(f"{{ me {{ {PROGRESS} }} }}", as_=api.member("ana"))
        return {b["badge"]["key"]: b for b in data["me"]["badges"]}

    shown = await badges()
    assert list(shown) == [
        "regular", "big-spender", "explorer", "earner", "connector", "collector", "critic",
        "streaker",
    ]  # fmt: skip
    assert shown["regular"] == {
        "badge": {"key": "regular"},
        "current": 0,
        "target": 1,
        "progress": 0.0,
        "level": 0,
        "unlockedAt": None,
    }
    for _ in range(4):
        await api.purchase(ana, "30")
    await engine.drain()
    shown = await badges()
    assert "secret" not in shown
    assert shown["regular"]["level"] == 2
    assert shown["regular"]["target"] == 3  # the top level's, all unlocked
    assert shown["regular"]["progress"] == 1.0
    assert shown["regular"]["unlockedAt"] is not None
    assert shown["big-spender"]["current"] == 120
    assert shown["big-spender"]["target"] == 1000
    assert shown["big-spender"]["progress"] == 0.12
    await api.purchase(ana, "30", as_=await api.partner("skyways"))
    await engine.drain()
    shown = await badges()
    assert shown["secret"]["level"] == 1
    assert shown["secret"]["current"] == 5
    # The operator sees them too; a partner, which sees the member it dealt with, does not.
    data = await api.gql(
        f"query($id: ID!) {{ member(id: $id) {{ {PROGRESS} }} }}", {"id": ana}, as_=api.admin()
    )
    assert len(data["member"]["badges"]) == 9
    partner = await api.gql(
        "query($id: ID!) { member(id: $id) { badges { current } streaks { current } } }",
        {"id": ana},
        as_=await api.partner("skyways"),
    )
    assert partner["member"] == {"badges": [], "streaks": []}


async def test_a_badge_added_later_is_awarded_to_members_who_already_qualify(api: API):
    api.use_clock(ManualClock(NOW))
    ana = await api.enroll("ana")
    bob = await api.enroll("bob")
    for _ in range(3):
        await api.purchase(ana, "20")
    await api.purchase(bob, "20")
    assert await unlocked() == set()
    await api.use_program(PROGRAM)  # what `coalition program apply` does
    assert await unlocked() == {
        ("ana", "regular", 1),
        ("ana", "regular", 2),
        ("bob", "regular", 1),
    }  # and no streak: three purchases today are one day, not three
    assert [t["reference"] for t in await badge_transactions()] == [
        "regular:1",
        "regular:2",
        "regular:1",
    ]
    # Applying it again, or a version that changes nothing about badges, awards nothing new.
    before = await unlocked()
    await api.use_program(PROGRAM + "\n# a comment makes another version\n")
    assert await unlocked() == before
    assert len(await badge_transactions()) == 3
    # A version with a new level awards that level to those who reach it.
    await api.use_program(
        PROGRAM.replace("levels = [1, 3]\nbonus = [10, 50]", "levels = [1, 2, 3]\nbonus = 10")
    )
    assert ("bob", "regular", 2) not in await unlocked()
    assert ("ana", "regular", 3) in await unlocked()
    await assert_ledger_consistent()


STREAKS = "streaks { key name period grace current longest lastActive }"


async def test_streaks_through_the_api_with_grace_and_a_late_purchase(api: API):
    engine = await setup(api)
    ana = await api.enroll("ana")

    async def streak(key: str) -> dict[str, Any]:
        data = await api.gql(f"{{ me {{ {STREAKS} }} }}", as_=api.member("ana"))
        return next(s for s in data["me"]["streaks"] if s["key"] == key)

    assert await streak("daily") == {
        "key": "daily",
        "name": "Daily shopper",
        "period": "DAY",
        "grace": 1,
        "current": 0,
        "longest": 0,
        "lastActive": None,
    }
    # Today, and 3 and 4 days ago (local days in Bucharest): 2 and 1 days ago are missed.
    await api.purchase(ana, "10")
    await api.purchase(ana, "10", occurredAt=ago(NOW, days=3))
    await api.purchase(ana, "10", occurredAt=ago(NOW, days=4))
    found = await streak("daily")
    assert (found["current"], found["longest"], found["lastActive"]) == (1, 2, "2026-12-02")
    await engine.drain()
    assert ("ana", "streaker", 1) not in await unlocked()
    # A till that was offline sends yesterday's purchase now: the grace covers 2 days ago.
    await api.purchase(ana, "10", occurredAt=ago(NOW, days=1))
    found = await streak("daily")
    assert (found["current"], found["longest"]) == (4, 4)
    await engine.drain()
    assert ("ana", "streaker", 1) in await unlocked()
    # 22:30 UTC on 26 November is 00:30 on the 27th in Bucharest: it counts on the 27th,
    # and lengthens the streak (on the 26th it would be a second miss, and change nothing).
    await api.purchase(ana, "10", occurredAt="2026-11-26T22:30:00+00:00")
    found = await streak("daily")
    assert (found["current"], found["longest"]) == (5, 5)
    # A week with a review, the week before without: one week, current.
    await review(api, ana)
    found = await streak("reviews")
    assert (found["period"], found["current"], found["longest"]) == ("WEEK", 1, 1)
    assert found["lastActive"] == "2026-11-30"  # the Monday


async def test_member_badges_cost_the_same_statements_whatever_the_badges(api: API):
    await setup(api)
    ana = await api.enroll("ana")
    await api.purchase(ana, "20")
    query = f"{{ me {{ balance {PROGRESS} {STREAKS} }} }}"
    with count_statements() as few:
        await api.gql(query, as_=api.member("ana"))
    many = PROGRAM + "".join(
        f'\n[[badges]]\nkey = "extra-{n}"\nname = "Extra {n}"\nmetric = "{metric}"\n'
        "levels = [1, 5]\n"
        for n, metric in enumerate(
            ["purchases", "spend:EUR", "partners", "actions:SURVEY", "streak:reviews"] * 8
        )
    )
    await api.use_program(many)
    for _ in range(5):
        await api.purchase(ana, "20")
    with count_statements() as more:
        data = await api.gql(query, as_=api.member("ana"))
    # The hidden one stays hidden: no engine has stored its level here.
    assert len(data["me"]["badges"]) == 8 + 40
    assert len(more) == len(few)
    # The token and the wallet, then the metrics: the wallet's lifetime, purchases, actions,
    # referrals, redemptions, streak activity, unlocked levels.
    assert len(few) <= 8
    # A page of members costs the same as one.
    for n in range(10):
        other = await api.enroll(f"m{n}")
        await api.purchase(other, "20")
    page = f"{{ members(first: 20) {{ nodes {{ {PROGRESS} {STREAKS} }} }} }}"
    with count_statements() as one_page:
        data = await api.gql(page, as_=api.admin())
    assert len(data["members"]["nodes"]) == 11
    assert len(one_page) <= len(few) + 1


async def test_a_refund_lowers_the_metric_but_takes_no_level_back(api: API):
    engine = await setup(api)
    ana = await api.enroll("ana")
    bought = await api.purchase(ana, "150")
    await engine.drain()
    assert {("ana", "regular", 1), ("ana", "big-spender", 1)} <= await unlocked()
    refunded = await api.mutate(
        "refundPurchase",
        {"purchaseId": bought["purchase"]["id"], "idempotencyKey": new_key()},
        "pointsClawedBack",
        as_=api.admin(),
    )
    assert refunded["userErrors"] == []
    await engine.drain()
    data = await api.gql(f"{{ me {{ {PROGRESS} }} }}", as_=api.member("ana"))
    shown = {b["badge"]["key"]: b for b in data["me"]["badges"]}
    assert (shown["regular"]["current"], shown["regular"]["level"]) == (0, 1)
    assert (shown["big-spender"]["current"], shown["big-spender"]["level"]) == (0, 1)
    assert shown["big-spender"]["target"] == 1000
    # The bonus stays too: the refund took back the purchase's points, not the badge's.
    assert await api.balance(ana) == 10
    await assert_ledger_consistent()


async def test_two_awards_at_once_unlock_each_level_once(api: API):
    await setup(api)
    members = [await api.enroll(f"m{n}") for n in range(6)]
    for member in members:
        for _ in range(3):
            await api.purchase(member, "20")
    assert await unlocked() == set()  # no engine ran
    # Two sweeps at once (two processes applying the same version, or a sweep beside the
    # engine), paging differently: every level is unlocked and paid exactly once.
    program = api.runtime.program
    found = await asyncio.gather(
        badge_engine.award_retroactively(program, page=2),
        badge_engine.award_retroactively(program, page=4),
    )
    assert sum(found) == 6 * 2
    rows = await sql.rows(
        sql.connection(),
        "SELECT member_id, badge, level, COUNT(*) AS n FROM member_badge "
        "GROUP BY member_id, badge, level",
    )
    assert {(r["badge"], int(r["level"])) for r in rows} == {("regular", 1), ("regular", 2)}
    assert len(rows) == 6 * 2
    paid = await sql.rows(
        sql.connection(),
        "SELECT reference, COUNT(*) AS n FROM ledger_transaction WHERE kind = 'BADGE' "
        "GROUP BY reference",
    )
    assert {r["reference"]: int(r["n"]) for r in paid} == {"regular:1": 6, "regular:2": 6}
    for member in members:
        assert await api.balance(member) == 60 + 10 + 50
    await assert_ledger_consistent()


async def test_the_running_consumer_unlocks_a_badge_soon_after_the_purchase(api: API):
    await setup(api)
    ana = await api.enroll("ana")
    runner = consumers.Runner(BadgeEngine(lambda: api.runtime.program), poll_seconds=30)
    runner.start()
    try:
        await api.purchase(ana, "20")  # its commit wakes the runner: no poll needed
        for _ in range(100):
            if await unlocked():
                break
            await asyncio.sleep(0.05)
    finally:
        await runner.stop()
    assert await unlocked() == {("ana", "regular", 1)}
    status = await consumers.checkpoint(sql.connection(), "badges")
    assert status is not None
    assert status.failures == 0


async def test_a_full_wallet_unlocks_the_level_without_its_bonus(api: API):
    engine = await setup(api)
    ana = await api.enroll("ana")
    for points in (1_000_000_000, 1_000_000_000, 147_483_627):
        assert (await api.adjust(ana, points))["userErrors"] == []
    assert (await api.purchase(ana, "20"))["userErrors"] == []
    assert await api.balance(ana) == 2**31 - 1  # the most a wallet holds
    await engine.drain()  # does not fail, so it holds back no one else's badges
    assert await unlocked() == {("ana", "regular", 1), ("ana", "earner", 1)}
    assert await badge_transactions() == []
    unlocks = await sql.rows(
        sql.connection(), "SELECT payload FROM outbox_event WHERE type = 'badge.unlocked'"
    )
    said = {(p["badge"], p["bonusPoints"]) for p in (sql.to_json(u["payload"]) for u in unlocks)}
    assert said == {("regular", 0), ("earner", 0)}
    checkpoint = await consumers.checkpoint(sql.connection(), "badges")
    assert checkpoint is not None
    assert checkpoint.failures == 0
    await assert_ledger_consistent()


# -- where members stand: percentiles from the progress sets ---------------------------------

STANDING = "badges { badge { key } current percentile }"


async def drain_consumers(api: API) -> None:
    """Every consumer the server runs, drained in turn until none has anything left (the badge
    engine's bonuses are events for the progress projector)."""
    runners = [consumers.Runner(c, clock=api.runtime.clock) for c in app_consumers(api.runtime)]
    while sum([await runner.drain() for runner in runners]):
        pass


async def standings(api: API, external_id: str, as_: dict[str, str] | None = None) -> dict:
    data = await api.gql(
        f"query($id: ID!) {{ member(id: $id) {{ {STANDING} }} }}",
        {"id": ids.global_id("Member", await _member_id(external_id))},
        as_=as_ or api.admin(),
    )
    return {b["badge"]["key"]: (b["current"], b["percentile"]) for b in data["member"]["badges"]}


async def _member_id(external_id: str) -> int:
    found = await sql.row(
        sql.connection(), "SELECT id FROM member WHERE external_id = ?", [external_id]
    )
    assert found is not None
    return int(found["id"])


async def test_percentiles_say_where_each_member_stands(api: API):
    await setup(api)
    ana, bob, cid, dan = [await api.enroll(n) for n in ("ana", "bob", "cid", "dan")]
    for member, amounts in ((ana, ["20", "20", "20"]), (bob, ["50"]), (dan, ["10"])):
        for amount in amounts:
            assert (await api.purchase(member, amount))["userErrors"] == []
    await drain_consumers(api)
    # Ana's three purchases are ahead of the other three members; Bob's and Dan's one ahead of
    # Cid's none (equal values are not below); Cid is ahead of nobody.
    ana_sees = await standings(api, "ana", as_=api.member("ana"))
    assert ana_sees["regular"] == (3, 75.0)
    assert ana_sees["big-spender"] == (60, 75.0)
    assert (await standings(api, "bob"))["regular"] == (1, 25.0)
    assert (await standings(api, "bob"))["big-spender"] == (50, 50.0)
    assert (await standings(api, "dan"))["big-spender"] == (10, 25.0)
    assert (await standings(api, "cid"))["regular"] == (0, 0.0)
    # The member's own value is fresh from SQL, before the projector has it: Cid's two new
    # purchases are ahead of Bob's and Dan's one at once.
    for amount in ("5", "5"):
        assert (await api.purchase(cid, amount))["userErrors"] == []
    assert (await standings(api, "cid"))["regular"] == (2, 50.0)
    # The others see it once the projector has it: Bob and Dan are ahead of nobody now.
    assert (await standings(api, "bob"))["regular"] == (1, 25.0)
    await drain_consumers(api)
    assert (await standings(api, "bob"))["regular"] == (1, 0.0)
    assert (await standings(api, "dan"))["regular"] == (1, 0.0)
    assert (await standings(api, "ana"))["regular"] == (3, 75.0)


async def test_badge_percentiles_cost_one_redis_round_trip_and_no_statement(api: API):
    await setup(api)
    for n in range(6):
        member = await api.enroll(f"m{n}")
        for _ in range(n % 3):
            await api.purchase(member, "20")
    await drain_consumers(api)
    without = "{ members(first: 20) { nodes { badges { badge { key } current } } } }"
    with_them = f"{{ members(first: 20) {{ nodes {{ {STANDING} }} }} }}"
    with count_statements() as plain:
        await api.gql(without, as_=api.admin())
    await api.runtime.redis.config_resetstat()
    with count_statements() as ranked:
        data = await api.gql(with_them, as_=api.admin())
    stats = await api.runtime.redis.info("commandstats")
    assert len(ranked) == len(plain)
    # One MULTI ... EXEC for every badge of every member on the page.
    assert stats["cmdstat_exec"]["calls"] == 1
    assert stats["cmdstat_zcount"]["calls"] == 6 * 8  # the visible badges count eight metrics
    shown = [b for m in data["members"]["nodes"] for b in m["badges"]]
    assert all(b["percentile"] is not None for b in shown)


async def test_redis_down_leaves_percentiles_null_and_the_badges_as_they_were(
    api: API, stopped_redis: Any
):
    await setup(api)
    ana = await api.enroll("ana")
    await api.enroll("bob")
    assert (await api.purchase(ana, "120"))["userErrors"] == []
    await drain_consumers(api)
    query = f"{{ me {{ balance {PROGRESS} {STANDING} }} }}"
    up = (await api.gql(query, as_=api.member("ana")))["me"]
    assert {b["badge"]["key"]: b["percentile"] for b in up["badges"]}["regular"] == 50.0
    runtime = Runtime(api.runtime.program, stopped_redis, api.runtime.clock)
    app = create_app(api.settings, runtime)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://coalition.test"
    ) as client:
        down = API(client, api.settings, api.stores, runtime)
        response = await down.post(query, as_=down.member("ana"))
    assert response.status_code == 200
    answer = response.json()
    assert "errors" not in answer
    badges = answer["data"]["me"]["badges"]
    assert all(b["percentile"] is None for b in badges)
    assert [{k: v for k, v in b.items() if k != "percentile"} for b in badges] == [
        {k: v for k, v in b.items() if k != "percentile"} for b in up["badges"]
    ]
