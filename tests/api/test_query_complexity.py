"""Small documents that would cost seconds to validate are refused before validation, with
their own code, whatever fragments they hide behind; big honest queries still run; and while
hostile documents arrive, everyone else is still served."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from graphql import get_introspection_query

from schema.selection_limits import MAX_REPEATS, MAX_SELECTIONS
from tests.helpers import API, table_counts

TOO_COMPLEX = "QUERY_TOO_COMPLEX"
TIER = "tiers { key name threshold benefits id }"  # six selections
TIERS = {"data": {"tiers": [{"key": "bronze"}, {"key": "silver"}, {"key": "gold"}]}}
PARTNERS = {
    "data": {"partners": [{"key": "skyways"}, {"key": "beanery"}, {"key": "paper-lantern"}]}
}

# A member app's home screen in one request, the way a client built of fragments asks:
# 120 selections counted as the limit counts them.
DASHBOARD = """
query Dashboard {
  me {
    ...MemberHeader
    pendingPoints
    pointsOwed
    tier { current { ...TierCard } next { ...TierCard } progress pointsToNext }
    expiringPoints { amount expiresAt }
    transactions(first: 10) {
      edges {
        cursor
        node {
          id kind points balanceAfter description reference occurredAt createdAt
          breakdown { rule description points }
        }
      }
      pageInfo { hasNextPage endCursor }
    }
    redemptions(first: 5) {
      nodes { id code status points createdAt reward { id name pointsCost } }
    }
  }
  tiers { ...TierCard benefits }
  rewards(first: 20) {
    nodes {
      id key name description pointsCost stock
      partner { id name }
      minTier { key name }
      limitPerMember { count period }
    }
    pageInfo { hasNextPage endCursor }
  }
  partners { id key name currency }
  badges { id key name description metric levels }
  campaigns { key name kind startsAt endsAt multiplier points }
  leaderboards { key name metric periods }
}

fragment MemberHeader on Member { id externalId displayName balance lifetimePoints referralCode }
fragment TierCard on Tier { id key name threshold }
"""


def codes(errors: list[dict]) -> list[str | None]:
    return [e.get("extensions", {}).get("code") for e in errors]


async def refused(api: API, query: str) -> list[dict]:
    """A request error, as a client accepting application/graphql-response+json sees it."""
    response = await api.post(query, as_={"accept": "application/graphql-response+json"})
    assert response.status_code == 400, (response.status_code, response.text)
    body = response.json()
    assert "data" not in body, body
    return body["errors"]


def fragment_chain(length: int, end: str) -> str:
    links = " ".join(f"fragment F{i} on Query {{ ...F{i + 1} }}" for i in range(length))
    return f"{{ ...F0 }} {links} fragment F{length} on Query {{ {end} }}"


async def test_one_field_repeated_700_times_is_refused(api: API):
    errors = await refused(api, "{ " + "tiers { key } " * 700 + "}")
    assert codes(errors) == [TOO_COMPLEX], errors
    assert f"'tiers' more than {MAX_REPEATS} times" in errors[0]["message"]


async def test_repeats_count_across_fragments_and_repeated_parents(api: API):
    # No selection set repeats `key`, but the response's tiers would be answered nine times.
    query = "{ " + " ".join(f"tiers {{ ...T{i} }}" for i in range(MAX_REPEATS + 1)) + " } "
    query += " ".join(f"fragment T{i} on Tier {{ key }}" for i in range(MAX_REPEATS + 1))
    errors = await refused(api, query)
    assert codes(errors) == [TOO_COMPLEX], errors


async def test_a_field_repeated_as_often_as_allowed_is_served(api: API):
    assert await api.result("{ " + "tiers { key } " * MAX_REPEATS + "}") == TIERS


async def test_a_fragment_multiplied_by_its_spreads_is_refused(api: API):
    # Twenty fields written once, spread under 26 aliases: 26 x 22 + 20 = 592 selections.
    spreads = " ".join(f"t{i}: tiers {{ ...Tier }}" for i in range(26))
    fragment = "fragment Tier on Tier { " + " ".join(f"k{i}: key" for i in range(20)) + " }"
    assert MAX_SELECTIONS < 26 * 22 + 20
    errors = await refused(api, f"{{ {spreads} }} {fragment}")
    assert codes(errors) == [TOO_COMPLEX], errors
    assert f"more than {MAX_SELECTIONS} selections" in errors[0]["message"]


async def test_the_introspection_query_clients_send_is_served(api: API):
    # GraphiQL, code generators and IDEs all send it: a few hundred selections by this count.
    query = get_introspection_query(
        descriptions=True,
        input_value_deprecation=True,
        specified_by_url=True,
        directive_is_repeatable=True,
        schema_description=True,
    )
    data = await api.gql(query)
    assert data["__schema"]["queryType"]["name"] == "Query"


@pytest.mark.parametrize(
    ("query", "code"),
    [
        pytest.param(fragment_chain(600, "tiers { key }"), TOO_COMPLEX, id="a chain of 600"),
        pytest.param(
            fragment_chain(600, "...Nowhere"),
            "GRAPHQL_VALIDATION_FAILED",
            id="a chain of 600 to nowhere",
        ),
        pytest.param(
            "{ ...F0 } "
            + " ".join(f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(22))
            + " fragment F22 on Query { __typename }",
            TOO_COMPLEX,
            id="each spreading the next twice, 22 deep",
        ),
        pytest.param(
            "{ ...F0 } "
            + " ".join(
                f"fragment F{i} on Query {{ "
                + " ".join(f"...F{j}" for j in range(10) if j != i)
                + " }"
                for i in range(10)
            ),
            "GRAPHQL_VALIDATION_FAILED",
            id="ten fragments each spreading all the others",
        ),
        pytest.param(
            "{ ...A } fragment A on Query { tiers { key } ...A }",
            "GRAPHQL_VALIDATION_FAILED",
            id="self-spread",
        ),
        pytest.param("{ ...Missing }", "GRAPHQL_VALIDATION_FAILED", id="an unknown fragment"),
        pytest.param("{ tiers { } }", "GRAPHQL_VALIDATION_FAILED", id="an empty selection set"),
        pytest.param(
            "{ ...A } fragment A on Query { tiers { key } } "
            "fragment A on Query { partners { key } }",
            "GRAPHQL_VALIDATION_FAILED",
            id="two fragments of one name",
        ),
    ],
)
async def test_fragments_that_validation_cannot_walk_safely_are_refused_first(
    api: API, caplog: pytest.LogCaptureFixture, query: str, code: str
):
    caplog.set_level(logging.ERROR)
    errors = await refused(api, query)
    assert codes(errors) == [code], errors
    assert not caplog.records, caplog.text


async def test_a_short_fragment_chain_is_served(api: API):
    data = await api.gql(fragment_chain(5, "tiers { key }"))
    assert [t["key"] for t in data["tiers"]] == ["bronze", "silver", "gold"]


async def test_a_big_dashboard_query_is_served(api: API):
    await api.enroll("ana", displayName="Ana")
    body = await api.result(DASHBOARD, as_=api.member("ana"))
    assert body.get("errors") is None, body
    me = body["data"]["me"]
    assert (me["externalId"], me["displayName"], me["balance"]) == ("ana", "Ana", 0)
    assert me["tier"]["current"]["key"] == "bronze"
    assert [t["key"] for t in body["data"]["tiers"]] == ["bronze", "silver", "gold"]
    assert body["data"]["rewards"]["nodes"]


async def test_hostile_documents_are_refused_while_others_are_served_beside_them(api: API):
    calls: list[tuple[str, dict | None]] = []
    for n in range(8):
        # Each hostile document differs, so that no cache answers for it: each is checked.
        calls.append(("{ " + f"t{n}: tiers {{ key }} " + "tiers { key } " * 700 + "}", None))
        calls.append(("{ tiers { key } }", TIERS))
        calls.append(("{ partners { key } }", PARTNERS))

    answers = await asyncio.gather(*(api.post(query) for query, _ in calls))

    for (query, expected), response in zip(calls, answers, strict=True):
        if expected is None:
            # application/json: a request error is a 200 with no data.
            assert response.status_code == 200, response.text
            assert "data" not in response.json(), response.text
            assert codes(response.json()["errors"]) == [TOO_COMPLEX], response.text
        else:
            assert response.status_code == 200, response.text
            assert response.json() == expected, query


async def test_an_input_object_of_made_up_fields_is_refused_before_validation(api: API):
    # 1,600 unknown fields took 2.3 s to validate (each error prints the whole object).
    made_up = ", ".join(f"x{i}: 1" for i in range(1_600))
    query = (
        'mutation { recordPurchase(input: { orderId: "a", amount: "1", currency: "RON", '
        f'idempotencyKey: "k", {made_up} }}) {{ userErrors {{ code }} }} }}'
    )
    counts = await table_counts()
    errors = await refused(api, query)
    assert codes(errors) == [TOO_COMPLEX], errors
    assert "more than 50 fields" in errors[0]["message"]
    assert len(json.dumps(errors)) < 1_000
    # A list no input could take is refused the same way.
    errors = await refused(api, "{ tiers(x: [" + "1, " * 1_001 + "]) { key } }")
    assert codes(errors) == [TOO_COMPLEX], errors
    assert await table_counts() == counts


async def test_an_input_object_of_a_few_unknown_fields_still_gets_validation_errors(api: API):
    response = await api.post(
        'mutation { recordPurchase(input: { orderId: "a", amount: "1", currency: "RON", '
        'idempotencyKey: "k", nope: 1 }) { userErrors { code } } }'
    )
    assert response.status_code == 200
    [error] = response.json()["errors"]
    assert "unknown field 'nope'" in error["message"]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
