"""One error shape at every layer, and the media type a response is written in.

Whatever refuses a request (the body limit, the router, authentication, the GraphQL endpoint)
answers a GraphQL response: `{"errors": [{"message": ..., "extensions": {"code": ...}}]}`,
with the status the code stands for, in the media type the caller accepts (GraphQL over
HTTP: `application/graphql-response+json` when asked for, `application/json` otherwise).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import StrEnum
from functools import lru_cache

from cross_web import HTTPException
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
# What a client that sends no Accept header, or accepts anything, gets (GraphQL over HTTP's
# legacy rule): clients written before the new media type read it.
DEFAULT_MEDIA_TYPE = JSON

# Both credentials this API takes, so that a client told 401 learns how to authenticate.
AUTHENTICATE = 'Bearer realm="coalition", ApiKey realm="coalition", header="X-API-Key"'


class ErrorCode(StrEnum):
    """`extensions.code` of a top-level error: what a client switches on."""

    # The request is not a GraphQL request: bad JSON, no query, a batch, a bad parameter.
    BAD_REQUEST = "BAD_REQUEST"
    # Credentials were sent and are wrong (an unknown or revoked API key, a bad token).
    UNAUTHENTICATED = "UNAUTHENTICATED"
    NOT_FOUND = "NOT_FOUND"
    # The method is not one the path takes (`Allow` says which), or a mutation over GET.
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    # The Accept header names no media type this API answers in.
    NOT_ACCEPTABLE = "NOT_ACCEPTABLE"
    # The body is larger than COALITION_MAX_BODY_BYTES.
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    # A POST whose Content-Type is not application/json.
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    # The document is not GraphQL (a syntax error, or more tokens than the parser reads).
    GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
    # The document does not validate against the schema (an unknown field, a missing
    # argument, introspection in production, the depth and alias limits).
    GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
    # The document holds no operation of the name asked for, or several and no name.
    OPERATION_RESOLUTION_FAILURE = "OPERATION_RESOLUTION_FAILURE"
    # A variable's value does not fit its type (the same code as a userError's bad input).
    INVALID_INPUT = "INVALID_INPUT"
    # Documents refused before they are validated (schema.selection_limits and
    # schema.document_limits).
    QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
    QUERY_TOO_DEEP = "QUERY_TOO_DEEP"
    # A fault of ours; its message is masked in production.
    INTERNAL = "INTERNAL"
    # What is asked for depends on a store that cannot be reached now (live events on Redis);
    # asking again later may succeed.
    UNAVAILABLE = "UNAVAILABLE"


STATUS = {
    ErrorCode.BAD_REQUEST: 400,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.NOT_ACCEPTABLE: 406,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.INTERNAL: 500,
}
_CODE_BY_STATUS = {status: code for code, status in STATUS.items()}


def code_for_status(status: int) -> ErrorCode:
    if status in _CODE_BY_STATUS:
        return _CODE_BY_STATUS[status]
    return ErrorCode.INTERNAL if status >= 500 else ErrorCode.BAD_REQUEST


class Refused(HTTPException):
    """A request refused before any GraphQL runs, with its code and the headers that go with
    it (`Allow` on a 405, `WWW-Authenticate` on a 401). Strawberry's own refusals are plain
    HTTPExceptions; they get the code their status stands for."""

    def __init__(
        self, code: ErrorCode, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(STATUS[code], message)
        self.code = code
        self.headers = dict(headers or {})


def _media_ranges(accept: str) -> list[tuple[str, float]]:
    ranges = []
    for part in accept.split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if media:
            ranges.append((media.lower(), weight))
    return ranges


@lru_cache(maxsize=256)  # clients send a handful of distinct headers, on every request
def negotiate(accept: str | None) -> str | None:
    """The media type to answer in, by RFC 9110 content negotiation over the two this API
    writes; None when the header accepts neither (a 406). No header, or `*/*`, is
    application/json; application/graphql-response+json is chosen only when named, and wins
    a tie with application/json."""
    if accept is None or not accept.strip():
        return DEFAULT_MEDIA_TYPE
    if len(accept) > 1_000:
        accept = accept[:1_000]
    exact: dict[str, float] = {}
    wildcard = 0.0
    specificity = 0  # of the range application/json's weight comes from: 2 exact, 1 type/*
    for media, weight in _media_ranges(accept):
        if media in (GRAPHQL_RESPONSE, JSON):
            exact[media] = weight
        elif media == "application/*" and specificity <= 1:
            wildcard, specificity = weight, 1
        elif media == "*/*" and specificity == 0:
            wildcard = weight
    graphql_weight = exact.get(GRAPHQL_RESPONSE, 0.0)
    json_weight = exact.get(JSON, wildcard)
    if max(graphql_weight, json_weight) <= 0:
        return None
    return GRAPHQL_RESPONSE if graphql_weight >= json_weight else JSON


def error_body(code: ErrorCode | str, message: str) -> dict[str, object]:
    return {"errors": [{"message": message, "extensions": {"code": str(code)}}]}


def error_response(
    code: ErrorCode,
    message: str,
    *,
    media_type: str | None = None,
    headers: Mapping[str, str] | None = None,
    status: int | None = None,
) -> Response:
    """The response to a refused request: the error shape, the code's status, and the given
    media type (application/json when the caller accepts neither of ours)."""
    return Response(
        json.dumps(error_body(code, message)),
        status_code=STATUS.get(code, 400) if status is None else status,
        headers=dict(headers or {}),
        media_type=media_type or DEFAULT_MEDIA_TYPE,
    )


def refusal_response(error: HTTPException, media_type: str | None) -> Response:
    """The response to a Refused, or to one of strawberry's HTTPExceptions."""
    if isinstance(error, Refused):
        return error_response(
            error.code, error.reason, media_type=media_type, headers=error.headers
        )
    code = code_for_status(error.status_code)
    headers = {"Allow": "GET, POST"} if error.status_code == 405 else None
    return error_response(
        code, error.reason, media_type=media_type, headers=headers, status=error.status_code
    )


def _media_type_of(request: Request) -> str | None:
    return negotiate(request.headers.get("accept"))


async def http_exception(request: Request, error: Exception) -> Response:
    """Starlette's own refusals (no such path, a method the path does not take)."""
    assert isinstance(error, StarletteHTTPException)
    status = error.status_code
    code = code_for_status(status)
    headers = dict(error.headers or {})
    if status == 404:
        message = f"There is nothing at {request.url.path}: the API is at /graphql."
    elif status == 405:
        allowed = headers.get("Allow") or headers.get("allow") or ""
        message = f"{request.url.path} does not take {request.method}; it takes {allowed}."
    else:
        message = error.detail
    return error_response(
        code, message, media_type=_media_type_of(request), headers=headers, status=status
    )


async def internal_error(request: Request, error: Exception) -> Response:
    """A fault that escaped everything else (Starlette logs it and re-raises it)."""
    return error_response(
        ErrorCode.INTERNAL, "Internal server error.", media_type=_media_type_of(request)
    )


EXCEPTION_HANDLERS = {StarletteHTTPException: http_exception, Exception: internal_error}
