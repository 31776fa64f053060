"""Query.actions: the program's rewarded actions, public, in the caller's language, with their
points and limits as typed fields."""

from __future__ import annotations

from tests.helpers import API, BASE_PROGRAM, new_key

ACTIONS = """{ actions { key name points description caps { count period } cooldownMinutes
  pendingDays } }"""

LIMITS = {
    'key = "REVIEW"\nname = { en = "Write a product review", ro = "Scrie o recenzie" }\n': (
        'description = { en = "Review what you bought", ro = "Scrie despre ce ai cumpărat" }\n'
        "caps = { day = 3, month = 20 }\n"
    ),
    'key = "SOCIAL_SHARE"\nname = { en = "Share on social media", '
    'ro = "Distribuie pe rețelele sociale" }\npoints = 20\n': (
        "caps = { lifetime = 1 }\ncooldown_minutes = 90\n"
    ),
    'key = "SURVEY"\nname = { en = "Answer a survey", ro = "Răspunde la un sondaj" }\n'
    "points = 75\n": 'pending_days = 7\ndescription = "Five questions"\n',
}


def with_limits() -> str:
    text = BASE_PROGRAM.read_text()
    for anchor, extra in LIMITS.items():
        assert text.count(anchor) == 1, anchor
        text = text.replace(anchor, anchor + extra)
    return text


async def test_anyone_lists_the_actions_with_their_points_and_limits(api: API):
    await api.use_program(with_limits())
    data = await api.gql(ACTIONS)  # no credentials
    actions = {a["key"]: a for a in data["actions"]}
    # Every action of the program, in the file's order.
    assert list(actions) == [
        "REVIEW",
        "REFERRAL",
        "SOCIAL_SHARE",
        "EVENT_ATTENDANCE",
        "NEWSLETTER_SIGNUP",
        "BIRTHDAY",
        "APP_INSTALL",
        "SURVEY",
    ]
    assert actions["REVIEW"] == {
        "key": "REVIEW",
        "name": "Write a product review",
        "points": 50,
        "description": "Review what you bought",
        "caps": [{"count": 3, "period": "DAY"}, {"count": 20, "period": "MONTH"}],
        "cooldownMinutes": None,
        "pendingDays": 0,
    }
    assert actions["SOCIAL_SHARE"]["caps"] == [{"count": 1, "period": "LIFETIME"}]
    assert actions["SOCIAL_SHARE"]["cooldownMinutes"] == 90
    assert (actions["SURVEY"]["pendingDays"], actions["SURVEY"]["description"]) == (
        7,
        "Five questions",
    )
    assert actions["REFERRAL"] == {
        "key": "REFERRAL",
        "name": "Refer a friend",
        "points": 500,
        "description": None,
        "caps": [],
        "cooldownMinutes": None,
        "pendingDays": 0,
    }
    # Members, partners and the operator see the same.
    for caller in (api.member("ana"), await api.partner("beanery"), api.admin()):
        assert await api.gql(ACTIONS, as_=caller) == data


async def test_names_and_descriptions_follow_accept_language(api: API):
    await api.use_program(with_limits())
    response = await api.client.post(
        "/graphql", json={"query": ACTIONS}, headers={"Accept-Language": "ro-RO, en;q=0.5"}
    )
    actions = {a["key"]: a for a in response.json()["data"]["actions"]}
    assert actions["REVIEW"]["name"] == "Scrie o recenzie"
    assert actions["REVIEW"]["description"] == "Scrie despre ce ai cumpărat"
    assert actions["REFERRAL"]["name"] == "Recomandă un prieten"
    # A text in one language is the same in every one.
    assert actions["SURVEY"]["description"] == "Five questions"
    response = await api.client.post(
        "/graphql", json={"query": ACTIONS}, headers={"Accept-Language": "de"}
    )
    actions = {a["key"]: a for a in response.json()["data"]["actions"]}
    assert actions["REVIEW"]["name"] == "Write a product review"


async def test_the_limits_listed_are_the_ones_record_action_applies(api: API):
    await api.use_program(with_limits())
    ana = await api.enroll("ana")
    share = {a["key"]: a for a in (await api.gql(ACTIONS))["actions"]}["SOCIAL_SHARE"]
    assert share["caps"] == [{"count": 1, "period": "LIFETIME"}]
    codes = []
    for n in range(2):
        payload = await api.mutate(
            "recordAction",
            {
                "memberId": ana,
                "action": share["key"],
                "reference": f"s{n}",
                "idempotencyKey": new_key(),
            },
            "transaction { points }",
            as_=api.admin(),
        )
        codes.append([e["code"] for e in payload["userErrors"]] or payload["transaction"]["points"])
    assert codes == [share["points"], ["LIMIT_EXCEEDED"]]
