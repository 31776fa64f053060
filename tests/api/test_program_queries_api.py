"""What the program shows through queries: badges, campaigns, reward rules, conversion quotes,
and node() for badges and purchases.

The program is the base test program with badges, campaigns, rewards and partner rates added.
`campaigns` and `conversionQuote` look at the real clock, so the dates that must be in the past
or the future are written relative to today.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from schema import ids
from tests.helpers import API, BASE_PROGRAM, partner_gid

BUCHAREST = ZoneInfo("Europe/Bucharest")
BASE_TEXT = BASE_PROGRAM.read_text()


def today() -> date:
    return datetime.now(UTC).astimezone(BUCHAREST).date()


def local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(), BUCHAREST).astimezone(UTC)


BADGES = """
[[badges]]
key = "regular"
name = { en = "Regular", ro = "Client fidel" }
description = { en = "Shop with the partners", ro = "Cumpără de la parteneri" }
metric = "purchases"
levels = [1, 10, 50]

[[badges]]
key = "critic"
name = { en = "Critic", ro = "Criticul" }
metric = "actions:REVIEW"
levels = [1, 5]
"""

RULED_REWARDS = """
[[rewards]]
key = "gold-suite"
name = { en = "Gold suite", ro = "Apartament de aur" }
points_cost = 5000
min_tier = "gold"
limit = { count = 3, period = "week" }

[[rewards]]
key = "one-off"
name = "One-off"
points_cost = 10
limit = { count = 1, period = "lifetime" }
"""


def campaigns_text(day: date) -> str:
    def days(n: int) -> str:
        return (day + timedelta(days=n)).isoformat()

    return f"""
[[campaigns]]
key = "ended"
name = "Ended"
kind = "bonus"
points = 10
starts = {days(-30)}
ends = {days(-1)}

[[campaigns]]
key = "later-bonus"
name = {{ en = "Later bonus", ro = "Bonus mai târziu" }}
kind = "bonus"
points = 100
skus = ["B-2", "A-1"]
starts = {days(20)}
ends = {days(30)}

[[campaigns]]
key = "running-double"
name = {{ en = "Double coffee", ro = "Cafea dublă" }}
kind = "multiplier"
multiplier = "2.5"
categories = ["coffee"]
tiers = ["gold", "silver"]
partners = ["beanery"]
starts = {days(-5)}
ends = {days(5)}

[[campaigns]]
key = "soon-first"
name = "First of the month"
kind = "first_purchase_of_month"
points = 50
starts = {days(3)}
ends = {days(60)}
"""


def with_rates(text: str, day: date) -> str:
    """Partner conversion rates: SkyWays both ways (OUT with a fee and a minimum), The Beanery
    IN only (with a better rate dated in the future), Paper Lantern IN (two dated rates) and
    OUT only from a future date."""
    future = (day + timedelta(days=10)).isoformat()
    rates = {
        "skyways": """
[[partners.rates]]
direction = "IN"
partner_units = 1000
points = 250
effective_from = 2026-01-01

[[partners.rates]]
direction = "OUT"
points = 250
partner_units = 900
fee_percent = "2.5"
minimum_blocks = 2
effective_from = 2026-01-01
""",
        "beanery": f"""
[[partners.rates]]
direction = "IN"
partner_units = 10
points = 50
effective_from = 2026-01-01

[[partners.rates]]
direction = "IN"
partner_units = 10
points = 100
effective_from = {future}
""",
        "paper-lantern": f"""
[[partners.rates]]
direction = "IN"
partner_units = 100
points = 50
effective_from = 2025-01-01

[[partners.rates]]
direction = "IN"
partner_units = 100
points = 80
fee_percent = "1.5"
effective_from = 2026-01-01

[[partners.rates]]
direction = "OUT"
points = 100
partner_units = 100
effective_from = {future}
""",
    }
    for key, currency in (("skyways", "MILE"), ("beanery", "BEAN"), ("paper-lantern", "LEAF")):
        anchor = f'key = "{key}"\n'
        start = text.index(anchor)
        end = text.index(f'currency = "{currency}"\n', start) + len(f'currency = "{currency}"\n')
        text = text[:end] + rates[key] + text[end:]
    return text


def program_text() -> str:
    day = today()
    return with_rates(BASE_TEXT, day) + BADGES + RULED_REWARDS + campaigns_text(day)


def language(tag: str) -> dict[str, str]:
    return {"Accept-Language": tag}


# -- badges -----------------------------------------------------------------------------------

BADGE = "id key name description metric levels"


async def test_badges_are_the_programs_in_the_callers_language(api: API):
    await api.use_program(program_text())
    english = await api.gql(f"{{ badges {{ {BADGE} }} }}")
    assert english["badges"] == [
        {
            "id": ids.global_id("Badge", "regular"),
            "key": "regular",
            "name": "Regular",
            "description": "Shop with the partners",
            "metric": "purchases",
            "levels": [1, 10, 50],
        },
        {
            "id": ids.global_id("Badge", "critic"),
            "key": "critic",
            "name": "Critic",
            "description": None,
            "metric": "actions:REVIEW",
            "levels": [1, 5],
        },
    ]
    romanian = await api.gql("{ badges { key name description } }", as_=language("ro-RO"))
    assert romanian["badges"] == [
        {"key": "regular", "name": "Client fidel", "description": "Cumpără de la parteneri"},
        {"key": "critic", "name": "Criticul", "description": None},
    ]
    # A language the program does not speak falls back to the first one given.
    french = await api.gql("{ badges { name } }", as_=language("fr"))
    assert [b["name"] for b in french["badges"]] == ["Regular", "Critic"]


async def test_the_base_program_has_no_badges(api: API):
    assert await api.gql("{ badges { key } }") == {"badges": []}


async def test_a_badge_is_a_node(api: API):
    await api.use_program(program_text())
    query = f"query($id: ID!) {{ node(id: $id) {{ ... on Badge {{ {BADGE} }} }} }}"
    data = await api.gql(query, {"id": ids.global_id("Badge", "regular")}, as_=language("ro"))
    assert data["node"]["name"] == "Client fidel"
    assert data["node"]["levels"] == [1, 10, 50]
    unknown = await api.gql(query, {"id": ids.global_id("Badge", "nobody")})
    assert unknown == {"node": None}


# -- campaigns --------------------------------------------------------------------------------

CAMPAIGN = (
    "key name kind startsAt endsAt multiplier points tiers { key name } "
    "partners { key name } categories skus"
)


async def test_campaigns_running_and_upcoming_soonest_first_ended_ones_absent(api: API):
    await api.use_program(program_text())
    day = today()
    data = await api.gql(f"{{ campaigns {{ {CAMPAIGN} }} }}", as_=language("ro"))
    campaigns = data["campaigns"]
    assert [c["key"] for c in campaigns] == ["running-double", "soon-first", "later-bonus"]
    running, soon, later = campaigns
    assert running == {
        "key": "running-double",
        "name": "Cafea dublă",
        "kind": "MULTIPLIER",
        "startsAt": running["startsAt"],
        "endsAt": running["endsAt"],
        "multiplier": "2.5",
        "points": None,
        "tiers": [{"key": "silver", "name": "Argint"}, {"key": "gold", "name": "Aur"}],
        "partners": [{"key": "beanery", "name": "The Beanery"}],
        "categories": ["coffee"],
        "skus": [],
    }
    # Dates without a time are local midnights in the program's time zone.
    assert datetime.fromisoformat(running["startsAt"]) == local_midnight(day - timedelta(days=5))
    assert datetime.fromisoformat(running["endsAt"]) == local_midnight(day + timedelta(days=5))
    assert soon["kind"] == "FIRST_PURCHASE_OF_MONTH"
    assert soon["points"] == 50
    assert soon["multiplier"] is None
    assert soon["tiers"] == []
    assert soon["partners"] == []
    assert datetime.fromisoformat(soon["startsAt"]) == local_midnight(day + timedelta(days=3))
    assert later["kind"] == "BONUS"
    assert later["name"] == "Bonus mai târziu"
    assert later["points"] == 100
    assert later["skus"] == ["A-1", "B-2"]
    assert datetime.fromisoformat(later["endsAt"]) == local_midnight(day + timedelta(days=30))


async def test_campaigns_are_public_and_the_base_program_has_none(api: API):
    assert await api.gql("{ campaigns { key } }") == {"campaigns": []}
    await api.use_program(program_text())
    data = await api.gql("{ campaigns { key name } }")
    assert data["campaigns"][0] == {"key": "running-double", "name": "Double coffee"}


async def test_a_campaign_is_a_node_a_client_can_refetch(api: API):
    await api.use_program(program_text())
    data = await api.gql("{ campaigns { id key } }")
    running = data["campaigns"][0]
    assert running["id"] == ids.global_id("Campaign", "running-double")
    refetched = await api.gql(
        f"query($id: ID!) {{ node(id: $id) {{ id ... on Campaign {{ {CAMPAIGN} }} }} }}",
        {"id": running["id"]},
        as_=language("ro"),
    )
    listed = await api.gql(f"{{ campaigns {{ id {CAMPAIGN} }} }}", as_=language("ro"))
    assert refetched["node"] == listed["campaigns"][0]
    unknown = {"id": ids.global_id("Campaign", "nope")}
    assert await api.gql("query($id: ID!) { node(id: $id) { id } }", unknown) == {"node": None}


# -- rewards ----------------------------------------------------------------------------------


async def test_rewards_show_their_minimum_tier_and_limit_per_member(api: API):
    await api.use_program(program_text())
    data = await api.gql(
        "{ rewards(first: 100) { nodes { key minTier { id key name } "
        "limitPerMember { count period } } } }",
        as_=language("ro"),
    )
    rewards = {r["key"]: r for r in data["rewards"]["nodes"]}
    assert rewards["gold-suite"] == {
        "key": "gold-suite",
        "minTier": {"id": ids.global_id("Tier", "gold"), "key": "gold", "name": "Aur"},
        "limitPerMember": {"count": 3, "period": "WEEK"},
    }
    assert rewards["one-off"]["minTier"] is None
    assert rewards["one-off"]["limitPerMember"] == {"count": 1, "period": "LIFETIME"}
    assert rewards["coffee"]["minTier"] is None
    assert rewards["coffee"]["limitPerMember"] is None


# -- conversion quotes ------------------------------------------------------------------------

QUOTE = (
    "query($p: ID!, $d: TransferDirection!, $a: Int!) { conversionQuote(partnerId: $p, "
    "direction: $d, amount: $a) { partner { key name } direction amount points partnerAmount "
    "rate } }"
)


async def quote(api: API, partner: str, direction: str, amount: int) -> dict[str, Any]:
    data = await api.gql(QUOTE, {"p": partner_gid(partner), "d": direction, "a": amount})
    return data["conversionQuote"]


async def quote_error(api: API, partner_id: str, direction: str, amount: int) -> dict[str, Any]:
    body = await api.result(QUOTE, {"p": partner_id, "d": direction, "a": amount})
    assert body["data"] is None, body
    assert len(body["errors"]) == 1, body
    return body["errors"][0]


async def test_a_quote_in_converts_whole_blocks_of_the_partners_currency(api: API):
    await api.use_program(program_text())
    got = await quote(api, "skyways", "IN", 2500)
    # 1000 MILE make 250 points: two whole blocks; the 500 left over stay at SkyWays.
    assert got == {
        "partner": {"key": "skyways", "name": "SkyWays Airlines"},
        "direction": "IN",
        "amount": 2500,
        "points": 500,
        "partnerAmount": 2000,
        "rate": "250 points = 1000 MILE",
    }
    assert (await quote(api, "skyways", "IN", 1000))["points"] == 250
    # Less than one whole block (the minimum when a rate names none) is refused.
    error = await quote_error(api, partner_gid("skyways"), "IN", 999)
    assert error["extensions"]["code"] == "LIMIT_EXCEEDED"
    assert error["message"] == "Convert at least 1000 MILE, in blocks of 1000."


async def test_a_quote_in_takes_its_fee_from_the_points_rounded_down(api: API):
    await api.use_program(program_text())
    got = await quote(api, "paper-lantern", "IN", 350)
    # The 2026 rate (100 LEAF = 80 points, 1.5% fee), not the 2025 one: 240 x 0.985 = 236.4.
    assert got["points"] == 236
    assert got["partnerAmount"] == 300
    assert got["rate"] == "80 points = 100 LEAF, less 1.5% fee"


async def test_a_quote_out_converts_whole_blocks_of_points_less_the_fee(api: API):
    await api.use_program(program_text())
    got = await quote(api, "skyways", "OUT", 760)
    # 250 points make 900 MILE: three blocks = 2700 MILE, less 2.5% = 2632.5 -> 2632.
    assert got == {
        "partner": {"key": "skyways", "name": "SkyWays Airlines"},
        "direction": "OUT",
        "amount": 760,
        "points": 750,
        "partnerAmount": 2632,
        "rate": "250 points = 900 MILE, less 2.5% fee",
    }
    at_minimum = await quote(api, "skyways", "OUT", 500)
    assert (at_minimum["points"], at_minimum["partnerAmount"]) == (500, 1755)


async def test_a_quote_below_the_minimum_blocks_is_refused(api: API):
    await api.use_program(program_text())
    error = await quote_error(api, partner_gid("skyways"), "OUT", 499)
    assert error["extensions"]["code"] == "LIMIT_EXCEEDED"
    assert error["message"] == "Convert at least 500 points, in blocks of 250."
    assert error["path"] == ["conversionQuote"]


async def test_a_quote_for_an_unknown_partner_is_not_found(api: API):
    await api.use_program(program_text())
    error = await quote_error(api, partner_gid("nobody"), "IN", 1000)
    assert error["extensions"]["code"] == "NOT_FOUND"


async def test_a_quote_without_a_rate_in_that_direction_is_not_eligible(api: API):
    await api.use_program(program_text())
    error = await quote_error(api, partner_gid("beanery"), "OUT", 1000)
    assert error["extensions"]["code"] == "NOT_ELIGIBLE"
    # The base program's partners have no rates at all.
    await api.use_program(BASE_TEXT)
    error = await quote_error(api, partner_gid("skyways"), "IN", 1000)
    assert error["extensions"]["code"] == "NOT_ELIGIBLE"


async def test_a_rate_dated_in_the_future_is_not_used_yet(api: API):
    await api.use_program(program_text())
    # The Beanery's better IN rate starts in ten days: today 10 BEAN still make 50 points.
    got = await quote(api, "beanery", "IN", 25)
    assert (got["points"], got["partnerAmount"]) == (100, 20)
    assert got["rate"] == "50 points = 10 BEAN"
    # Paper Lantern's only OUT rate is not in force yet.
    error = await quote_error(api, partner_gid("paper-lantern"), "OUT", 1000)
    assert error["extensions"]["code"] == "NOT_ELIGIBLE"


async def test_a_quote_for_a_nonsensical_amount_is_invalid_input(api: API):
    await api.use_program(program_text())
    for amount in (0, -250):
        error = await quote_error(api, partner_gid("skyways"), "IN", amount)
        assert error["extensions"]["code"] == "INVALID_INPUT", amount
    error = await quote_error(api, ids.global_id("Reward", "coffee"), "IN", 1000)
    assert error["extensions"]["code"] == "INVALID_INPUT"


# -- purchases as nodes -----------------------------------------------------------------------

PURCHASE_NODE = (
    "query($id: ID!) { node(id: $id) { id ... on Purchase { orderId amount currency "
    "eligibleAmount points refundedAmount pointsClawedBack occurredAt "
    "transaction { id points breakdown { rule points } } } } }"
)


async def test_a_purchase_is_visible_to_its_member_the_recording_partner_and_the_operator(
    api: API,
):
    ana = await api.enroll("ana")
    await api.enroll("bea")
    beanery = await api.partner("beanery")
    recorded = await api.mutate(
        "recordPurchase",
        {
            "memberId": ana,
            "orderId": "BEAN-1001",
            "amount": "42.50",
            "currency": "RON",
            "tax": "6.50",
            "occurredAt": "2026-03-10T08:30:00Z",
            "idempotencyKey": "till-7-BEAN-1001",
        },
        "purchase { id } transaction { id }",
        as_=beanery,
    )
    assert recorded["userErrors"] == []
    purchase_id = recorded["purchase"]["id"]
    expected = {
        "id": purchase_id,
        "orderId": "BEAN-1001",
        "currency": "RON",
        "points": 36,
        "pointsClawedBack": 0,
        "transaction": {
            "id": recorded["transaction"]["id"],
            "points": 36,
            "breakdown": [{"rule": "base", "points": "36"}],
        },
    }
    for who, headers in (
        ("member", api.member("ana")),
        ("recording partner", beanery),
        ("operator", api.admin()),
    ):
        node = (await api.gql(PURCHASE_NODE, {"id": purchase_id}, as_=headers))["node"]
        assert node is not None, who
        amounts = {k: Decimal(node.pop(k)) for k in ("amount", "eligibleAmount", "refundedAmount")}
        assert amounts == {
            "amount": Decimal("42.50"),
            "eligibleAmount": Decimal(36),
            "refundedAmount": Decimal(0),
        }, who
        assert datetime.fromisoformat(node.pop("occurredAt")) == datetime(
            2026, 3, 10, 8, 30, tzinfo=UTC
        )
        assert node == expected, who


async def test_a_purchase_is_forbidden_to_everyone_else(api: API):
    ana = await api.enroll("ana")
    await api.enroll("bea")
    recorded = await api.purchase(ana, "100", as_=await api.partner("beanery"))
    purchase_id = recorded["purchase"]["id"]
    for who, headers in (
        ("another member", api.member("bea")),
        ("a partner that never dealt with the member", await api.partner("skyways")),
        ("anonymous", None),
    ):
        body = await api.result(PURCHASE_NODE, {"id": purchase_id}, as_=headers)
        assert body["data"] == {"node": None}, who
        assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"], who


async def test_an_unknown_purchase_is_null(api: API):
    data = await api.gql(PURCHASE_NODE, {"id": ids.global_id("Purchase", 424242)}, as_=api.admin())
    assert data == {"node": None}


async def test_leaderboards_lists_the_leaderboards_of_the_program_and_each_is_a_node(api: API):
    await api.use_program(
        BASE_PROGRAM.read_text()
        + '\n[[leaderboards]]\nkey = "points"\nname = { en = "Top earners", ro = "Top" }\n'
        'metric = "points_earned"\nperiods = ["ALL_TIME", "MONTH"]\n'
    )
    data = await api.gql("{ leaderboards { id key name metric periods } }")
    points = {
        "id": ids.global_id("LeaderboardDefinition", "points"),
        "key": "points",
        "name": "Top earners",
        "metric": "points_earned",
        "periods": ["ALL_TIME", "MONTH"],
    }
    assert data["leaderboards"] == [points]
    refetched = await api.gql(
        "query($id: ID!) { node(id: $id) { id ... on LeaderboardDefinition "
        "{ key name metric periods } } }",
        {"id": points["id"]},
        as_=language("ro"),
    )
    assert refetched["node"] == {**points, "name": "Top"}
    # The former name answers the same, for clients built before the rename.
    old = await api.gql("{ boards { id key name metric periods } }")
    assert old["boards"] == [points]
    unknown = ids.global_id("LeaderboardDefinition", "nope")
    assert await api.gql("query($id: ID!) { node(id: $id) { id } }", {"id": unknown}) == {
        "node": None
    }
