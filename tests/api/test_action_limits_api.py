"""recordAction under an action's caps, cooldown, holding period and expiry override.

Caps count calendar periods (day, ISO week from Monday, month, year) in the program's time
zone, Europe/Bucharest (UTC+2 in winter, UTC+3 from 29 March 2026). The app tells the time by the
clock its Runtime holds; the tests hand it one they move across local midnights instead of
sleeping.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from domain import jobs, sql
from tests.helpers import (
    API,
    BASE_PROGRAM,
    ManualClock,
    assert_ledger_consistent,
    new_key,
    table_counts,
)

BUCHAREST = ZoneInfo("Europe/Bucharest")

ACTIONS = """
[[actions]]
key = "DAILY_CHECKIN"
name = "Daily check-in"
points = 10
caps = { day = 2 }

[[actions]]
key = "WEEKLY_QUIZ"
name = "Weekly quiz"
points = 20
caps = { week = 1 }

[[actions]]
key = "MONTHLY_EVENT"
name = "Monthly event"
points = 30
caps = { month = 2 }

[[actions]]
key = "YEARLY_SURVEY"
name = "Yearly survey"
points = 40
caps = { year = 1 }

[[actions]]
key = "APP_RATING"
name = "Rate the app"
points = 50
caps = { lifetime = 1 }

[[actions]]
key = "STORY_SHARE"
name = "Share a story"
points = 5
cooldown_minutes = 10

[[actions]]
key = "TASTING"
name = "Tasting"
points = 15
caps = { day = 3 }

[[actions]]
key = "PANEL"
name = "Join a panel"
points = 75
pending_days = 7

[[actions]]
key = "GALA"
name = "Attend the gala"
points = 200
expiry = { end_of_year = 1 }
"""

TEXT = BASE_PROGRAM.read_text() + ACTIONS

ACTION = (
    "member { balance pendingPoints lifetimePoints } "
    "transaction { id kind points balanceAfter description }"
)


@pytest.fixture
def clock(api: API) -> ManualClock:
    return api.use_clock()


async def record(
    api: API, member_id: str, action: str, as_: dict[str, str] | None = None
) -> dict[str, Any]:
    return await api.mutate(
        "recordAction",
        {"memberId": member_id, "action": action, "idempotencyKey": new_key()},
        ACTION,
        as_=as_ or api.admin(),
    )


async def earns(api: API, member_id: str, action: str) -> dict[str, Any]:
    payload = await record(api, member_id, action)
    assert payload["userErrors"] == [], payload
    assert payload["transaction"]["kind"] == "EARN"
    return payload


async def refused(api: API, member_id: str, action: str) -> str:
    """Asserts the action is refused as over a limit, writing nothing; returns the message."""
    before = await table_counts()
    payload = await record(api, member_id, action)
    assert payload["transaction"] is None, payload
    assert payload["member"] is None, payload
    assert len(payload["userErrors"]) == 1, payload
    error = payload["userErrors"][0]
    assert error["code"] == "LIMIT_EXCEEDED", error
    assert error["field"] == "action", error
    assert await table_counts() == before
    return error["message"]


async def actions_recorded() -> int:
    found = await sql.row(sql.connection(), "SELECT COUNT(*) AS n FROM action_record")
    assert found is not None
    return int(found["n"])


async def test_a_daily_cap_counts_the_local_day_not_the_utc_day(api: API, clock: ManualClock):
    await api.use_program(TEXT)
    ana = await api.enroll("ana")
    clock.set("2026-03-10T21:30:00+00:00")  # 23:30 on Tuesday 10 March in Bucharest
    await earns(api, ana, "DAILY_CHECKIN")
    await earns(api, ana, "DAILY_CHECKIN")
    message = await refused(api, ana, "DAILY_CHECKIN")
    assert message == "DAILY_CHECKIN earns points at most 2 times per day."
    clock.set("2026-03-10T21:59:59.999999+00:00")
    await refused(api, ana, "DAILY_CHECKIN")
    # Local midnight: a new day in Bucharest, still 10 March in UTC.
    clock.set("2026-03-10T22:00:00+00:00")
    await earns(api, ana, "DAILY_CHECKIN")
    clock.set("2026-03-11T12:00:00+00:00")
    await earns(api, ana, "DAILY_CHECKIN")
    await refused(api, ana, "DAILY_CHECKIN")
    # The cap is per member and per action.
    bea = await api.enroll("bea")
    await earns(api, bea, "DAILY_CHECKIN")
    await earns(api, ana, "TASTING")
    assert await api.balance(ana) == 4 * 10 + 15
    await assert_ledger_consistent()


async def test_a_weekly_cap_starts_again_on_monday_at_local_midnight(api: API, clock: ManualClock):
    await api.use_program(TEXT)
    ana = await api.enroll("ana")
    clock.set("2026-03-09T08:00:00+00:00")  # Monday 9 March
    await earns(api, ana, "WEEKLY_QUIZ")
    clock.set("2026-03-15T21:59:00+00:00")  # 23:59 on Sunday 15 March in Bucharest
    message = await refused(api, ana, "WEEKLY_QUIZ")
    assert message == "WEEKLY_QUIZ earns points at most 1 time per week."
    clock.set("2026-03-15T22:00:00+00:00")  # 00:00 on Monday 16 March in Bucharest
    await earns(api, ana, "WEEKLY_QUIZ")
    clock.set("2026-03-22T21:00:00+00:00")  # 23:00 on Sunday 22 March
    await refused(api, ana, "WEEKLY_QUIZ")
    assert await api.balance(ana) == 40


async def test_a_monthly_cap_counts_the_local_calendar_month(api: API, clock: ManualClock):
    await api.use_program(TEXT)
    ana = await api.enroll("ana")
    clock.set("2026-02-28T21:59:00+00:00")  # 23:59 on 28 February in Bucharest
    await earns(api, ana, "MONTHLY_EVENT")
    clock.set("2026-02-28T22:00:00+00:00")  # 00:00 on 1 March in Bucharest
    await earns(api, ana, "MONTHLY_EVENT")
    clock.set("2026-03-31T20:00:00+00:00")  # 23:00 on 31 March (summer time: UTC+3)
    await earns(api, ana, "MONTHLY_EVENT")
    clock.set("2026-03-31T20:59:59+00:00")
    message = await refused(api, ana, "MONTHLY_EVENT")
    assert message == "MONTHLY_EVENT earns points at most 2 times per month."
    clock.set("2026-03-31T21:00:00+00:00")  # 00:00 on 1 April in Bucharest
    await earns(api, ana, "MONTHLY_EVENT")
    assert await api.balance(ana) == 4 * 30


async def test_a_yearly_cap_counts_the_local_calendar_year(api: API, clock: ManualClock):
    await api.use_program(TEXT)
    ana = await api.enroll("ana")
    clock.set("2025-12-31T21:59:00+00:00")  # 23:59 on 31 December 2025 in Bucharest
    await earns(api, ana, "YEARLY_SURVEY")
    clock.set("2025-12-31T22:00:00+00:00")  # 00:00 on 1 January 2026 in Bucharest
    await earns(api, ana, "YEARLY_SURVEY")
    clock.set("2026-10-01T12:00:00+00:00")
    message = await refused(api, ana, "YEARLY_SURVEY")
    assert message == "YEARLY_SURVEY earns points at most 1 time per year."
    assert await api.balance(ana) == 80


async def test_a_lifetime_cap_never_starts_again(api: API, clock: ManualClock):
    await api.use_program(TEXT)
    ana = await api.enroll("ana")
    clock.set("2026-03-01T10:00:00+00:00")
    await earns(api, ana, "APP_RATING")
    message = await refused(api, ana, "APP_RATING")
    assert message == "APP_RATING earns points at most 1 time in all."
    clock.set("2036-03-01T10:00:00+00:00")
    await refused(api, ana, "APP_RATING")
    bea = await api.enroll("bea")
    await earns(api, bea, "APP_RATING")
    assert await api.balance(ana) == 50


async def test_a_cooldown_refuses_until_it_has_passed_and_says_when(api: API, clock: ManualClock):
    await api.use_program(TEXT)
    ana = await api.enroll("ana")
    clock.set("2026-03-10T10:00:00+00:00")  # 12:00 in Bucharest
    await earns(api, ana, "STORY_SHARE")
    clock.set("2026-03-10T10:09:59+00:00")
    message = await refused(api, ana, "STORY_SHARE")
    # In the program's time zone, with its offset and name.
    assert message == (
        "STORY_SHARE earns points again from 2026-03-10T12:10:00+02:00 (Europe/Bucharest)."
    )
    clock.set("2026-03-10T10:10:00+00:00")
    await earns(api, ana, "STORY_SHARE")
    # The cooldown runs from the last award, per member.
    clock.set("2026-03-10T10:15:00+00:00")
    assert "again from 2026-03-10T12:20:00+02:00 (Europe/Bucharest)" in await refused(
        api, ana, "STORY_SHARE"
    )
    bea = await api.enroll("bea")
    await earns(api, bea, "STORY_SHARE")
    assert await api.balance(ana) == 10


async def test_a_cooldown_says_summer_time_and_never_a_moment_too_early(
    api: API, clock: ManualClock
):
    await api.use_program(TEXT)
    ana = await api.enroll("ana")
    clock.set("2026-07-01T09:00:30.250000+00:00")  # 12:00:30.25 in Bucharest, UTC+3
    await earns(api, ana, "STORY_SHARE")
    clock.set("2026-07-01T09:05:00+00:00")
    message = await refused(api, ana, "STORY_SHARE")
    # 12:10:30.25 is said as 12:10:31: at the moment said, the action earns again.
    assert message == (
        "STORY_SHARE earns points again from 2026-07-01T12:10:31+03:00 (Europe/Bucharest)."
    )
    said = datetime.fromisoformat(message.split("from ")[1].split(" (")[0])
    clock.set(said.isoformat())
    await earns(api, ana, "STORY_SHARE")


async def test_simultaneous_actions_one_below_the_cap_award_exactly_one(
    api: API, clock: ManualClock
):
    await api.use_program(TEXT)
    clock.set("2026-03-10T10:00:00+00:00")
    ana = await api.enroll("ana")
    partner = await api.partner("beanery")
    await earns(api, ana, "TASTING")
    await earns(api, ana, "TASTING")
    payloads = await asyncio.gather(*(record(api, ana, "TASTING", as_=partner) for _ in range(6)))
    codes = sorted(p["userErrors"][0]["code"] if p["userErrors"] else "ok" for p in payloads)
    assert codes == ["LIMIT_EXCEEDED"] * 5 + ["ok"]
    assert await actions_recorded() == 3
    assert await api.balance(ana) == 45
    await assert_ledger_consistent()


async def test_an_actions_holding_period_keeps_its_points_pending(api: API, clock: ManualClock):
    await api.use_program(TEXT)
    ana = await api.enroll("ana")
    held = await earns(api, ana, "PANEL")
    assert held["member"] == {"balance": 0, "pendingPoints": 75, "lifetimePoints": 75}
    assert held["transaction"]["points"] == 75
    quick = await earns(api, ana, "REVIEW")  # an action without a holding period
    assert quick["member"] == {"balance": 50, "pendingPoints": 75, "lifetimePoints": 125}
    # Held points cannot be spent yet.
    assert (await api.redeem("plant-a-tree", member_id=ana))["userErrors"][0]["code"] == (
        "INSUFFICIENT_POINTS"
    )
    await assert_ledger_consistent()
    # Seven days on, the release job makes them spendable.
    early = await jobs.run_all(api.runtime.program, now=clock.now() + timedelta(days=6))
    assert early.released == 0
    report = await jobs.run_all(api.runtime.program, now=clock.now() + timedelta(days=7))
    assert report.released == 75
    data = await api.gql(
        "query($id: ID!) { member(id: $id) { balance pendingPoints lifetimePoints } }",
        {"id": ana},
        as_=api.admin(),
    )
    assert data["member"] == {"balance": 125, "pendingPoints": 0, "lifetimePoints": 125}
    await assert_ledger_consistent()


def _midnight_after(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(), BUCHAREST).astimezone(UTC)


async def test_an_actions_expiry_overrides_the_programs(api: API, clock: ManualClock):
    await api.use_program(TEXT)
    ana = await api.enroll("ana")
    await earns(api, ana, "GALA")  # expires at the end of next year
    await earns(api, ana, "REVIEW")  # the program's: 365 days after
    today = clock.now().astimezone(BUCHAREST).date()
    data = await api.gql(
        "query($id: ID!) { member(id: $id) { expiringPoints { amount expiresAt } } }",
        {"id": ana},
        as_=api.admin(),
    )
    got = [
        (e["amount"], datetime.fromisoformat(e["expiresAt"]))
        for e in data["member"]["expiringPoints"]
    ]
    assert got == [
        (50, _midnight_after(today + timedelta(days=365))),
        (200, _midnight_after(date(today.year + 1, 12, 31))),
    ]
