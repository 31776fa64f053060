"""The HTTP face of the app: health, status codes for malformed requests, the body limit, query
limits, GraphiQL and introspection by environment, production settings, and languages.

These requests send no Accept header of their own (httpx sends `*/*`), so they are answered in
application/json, where a document that does not parse or validate, or variables that do not
fit, is a 200 with errors and no data (GraphQL over HTTP); tests/api/test_graphql_over_http.py
checks both media types."""

from __future__ import annotations

import re
import secrets
import tempfile
from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from app.asgi import create_app
from app.runtime import Runtime
from app.settings import DEV_ADMIN_API_KEY, DEV_JWT_SECRET, ConfigurationError, Settings
from schema.build import MAX_ALIASES, MAX_DEPTH, MAX_TOKENS
from schema.document_limits import MAX_NESTING
from tests.helpers import API, Stores

LIMIT = 1_048_576  # the default COALITION_MAX_BODY_BYTES: 1 MiB
# Far deeper than Python's recursion limit lets a recursive reader go.
DEEP = 100_000
JSON = {"content-type": "application/json"}

REAL_SECRETS = {
    "COALITION_JWT_SECRET": secrets.token_urlsafe(48),
    "COALITION_ADMIN_API_KEY": secrets.token_urlsafe(32),
}
PRODUCTION_ENV = {
    "COALITION_ENV": "production",
    "COALITION_DATA_DIR": tempfile.gettempdir(),
    # Named, as production requires; the tests hand the app their own stores.
    "COALITION_DATABASE_URL": "postgresql://loyalty@db.internal/loyalty",
    "COALITION_REDIS_URL": "redis://cache.internal:6379/0",
    **REAL_SECRETS,
}


def client_for(app: object) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://coalition.test")


def assert_refused_request(response: httpx.Response, status: int = 200) -> list[dict]:
    """A request error: nothing ran, so errors, each with its code, and no data entry at all;
    a 200 in application/json unless the request was not even a GraphQL request."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert "data" not in body, body
    assert body["errors"], body
    found = [e.get("extensions", {}).get("code") for e in body["errors"]]
    assert all(found), body
    assert "INTERNAL" not in found, body
    return body["errors"]


def codes(errors: list[dict]) -> list[str]:
    return [e["extensions"]["code"] for e in errors]


# -- health ------------------------------------------------------------------------------------


async def test_healthz_is_200(api: API):
    response = await api.client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_checks_sql_and_redis(api: API):
    response = await api.client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"ready": True, "sql": "ok", "redis": "ok"}


async def test_readyz_is_503_when_redis_cannot_be_reached(db: Stores, settings: Settings, tmp_path):
    nowhere = aioredis.Redis(
        unix_socket_path=str(tmp_path / "no-redis.sock"), retry=Retry(NoBackoff(), 0)
    )
    try:
        async with client_for(create_app(settings, Runtime(db.program, nowhere))) as client:
            response = await client.get("/readyz")
    finally:
        await nowhere.aclose()
    assert response.status_code == 503
    body = response.json()
    assert body["ready"] is False
    assert body["sql"] == "ok"
    assert body["redis"].startswith("unavailable")


@pytest.fixture
async def raw(db: Stores, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app as a real server would expose it: an exception that escapes the app is the
    500 Starlette already sent, not an exception raised into the test."""
    app = create_app(settings, Runtime(db.program, db.redis))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://coalition.test") as client:
        yield client


# -- malformed requests ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"{not json", id="not JSON"),
        pytest.param(b'{"query": "{ tiers { key } }"', id="truncated JSON"),
        pytest.param(b"", id="empty body"),
        pytest.param(b'"{ tiers { key } }"', id="a JSON string"),
        pytest.param(b"null", id="JSON null"),
        pytest.param(b"5", id="a JSON number"),
        pytest.param(b"[]", id="an empty JSON list"),
        pytest.param(b'{"variables": {}}', id="no query"),
        pytest.param(b'{"query": 5}', id="query not a string"),
        pytest.param(b'{"query": "{ tiers { key } }", "variables": "x"}', id="variables a string"),
        pytest.param(b"\xff\xfe{", id="not UTF-8"),
        pytest.param(b"[" * DEEP, id="100,000 nested lists"),
        pytest.param(b'{"a":' * DEEP, id="100,000 nested objects"),
        pytest.param(
            b'{"query": "{ tiers { key } }", "variables": {"v": '
            + b"[" * DEEP
            + b"]" * DEEP
            + b"}}",
            id="variables nested 100,000 deep",
        ),
        pytest.param(
            b'{"query": "{ tiers { key } }", "extensions": {"e": '
            + b'{"e":' * DEEP
            + b"1"
            + b"}" * DEEP
            + b"}}",
            id="extensions nested 100,000 deep",
        ),
    ],
)
async def test_a_body_that_is_not_a_graphql_request_is_a_400(
    raw: httpx.AsyncClient, content: bytes
):
    response = await raw.post("/graphql", content=content, headers=JSON)
    errors = assert_refused_request(response, 400)
    assert codes(errors) == ["BAD_REQUEST"], errors


@pytest.mark.parametrize("name", ["variables", "extensions"])
async def test_a_get_parameter_of_json_nested_too_deeply_is_a_400(raw: httpx.AsyncClient, name):
    # 5,000 levels: deeper than any recursive reader goes, and a URL httpx still sends.
    nested = "[" * 5_000 + "]" * 5_000
    response = await raw.get("/graphql", params={"query": "{ tiers { key } }", name: nested})
    errors = assert_refused_request(response, 400)
    assert codes(errors) == ["BAD_REQUEST"], errors
    assert "nested too deeply" in errors[0]["message"]


async def test_an_unknown_field_is_a_validation_error(api: API):
    errors = assert_refused_request(await api.post("{ tiers { key colour } }"))
    assert any("colour" in e["message"] for e in errors), errors
    assert set(codes(errors)) == {"GRAPHQL_VALIDATION_FAILED"}, errors


async def test_a_syntax_error_is_a_parse_error(api: API):
    errors = assert_refused_request(await api.post("{ tiers { key }"))
    assert any("Syntax Error" in e["message"] for e in errors), errors
    assert codes(errors) == ["GRAPHQL_PARSE_FAILED"], errors


async def test_a_variable_of_the_wrong_type_is_invalid_input(api: API):
    response = await api.post(
        "query($first: Int) { rewards(first: $first) { nodes { key } } }", {"first": "ten"}
    )
    errors = assert_refused_request(response)
    assert codes(errors) == ["INVALID_INPUT"], errors


async def test_a_valid_query_is_a_200_with_data(api: API):
    response = await api.post("{ tiers { key threshold } }")
    assert response.status_code == 200
    assert response.json() == {
        "data": {
            "tiers": [
                {"key": "bronze", "threshold": 0},
                {"key": "silver", "threshold": 2500},
                {"key": "gold", "threshold": 10000},
            ]
        }
    }


# -- the body limit ----------------------------------------------------------------------------


def padded_query(size: int) -> bytes:
    """A valid request of exactly `size` bytes: a small query padded with whitespace."""
    head, tail = b'{"query": "{ tiers { key } }', b'"}'
    return head + b" " * (size - len(head) - len(tail)) + tail


async def test_a_body_at_the_limit_is_served(raw: httpx.AsyncClient):
    response = await raw.post("/graphql", content=padded_query(LIMIT), headers=JSON)
    assert response.status_code == 200, response.text
    assert len(response.json()["data"]["tiers"]) == 3


async def test_a_declared_body_over_the_limit_is_a_413(raw: httpx.AsyncClient):
    response = await raw.post("/graphql", content=padded_query(LIMIT + 1), headers=JSON)
    assert response.request.headers["content-length"] == str(LIMIT + 1)
    errors = assert_refused_request(response, 413)
    assert codes(errors) == ["PAYLOAD_TOO_LARGE"], errors


async def stream(body: bytes, piece: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(body), piece):
        yield body[start : start + piece]


async def test_a_streamed_body_over_the_limit_without_content_length_is_a_413(
    raw: httpx.AsyncClient,
):
    response = await raw.post(
        "/graphql", content=stream(padded_query(LIMIT + 64 * 1024)), headers=JSON
    )
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    errors = assert_refused_request(response, 413)
    assert codes(errors) == ["PAYLOAD_TOO_LARGE"], errors


async def test_a_streamed_body_under_the_limit_is_served(raw: httpx.AsyncClient):
    response = await raw.post("/graphql", content=stream(padded_query(LIMIT - 1024)), headers=JSON)
    assert "content-length" not in response.request.headers
    assert response.status_code == 200, response.text
    assert len(response.json()["data"]["tiers"]) == 3


# -- query limits ------------------------------------------------------------------------------


def nested(depth: int, leaf: str = "id") -> str:
    query = leaf
    for _ in range(depth):
        query = f"deeper {{ {query} }}"
    return "{ " + query + " }"


async def test_a_query_deeper_than_the_limit_is_refused(api: API):
    errors = assert_refused_request(await api.post(nested(MAX_DEPTH + 2), as_=api.admin()))
    assert any("maximum operation depth" in e["message"] for e in errors), errors
    assert set(codes(errors)) == {"GRAPHQL_VALIDATION_FAILED"}, errors


async def test_the_deepest_query_the_schema_allows_is_served(api: API):
    # Nine levels: as deep as this schema goes, and within the limit.
    query = (
        "{ members { edges { node { redemptions { edges { node { reward { partner { id } } } } "
        "} } } } }"
    )
    body = await api.result(query, as_=api.admin())
    assert body == {"data": {"members": {"edges": []}}}


def aliased(count: int) -> str:
    return "{ " + " ".join(f"a{i}: __typename" for i in range(count)) + " }"


async def test_more_aliases_than_the_limit_are_refused(api: API):
    errors = assert_refused_request(await api.post(aliased(MAX_ALIASES + 1)))
    assert any("aliases" in e["message"] for e in errors), errors


async def test_aliases_up_to_the_limit_are_served(api: API):
    body = await api.result(aliased(MAX_ALIASES))
    assert body["data"] == {f"a{i}": "Query" for i in range(MAX_ALIASES)}


async def test_a_query_of_too_many_tokens_is_refused(api: API):
    query = "{ " + "__typename " * MAX_TOKENS + "}"
    errors = assert_refused_request(await api.post(query))
    assert any("token" in e["message"].lower() for e in errors), errors
    assert codes(errors) == ["GRAPHQL_PARSE_FAILED"], errors


def wrapped(levels: int, opening: str, inner: str, closing: str) -> str:
    return opening * levels + inner + closing * levels


def nesting(depth: int) -> dict[str, str]:
    """Documents whose brackets, braces and parentheses nest `depth` deep in all, by where."""
    inside = depth - 2  # within the operation's braces and the field's parentheses
    return {
        "lists in an argument": "{ rewards(first: "
        + wrapped(inside, "[", "1", "]")
        + ") { nodes { key } } }",
        "input objects": "mutation { recordAction(input: "
        + wrapped(inside, "{ a: ", "1", " }")
        + ") { userErrors { code } } }",
        "selections": "{ " + wrapped(depth - 1, "me { ", "id", " }") + " }",
        "a variable's type": "query($v: "
        + wrapped(depth - 1, "[", "Int", "]")
        + ") { tiers { key } }",
        "a variable's default": "query($v: [Int] = "
        + wrapped(depth - 1, "[", "1", "]")
        + ") { tiers { key } }",
    }


NESTINGS = list(nesting(1))


@pytest.mark.parametrize("where", NESTINGS)
@pytest.mark.parametrize("depth", [MAX_NESTING + 1, DEEP], ids=["one too deep", "100,000 deep"])
async def test_a_document_nested_too_deeply_is_refused_before_it_is_parsed(
    raw: httpx.AsyncClient, where: str, depth: int
):
    response = await raw.post("/graphql", json={"query": nesting(depth)[where]})
    errors = assert_refused_request(response)
    assert [e["extensions"]["code"] for e in errors] == ["QUERY_TOO_DEEP"], errors
    assert f"more than {MAX_NESTING} deep" in errors[0]["message"]


@pytest.mark.parametrize("where", NESTINGS)
async def test_a_document_nested_as_deep_as_the_limit_is_parsed_and_validated(api: API, where: str):
    errors = assert_refused_request(await api.post(nesting(MAX_NESTING)[where]))
    assert all(e.get("extensions", {}).get("code") != "QUERY_TOO_DEEP" for e in errors), errors


async def test_a_document_nested_too_deeply_is_refused_over_get_too(raw: httpx.AsyncClient):
    query = nesting(1_000)["lists in an argument"]
    errors = assert_refused_request(await raw.get("/graphql", params={"query": query}))
    assert [e["extensions"]["code"] for e in errors] == ["QUERY_TOO_DEEP"], errors


async def test_brackets_in_strings_and_comments_do_not_nest(api: API):
    deep = "[" * DEEP
    query = f'{{ member(externalId: "{deep}") {{ id }} }}\n# {deep}\n'
    body = await api.result(query, as_=api.admin())
    assert body["data"] == {"member": None}, body


async def test_a_mutation_over_get_is_refused_and_runs_nothing(api: API):
    ana = await api.enroll("ana")
    mutation = (
        f'mutation {{ adjustPoints(input: {{ memberId: "{ana}", points: 100, reason: "csrf", '
        'idempotencyKey: "get-1" }) { userErrors { code } } }'
    )
    response = await api.client.get("/graphql", params={"query": mutation}, headers=api.admin())
    errors = assert_refused_request(response, 405)
    assert codes(errors) == ["METHOD_NOT_ALLOWED"], errors
    assert response.headers["allow"] == "POST"
    assert await api.balance(ana) == 0


async def test_a_query_over_get_is_served(api: API):
    response = await api.client.get("/graphql", params={"query": "{ tiers { key } }"})
    assert response.status_code == 200
    assert [t["key"] for t in response.json()["data"]["tiers"]] == ["bronze", "silver", "gold"]


# -- development: GraphiQL and introspection ---------------------------------------------------


async def test_graphiql_is_served_to_a_browser_in_development(api: API):
    response = await api.client.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "graphiql" in response.text.lower()
    # Everything it loads comes from this server (tests/api/test_graphiql_browser.py runs it).
    assert "//" not in response.text, response.text
    assert "default-src 'self'" in response.headers["content-security-policy"]
    loads = re.findall(r'(?:src|href)="([^"]+)"', response.text)
    assets = [url for url in loads if not url.startswith("data:")]
    assert len(assets) == 5, loads
    for url in assets:
        assert url.startswith("/graphql/assets/"), url
        asset = await api.client.get(url)
        assert asset.status_code == 200, url
        kind = "text/css" if url.endswith(".css") else "text/javascript"
        assert asset.headers["content-type"].startswith(kind), (url, asset.headers)
        assert len(asset.content) > 100, url


@pytest.mark.parametrize("name", ["index.html", "LICENSE.react", "README.md", "..%2Fhttp.py", "x"])
async def test_graphiql_assets_are_only_its_own_files(api: API, name: str):
    response = await api.client.get(f"/graphql/assets/{name}")
    errors = assert_refused_request(response, 404)
    assert codes(errors) == ["NOT_FOUND"], errors


INTROSPECTION = "{ __schema { queryType { name } mutationType { name } } }"


async def test_introspection_works_in_development(api: API):
    body = await api.result(INTROSPECTION)
    assert body["data"]["__schema"] == {
        "queryType": {"name": "Query"},
        "mutationType": {"name": "Mutation"},
    }
    fields = await api.gql('{ __type(name: "Member") { fields { name } } }')
    assert "balance" in {f["name"] for f in fields["__type"]["fields"]}


# -- production --------------------------------------------------------------------------------


@pytest.fixture
async def production(db: Stores) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings.from_env(PRODUCTION_ENV)
    assert settings.production
    async with client_for(create_app(settings, Runtime(db.program, db.redis))) as client:
        yield client


def gql_body(query: str) -> dict:
    return {"query": query, "variables": {}}


async def test_production_serves_ordinary_queries(production: httpx.AsyncClient):
    response = await production.post("/graphql", json=gql_body("{ tiers { key } }"))
    assert response.status_code == 200
    assert [t["key"] for t in response.json()["data"]["tiers"]] == ["bronze", "silver", "gold"]


@pytest.mark.parametrize(
    "query",
    [
        pytest.param(INTROSPECTION, id="__schema"),
        pytest.param('{ __type(name: "Member") { fields { name } } }', id="__type"),
        pytest.param("{ tiers { key } __schema { types { name } } }", id="__schema beside data"),
    ],
)
async def test_production_refuses_introspection(production: httpx.AsyncClient, query: str):
    response = await production.post("/graphql", json=gql_body(query))
    errors = assert_refused_request(response)
    assert any("introspection" in e["message"].lower() for e in errors), errors


async def test_production_does_not_serve_graphiql(production: httpx.AsyncClient):
    response = await production.get("/graphql", headers={"accept": "text/html"})
    errors = assert_refused_request(response, 406)
    assert codes(errors) == ["NOT_ACCEPTABLE"], errors
    assert "graphiql" not in response.text.lower()
    response = await production.get("/graphql/assets/graphiql.min.js")
    assert_refused_request(response, 404)


async def test_production_keeps_the_query_limits(production: httpx.AsyncClient):
    response = await production.post("/graphql", json=gql_body(aliased(MAX_ALIASES + 1)))
    assert_refused_request(response)
    response = await production.post("/graphql", json=gql_body(nested(MAX_DEPTH + 2)))
    errors = assert_refused_request(response)
    assert any("maximum operation depth" in e["message"] for e in errors), errors


QUOTE = "conversionQuote(partnerId: $p, direction: $d, amount: 100) { points }"
# Each a near miss that graphql-core would answer with "Did you mean ...?", naming the schema.
NEAR_MISSES = [
    pytest.param("{ membr { id } }", {}, id="a misspelled field"),
    pytest.param("{ rewards(frist: 5) { nodes { key } } }", {}, id="a misspelled argument"),
    pytest.param(
        "query($p: LeaderboardPeriodd) { tiers { key } }",
        {},
        id="a misspelled type in a variable definition",
    ),
    pytest.param(
        f"query($p: ID!, $d: TransferDirection!) {{ {QUOTE} }}",
        {"p": "UGFydG5lcjpiZWFuZXJ5", "d": "INN"},
        id="a bad enum value in variables",
    ),
    pytest.param(
        '{ conversionQuote(partnerId: "UGFydG5lcjpiZWFuZXJ5", direction: INN, amount: 100) '
        "{ points } }",
        {},
        id="a bad enum value inline",
    ),
    pytest.param(
        "mutation($i: RecordActionInput!) { recordAction(input: $i) { userErrors { code } } }",
        {"i": {"externalId": "ana", "actoin": "REVIEW", "idempotencyKey": "k-1"}},
        id="a misspelled input field in variables",
    ),
    pytest.param(
        'mutation { recordAction(input: { externalId: "ana", actoin: "REVIEW", '
        'idempotencyKey: "k-1" }) { userErrors { code } } }',
        {},
        id="a misspelled input field inline",
    ),
]


@pytest.mark.parametrize(("query", "variables"), NEAR_MISSES)
async def test_production_suggests_nothing(
    production: httpx.AsyncClient, query: str, variables: dict
):
    response = await production.post("/graphql", json={"query": query, "variables": variables})
    errors = assert_refused_request(response)
    assert not any("did you mean" in e["message"].lower() for e in errors), errors


@pytest.mark.parametrize(("query", "variables"), NEAR_MISSES)
async def test_development_still_suggests(api: API, query: str, variables: dict):
    errors = assert_refused_request(await api.post(query, variables))
    assert any("Did you mean" in e["message"] for e in errors), errors


async def test_production_still_limits_the_body(production: httpx.AsyncClient):
    response = await production.post("/graphql", content=padded_query(LIMIT + 1), headers=JSON)
    errors = assert_refused_request(response, 413)
    assert codes(errors) == ["PAYLOAD_TOO_LARGE"], errors


@pytest.mark.parametrize(
    "env",
    [
        pytest.param({}, id="no secrets"),
        pytest.param(
            {"COALITION_JWT_SECRET": DEV_JWT_SECRET, "COALITION_ADMIN_API_KEY": DEV_ADMIN_API_KEY},
            id="the development secrets",
        ),
        pytest.param(
            {**REAL_SECRETS, "COALITION_JWT_SECRET": DEV_JWT_SECRET},
            id="the development JWT secret",
        ),
        pytest.param(
            {**REAL_SECRETS, "COALITION_ADMIN_API_KEY": DEV_ADMIN_API_KEY},
            id="the development admin key",
        ),
        pytest.param(
            {"COALITION_ADMIN_API_KEY": REAL_SECRETS["COALITION_ADMIN_API_KEY"]}, id="no JWT secret"
        ),
        pytest.param(
            {"COALITION_JWT_SECRET": REAL_SECRETS["COALITION_JWT_SECRET"]}, id="no admin key"
        ),
        pytest.param({**REAL_SECRETS, "COALITION_JWT_SECRET": "s" * 31}, id="a short JWT secret"),
        pytest.param({**REAL_SECRETS, "COALITION_ADMIN_API_KEY": "k" * 23}, id="a short admin key"),
        pytest.param({**REAL_SECRETS, "COALITION_JWT_SECRET": ""}, id="an empty JWT secret"),
    ],
)
def test_production_refuses_to_start_without_real_secrets(env: dict[str, str]):
    with pytest.raises(ConfigurationError):
        Settings.from_env({"COALITION_ENV": "production", **env})


def test_production_starts_with_real_secrets():
    settings = Settings.from_env(PRODUCTION_ENV)
    assert settings.production
    assert settings.jwt_secret == REAL_SECRETS["COALITION_JWT_SECRET"]
    assert settings.admin_api_key == REAL_SECRETS["COALITION_ADMIN_API_KEY"]


def test_an_unknown_environment_is_a_configuration_error():
    with pytest.raises(ConfigurationError):
        Settings.from_env({"COALITION_ENV": "staging", **REAL_SECRETS})


# -- languages ---------------------------------------------------------------------------------

NAMES = "{ tiers { key name benefits } rewards { nodes { key name description } } }"


async def names(api: API, accept_language: str | None) -> dict:
    headers = {} if accept_language is None else {"Accept-Language": accept_language}
    data = await api.gql(NAMES, as_=headers)
    tiers = {t["key"]: t for t in data["tiers"]}
    rewards = {r["key"]: r for r in data["rewards"]["nodes"]}
    return {"tiers": tiers, "rewards": rewards}


async def test_romanian_is_answered_in_romanian(api: API):
    got = await names(api, "ro")
    assert got["tiers"]["gold"]["name"] == "Aur"
    assert got["tiers"]["bronze"]["name"] == "Bronz"
    assert got["tiers"]["gold"]["benefits"][0] == "Acces în saloanele aeroportului"
    assert got["rewards"]["coffee"]["name"] == "Orice cafea la The Beanery"
    assert got["rewards"]["plant-a-tree"]["description"] == "Donăm unui proiect de reîmpădurire."


@pytest.mark.parametrize(
    ("accept_language", "gold"),
    [
        pytest.param(None, "Gold", id="no header"),
        pytest.param("", "Gold", id="empty header"),
        pytest.param("en", "Gold", id="en"),
        pytest.param("de", "Gold", id="unknown language"),
        pytest.param("xx-YY, zz;q=0.5", "Gold", id="only unknown languages"),
        pytest.param("*", "Gold", id="any language"),
        pytest.param(";;;,,,q=", "Gold", id="garbage"),
        pytest.param("ro-RO", "Aur", id="ro-RO"),
        pytest.param("de-DE, ro;q=0.8, en;q=0.5", "Aur", id="first spoken language wins"),
        pytest.param("en-GB, ro;q=0.5", "Gold", id="en-GB before ro"),
        pytest.param("RO", "Aur", id="tags are case-insensitive"),
        pytest.param("en;q=0.2, ro", "Aur", id="a higher q wins"),
    ],
)
async def test_the_language_is_the_callers_first_that_the_program_speaks(
    api: API, accept_language: str | None, gold: str
):
    got = await names(api, accept_language)
    assert got["tiers"]["gold"]["name"] == gold
    english = gold == "Gold"
    assert got["rewards"]["coffee"]["name"] == (
        "Any coffee at The Beanery" if english else "Orice cafea la The Beanery"
    )
