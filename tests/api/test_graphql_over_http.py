"""GraphQL over HTTP (https://graphql.github.io/graphql-over-http/draft/), point by point, and
one error shape for every way a request can fail, under both response media types.

The same points as graphql-http's `auditServer` (tests/integration/test_graphql_http_audit.py
runs it where node is installed), and the failures that audit cannot make: bad credentials,
a body over the limit, unknown paths, wrong methods, a fault of ours.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.settings import Settings
from schema import http
from tests.helpers import API, table_counts
from tests.live import app_without_stores

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
MEDIA_TYPES = [pytest.param(GRAPHQL_RESPONSE, id="graphql-response+json"), pytest.param(JSON)]
LIMIT = 1_048_576


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app as a server exposes it (an exception that escapes it is the 500 it answers),
    with no stores behind it: these requests read the program and the schema only, so they
    run once, not once per database."""
    async with app_without_stores(settings) as app:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://coalition.test") as c:
            yield c


async def post(
    client: httpx.AsyncClient,
    body: Any = None,
    *,
    accept: str | None = JSON,
    content_type: str | None = JSON,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST /graphql; `accept` or `content_type` None sends no such header at all."""
    if content is None and body is not None:
        content = json.dumps(body).encode()
    request = client.build_request("POST", "/graphql", content=content, headers=headers or {})
    for name, value in (("accept", accept), ("content-type", content_type)):
        if value is None:
            request.headers.pop(name, None)
        else:
            request.headers[name] = value
    return await client.send(request)


async def get(
    client: httpx.AsyncClient, params: dict[str, str], accept: str = JSON, **headers: str
) -> httpx.Response:
    return await client.get("/graphql", params=params, headers={"accept": accept, **headers})


def media_type(response: httpx.Response) -> str:
    return response.headers["content-type"].split(";")[0].strip()


def assert_refused(response: httpx.Response, status: int, code: str, media: str = JSON) -> str:
    """A refusal before any GraphQL ran: exactly one error of exactly this shape; returns its
    message."""
    assert response.status_code == status, (response.status_code, response.text)
    assert media_type(response) == media, response.headers
    body = response.json()
    assert list(body) == ["errors"], body
    [error] = body["errors"]
    assert set(error) == {"message", "extensions"}, error
    assert error["extensions"] == {"code": code}, error
    assert isinstance(error["message"], str), error
    assert error["message"].strip(), error
    return error["message"]


def assert_request_error(response: httpx.Response, media: str, code: str) -> list[dict]:
    """A document or its variables refused before execution: no data entry, errors each with
    `code`; a 400 in application/graphql-response+json, a 200 in application/json."""
    assert response.status_code == (400 if media == GRAPHQL_RESPONSE else 200), response.text
    assert media_type(response) == media, response.headers
    body = response.json()
    assert list(body) == ["errors"], body
    assert body["errors"], body
    for error in body["errors"]:
        assert set(error) <= {"message", "locations", "extensions"}, error
        assert error["extensions"] == {"code": code}, error
    return body["errors"]


def assert_data(response: httpx.Response, media: str) -> dict:
    assert response.status_code == 200, (response.status_code, response.text)
    assert media_type(response) == media, response.headers
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


# -- media types -------------------------------------------------------------------------------

TYPENAME = {"query": "{ __typename }"}


@pytest.mark.parametrize(
    ("accept", "media"),
    [
        pytest.param(GRAPHQL_RESPONSE, GRAPHQL_RESPONSE, id="graphql-response+json"),
        pytest.param(JSON, JSON, id="json"),
        pytest.param("*/*", JSON, id="anything"),
        pytest.param(None, JSON, id="no Accept header"),
        pytest.param("", JSON, id="an empty Accept header"),
        pytest.param("application/*", JSON, id="application/*"),
        pytest.param(f"{GRAPHQL_RESPONSE}, {JSON};q=0.9", GRAPHQL_RESPONSE, id="the spec's advice"),
        pytest.param(f"{JSON}, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE, id="a tie"),
        pytest.param(f"{JSON}, {GRAPHQL_RESPONSE};q=0.5", JSON, id="json preferred"),
        pytest.param(f"{GRAPHQL_RESPONSE};q=0.5, */*;q=0.1", GRAPHQL_RESPONSE, id="over */*"),
        pytest.param(f"{JSON}; charset=utf-8", JSON, id="with a parameter"),
        pytest.param(f"text/html, {GRAPHQL_RESPONSE};q=0.8", GRAPHQL_RESPONSE, id="after html"),
        pytest.param("application/JSON", JSON, id="case-insensitive"),
    ],
)
async def test_the_answer_is_in_the_media_type_the_caller_prefers(
    client: httpx.AsyncClient, accept: str | None, media: str
):
    response = await post(client, TYPENAME, accept=accept)
    assert assert_data(response, media) == {"__typename": "Query"}


@pytest.mark.parametrize(
    "accept",
    [
        "text/html",
        "application/xml",
        "multipart/mixed",
        f"{JSON};q=0, {GRAPHQL_RESPONSE};q=0",
        f"{JSON};q=0, text/*",
    ],
)
async def test_an_accept_header_naming_neither_media_type_is_a_406(
    client: httpx.AsyncClient, accept: str
):
    response = await post(client, TYPENAME, accept=accept)
    message = assert_refused(response, 406, "NOT_ACCEPTABLE")
    assert GRAPHQL_RESPONSE in message


@pytest.mark.parametrize("media", MEDIA_TYPES)
async def test_utf8_in_and_out(client: httpx.AsyncClient, media: str):
    query = '{ __type(name: "Run🏃Swim🏊") { name } }'
    response = await post(
        client, {"query": query}, accept=media, content_type=f"{JSON}; charset=utf-8"
    )
    assert assert_data(response, media) == {"__type": None}
    response.content.decode("utf-8")


# -- the request -------------------------------------------------------------------------------


@pytest.mark.parametrize("media", MEDIA_TYPES)
@pytest.mark.parametrize(
    "content_type",
    [
        pytest.param(None, id="none"),
        pytest.param("text/plain;charset=UTF-8", id="text/plain"),
        pytest.param("application/x-www-form-urlencoded", id="a form"),
        pytest.param("multipart/form-data; boundary=x", id="multipart"),
        pytest.param(GRAPHQL_RESPONSE, id="the response type"),
        pytest.param("application/jsonx", id="a near miss"),
    ],
)
async def test_a_post_that_is_not_json_is_a_415(
    client: httpx.AsyncClient, media: str, content_type: str | None
):
    response = await post(client, TYPENAME, accept=media, content_type=content_type)
    message = assert_refused(response, 415, "UNSUPPORTED_MEDIA_TYPE", media)
    assert "application/json" in message


@pytest.mark.parametrize("media", MEDIA_TYPES)
async def test_a_get_query_with_variables_is_served(client: httpx.AsyncClient, media: str):
    params = {
        "query": "query Type($name: String!) { __type(name: $name) { name } }",
        "variables": json.dumps({"name": "Member"}),
    }
    response = await get(client, params, accept=media)
    assert assert_data(response, media) == {"__type": {"name": "Member"}}


@pytest.mark.parametrize("media", MEDIA_TYPES)
@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"query": "mutation { __typename }"}, id="a mutation"),
        pytest.param(
            {"query": "query Q { __typename } mutation M { __typename }", "operationName": "M"},
            id="the mutation of two operations",
        ),
    ],
)
async def test_a_mutation_over_get_is_a_405_that_allows_post(
    api: API, media: str, params: dict[str, str]
):
    response = await get(api.client, params, accept=media, **api.admin())
    message = assert_refused(response, 405, "METHOD_NOT_ALLOWED", media)
    assert response.headers["allow"] == "POST"
    assert "POST" in message


async def test_a_mutation_over_get_writes_nothing(api: API):
    before = await table_counts()
    mutation = 'mutation { enrollMember(input: { externalId: "ana" }) { userErrors { code } } }'
    response = await get(api.client, {"query": mutation}, **api.admin())
    assert_refused(response, 405, "METHOD_NOT_ALLOWED")
    assert await table_counts() == before


NOT_A_GRAPHQL_REQUEST = [
    pytest.param(None, id="no body"),
    pytest.param(b"{ not JSON", id="not JSON"),
    pytest.param(b"\xff\xfe{}", id="not UTF-8"),
    pytest.param(b"[" * 100_000, id="nested 100,000 deep"),
    pytest.param(b"42", id="a JSON number"),
    pytest.param({"notquery": "{ __typename }"}, id="no query"),
    pytest.param({"query": None}, id="a null query"),
    pytest.param({"query": ""}, id="an empty query"),
    *(
        pytest.param({"query": bad}, id=f"query {type(bad).__name__}")
        for bad in ({"obj": "ect"}, 0, False, ["array"])
    ),
    *(
        pytest.param({"query": "{ __typename }", "operationName": bad}, id=f"name {bad!r}")
        for bad in ({"obj": "ect"}, 0, False, ["array"])
    ),
    *(
        pytest.param({"query": "{ __typename }", "variables": bad}, id=f"variables {bad!r}")
        for bad in ("string", 0, False, ["array"])
    ),
    *(
        pytest.param({"query": "{ __typename }", "extensions": bad}, id=f"extensions {bad!r}")
        for bad in ("string", 0, False, ["array"])
    ),
]


@pytest.mark.parametrize("media", MEDIA_TYPES)
@pytest.mark.parametrize("body", NOT_A_GRAPHQL_REQUEST)
async def test_a_body_that_is_not_a_graphql_request_is_a_400(
    client: httpx.AsyncClient, media: str, body: Any
):
    if isinstance(body, bytes):
        response = await post(client, accept=media, content=body)
    else:
        response = await post(client, body, accept=media)
    assert_refused(response, 400, "BAD_REQUEST", media)


@pytest.mark.parametrize("media", MEDIA_TYPES)
async def test_a_batch_is_a_400(client: httpx.AsyncClient, media: str):
    response = await post(client, [TYPENAME, TYPENAME], accept=media)
    message = assert_refused(response, 400, "BAD_REQUEST", media)
    assert "one operation per request" in message


@pytest.mark.parametrize("media", MEDIA_TYPES)
@pytest.mark.parametrize("parameter", ["variables", "operationName", "extensions"])
async def test_null_parameters_are_taken(client: httpx.AsyncClient, media: str, parameter: str):
    response = await post(client, {**TYPENAME, parameter: None}, accept=media)
    assert assert_data(response, media) == {"__typename": "Query"}


@pytest.mark.parametrize("media", MEDIA_TYPES)
async def test_an_operation_name_and_extensions_are_taken(client: httpx.AsyncClient, media: str):
    body = {
        "query": "query A { a: __typename } query B { b: __typename }",
        "operationName": "B",
        "extensions": {"some": "value"},
    }
    assert assert_data(await post(client, body, accept=media), media) == {"b": "Query"}


# -- the response ------------------------------------------------------------------------------


@pytest.mark.parametrize("media", MEDIA_TYPES)
@pytest.mark.parametrize(
    "query", ["{", "{ tiers { key }", "query { ... }", "}", "{ 8f31403dfe404bccbb0e835f2629c6a7 }"]
)
async def test_a_document_that_does_not_parse(client: httpx.AsyncClient, media: str, query: str):
    errors = assert_request_error(
        await post(client, {"query": query}, accept=media), media, "GRAPHQL_PARSE_FAILED"
    )
    assert errors[0]["message"].startswith("Syntax Error"), errors


@pytest.mark.parametrize("media", MEDIA_TYPES)
@pytest.mark.parametrize(
    "query",
    [
        "{ tiers { key colour } }",
        "{ tiers }",
        "{ rewards(frist: 5) { nodes { key } } }",
        "query($v: Int) { tiers { key } }",
        "{ __typename ...F }",
    ],
)
async def test_a_document_that_does_not_validate(client: httpx.AsyncClient, media: str, query: str):
    assert_request_error(
        await post(client, {"query": query}, accept=media), media, "GRAPHQL_VALIDATION_FAILED"
    )


@pytest.mark.parametrize("media", MEDIA_TYPES)
async def test_the_validation_code_is_given_to_a_cached_result_too(
    client: httpx.AsyncClient, media: str
):
    # The second request is validated by the cache: the same errors, the same code.
    for _ in range(2):
        assert_request_error(
            await post(client, {"query": "{ nothing }"}, accept=media),
            media,
            "GRAPHQL_VALIDATION_FAILED",
        )


@pytest.mark.parametrize("media", MEDIA_TYPES)
async def test_limits_keep_their_own_codes(client: httpx.AsyncClient, media: str):
    too_complex = "{ " + "tiers { key } " * 700 + "}"
    assert_request_error(
        await post(client, {"query": too_complex}, accept=media), media, "QUERY_TOO_COMPLEX"
    )
    too_deep = "{ rewards(first: " + "[" * 100 + "1" + "]" * 100 + ") { nodes { key } } }"
    assert_request_error(
        await post(client, {"query": too_deep}, accept=media), media, "QUERY_TOO_DEEP"
    )


@pytest.mark.parametrize("media", MEDIA_TYPES)
@pytest.mark.parametrize(
    ("query", "variables"),
    [
        pytest.param("query($id: ID!) { member(id: $id) { id } }", {"id": None}, id="null"),
        pytest.param("query($id: ID!) { member(id: $id) { id } }", {}, id="missing"),
        pytest.param(
            "query($first: Int) { rewards(first: $first) { nodes { key } } }",
            {"first": "ten"},
            id="a string for an Int",
        ),
        pytest.param(
            "query($d: TransferDirection!) { conversionQuote(partnerId: "
            '"UGFydG5lcjpiZWFuZXJ5", direction: $d, amount: 100) { points } }',
            {"d": "SIDEWAYS"},
            id="an enum",
        ),
    ],
)
async def test_variables_that_do_not_coerce(
    client: httpx.AsyncClient, media: str, query: str, variables: dict
):
    body = {"query": query, "variables": variables}
    assert_request_error(await post(client, body, accept=media), media, "INVALID_INPUT")


@pytest.mark.parametrize("media", MEDIA_TYPES)
@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"query": "query A { __typename }", "operationName": "B"}, id="unknown"),
        pytest.param({"query": "query A { a: __typename } query B { b: __typename }"}, id="which"),
    ],
)
async def test_an_operation_that_cannot_be_determined(
    client: httpx.AsyncClient, media: str, body: dict
):
    assert_request_error(
        await post(client, body, accept=media), media, "OPERATION_RESOLUTION_FAILURE"
    )


@pytest.mark.parametrize("media", MEDIA_TYPES)
async def test_field_errors_beside_data_are_a_200(client: httpx.AsyncClient, media: str):
    response = await post(client, {"query": "{ tiers { key } member(id: 5) { id } }"}, accept=media)
    assert response.status_code == 200, response.text
    assert media_type(response) == media
    body = response.json()
    assert body["data"]["tiers"], body
    assert body["errors"][0]["path"] == ["member"], body
    # A non-null field's error that nulls the whole of data still ran: a 200 with data null.
    response = await post(client, {"query": "{ members { edges { node { id } } } }"}, accept=media)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["data"] is None, body
    assert body["errors"][0]["path"] == ["members"], body
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", body


# -- the other failures, in the same shape -----------------------------------------------------


@pytest.mark.parametrize("media", MEDIA_TYPES)
@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"X-API-Key": "not-a-key"}, id="an unknown API key"),
        pytest.param({"Authorization": "Bearer not.a.token"}, id="a bad token"),
        pytest.param({"Authorization": "Basic dXNlcjpwYXNz"}, id="another scheme"),
    ],
)
async def test_bad_credentials_are_a_401_that_says_how_to_authenticate(
    client: httpx.AsyncClient, media: str, headers: dict[str, str]
):
    response = await post(client, TYPENAME, accept=media, headers=headers)
    assert_refused(response, 401, "UNAUTHENTICATED", media)
    challenge = response.headers["www-authenticate"]
    assert 'Bearer realm="coalition"' in challenge, challenge
    assert "X-API-Key" in challenge, challenge


@pytest.mark.parametrize("media", MEDIA_TYPES)
async def test_a_body_over_the_limit_is_a_413(client: httpx.AsyncClient, media: str):
    content = b'{"query": "{ __typename }' + b" " * LIMIT + b'"}'
    response = await post(client, accept=media, content=content)
    message = assert_refused(response, 413, "PAYLOAD_TOO_LARGE", media)
    assert str(LIMIT) in message


async def test_a_content_length_that_is_not_a_number_is_a_400(settings: Settings):
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"many")],
        "client": ("127.0.0.1", 1),
        "server": ("coalition.test", 80),
    }
    async with app_without_stores(settings) as app:
        await app(scope, receive, send)
    start, body = sent[0], b"".join(m.get("body", b"") for m in sent[1:])
    assert start["status"] == 400
    assert (b"content-type", b"application/json") in start["headers"]
    assert json.loads(body)["errors"][0]["extensions"] == {"code": "BAD_REQUEST"}


@pytest.mark.parametrize("media", MEDIA_TYPES)
@pytest.mark.parametrize("path", ["/", "/graphq", "/graphql/x", "/api/graphql", "/healthz/x"])
async def test_an_unknown_path_is_a_404(client: httpx.AsyncClient, media: str, path: str):
    response = await client.get(path, headers={"accept": media})
    message = assert_refused(response, 404, "NOT_FOUND", media)
    assert "/graphql" in message


@pytest.mark.parametrize("media", MEDIA_TYPES)
@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/graphql", "GET, POST"),
        ("DELETE", "/graphql", "GET, POST"),
        ("PATCH", "/graphql", "GET, POST"),
        ("OPTIONS", "/graphql", "GET, POST"),
        ("POST", "/healthz", "GET, HEAD"),
        ("DELETE", "/readyz", "GET, HEAD"),
    ],
)
async def test_a_method_a_path_does_not_take_is_a_405_with_allow(
    client: httpx.AsyncClient, media: str, method: str, path: str, allow: str
):
    response = await client.request(method, path, headers={"accept": media})
    assert_refused(response, 405, "METHOD_NOT_ALLOWED", media)
    assert sorted(response.headers["allow"].split(", ")) == sorted(allow.split(", "))


@pytest.mark.parametrize("media", MEDIA_TYPES)
async def test_a_fault_of_ours_is_a_500_in_the_same_shape(
    client: httpx.AsyncClient, media: str, monkeypatch: pytest.MonkeyPatch
):
    async def broken(*_: object) -> None:
        raise RuntimeError("the database caught fire")

    monkeypatch.setattr(http, "identify", broken)
    response = await post(client, TYPENAME, accept=media)
    message = assert_refused(response, 500, "INTERNAL", media)
    assert "fire" not in message
