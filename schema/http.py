"""The GraphQL endpoint over HTTP, as the GraphQL-over-HTTP spec has it: who is calling, the
media type and the status of every answer, and GraphiQL served from the package itself."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from cross_web import AsyncHTTPRequestAdapter, HTTPException
from graphql import GraphQLError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData, GraphQLRequestProtocol
from strawberry.schema import BaseSchema
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UNSET, UnsetType

from domain.actors import ANONYMOUS
from domain.clock import Clock
from domain.program import Program
from gamification.leaderboards import Leaderboards
from gamification.progress import Progress
from gamification.watch import MemberEvents
from partners.api_keys import KeyRing
from schema.auth import Credentials, KnownMembers, Unauthenticated, identify
from schema.context import Context, preferred_language
from schema.http_errors import (
    AUTHENTICATE,
    DEFAULT_MEDIA_TYPE,
    GRAPHQL_RESPONSE,
    ErrorCode,
    Refused,
    negotiate,
    refusal_response,
)
from schema.loaders import Loaders
from schema.websocket import (
    HEARTBEAT_SECONDS,
    Socket,
    TransportWS,
    connection_credentials,
    refuse,
)

# GraphiQL and React, vendored with their licences (graphiql/README.md): the page loads
# nothing from any other host.
GRAPHIQL_DIR = Path(__file__).with_name("graphiql")
_JS = "text/javascript; charset=utf-8"
GRAPHIQL_ASSETS = {
    "graphiql.min.css": "text/css; charset=utf-8",
    "graphiql.min.js": _JS,
    "react.production.min.js": _JS,
    "react-dom.production.min.js": _JS,
    "start.js": _JS,
}
# The page loads and fetches from this origin only; inline styles are GraphiQL's own.
GRAPHIQL_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


async def graphiql_asset(request: Request) -> Response:
    """GET /graphql/assets/{name}: one of GraphiQL's files, from the package."""
    name = request.path_params["name"]
    if name not in GRAPHIQL_ASSETS:
        raise StarletteHTTPException(404)
    return FileResponse(
        GRAPHIQL_DIR / name,
        media_type=GRAPHIQL_ASSETS[name],
        headers={"Cache-Control": "public, max-age=3600"},
    )


def is_request_error(data: Any) -> bool:
    """Parse, validation, operation and variable errors stop a request before anything runs:
    no data, and errors with no path."""
    if not isinstance(data, dict) or data.get("data") is not None:
        return False
    errors = data.get("errors") or []
    return bool(errors) and all(not e.get("path") for e in errors)


def _is_internal(data: GraphQLHTTPResponse) -> bool:
    errors: list[Any] = data.get("errors") or []
    return any((e.get("extensions") or {}).get("code") == ErrorCode.INTERNAL for e in errors)


class GraphQLView(GraphQL[Context, None]):
    # Subscriptions, over graphql-transport-ws only (schema.websocket).
    graphql_transport_ws_handler_class = TransportWS
    websocket_adapter_class = Socket

    def __init__(
        self,
        schema: BaseSchema,
        *,
        credentials: Credentials,
        program: Callable[[], Program],
        clock: Callable[[], Clock],
        keys: KeyRing,
        graphiql: bool,
        live: Callable[[], MemberEvents | None] = lambda: None,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
        leaderboards: Callable[[], Leaderboards] | None = None,
        progress: Callable[[], Progress] | None = None,
    ) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if graphiql else None,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        )
        self.credentials = credentials
        self.program = program
        self.clock = clock
        self.keys = keys
        self.members = KnownMembers()
        self.live = live
        self.heartbeat_seconds = heartbeat_seconds
        self.leaderboards = leaderboards
        self.progress = progress

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive)
        media_type = negotiate(request.headers.get("accept"))
        request.state.media_type = media_type or DEFAULT_MEDIA_TYPE
        try:
            response = await self._answer(request, media_type)
        except HTTPException as error:
            response = refusal_response(error, media_type)
        await response(scope, receive, send)

    async def _answer(self, request: Request, media_type: str | None) -> Response:
        if request.method not in ("GET", "POST"):
            raise Refused(
                ErrorCode.METHOD_NOT_ALLOWED,
                f"/graphql takes GET (queries) and POST, not {request.method}.",
                {"Allow": "GET, POST"},
            )
        if not self.should_render_graphql_ide(self.request_adapter_class(request)):
            if media_type is None:
                raise Refused(
                    ErrorCode.NOT_ACCEPTABLE,
                    f"/graphql answers in {GRAPHQL_RESPONSE} or application/json; the Accept "
                    "header names neither.",
                )
            if request.method == "POST":
                content_type = request.headers.get("content-type", "")
                if content_type.split(";")[0].strip().lower() != "application/json":
                    raise Refused(
                        ErrorCode.UNSUPPORTED_MEDIA_TYPE,
                        "A POST to /graphql must have Content-Type: application/json"
                        + (f", not {content_type[:100]}." if content_type else "."),
                    )
        return await self.run(request)

    def should_render_graphql_ide(self, request: Any) -> bool:
        # Without GraphiQL (production), a GET without a query is a request without a query.
        return self.graphql_ide is not None and super().should_render_graphql_ide(request)

    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(
            (GRAPHIQL_DIR / "index.html").read_text(encoding="utf-8"),
            headers={"Content-Security-Policy": GRAPHIQL_POLICY},
        )

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        clock = self.clock()
        if isinstance(request, WebSocket):
            # Who is calling is known at connection_init (on_ws_connect).
            program = self.program()
            return Context(
                request=request,
                response=response,
                actor=ANONYMOUS,
                program=program,
                language=preferred_language(request.headers.get("accept-language"), program),
                loaders=Loaders(program, clock, self.progress() if self.progress else None),
                clock=clock,
                keys=self.keys,
                live=self.live(),
            )
        try:
            caller = await identify(
                request.headers, self.credentials, self.keys, self.members, clock.now()
            )
        except Unauthenticated as error:
            raise Refused(
                ErrorCode.UNAUTHENTICATED, str(error), {"WWW-Authenticate": AUTHENTICATE}
            ) from None
        program = self.program()
        loaders = Loaders(program, clock, self.progress() if self.progress else None)
        if caller.member is not None:
            loaders.members.prime(caller.member.id, caller.member)
        return Context(
            request=request,
            response=response,
            actor=caller.actor,
            program=program,
            language=preferred_language(request.headers.get("accept-language"), program),
            loaders=loaders,
            clock=clock,
            keys=self.keys,
            leaderboards=self.leaderboards() if self.leaderboards else None,
        )

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Who the websocket's caller is, from its connection_init payload or else its upgrade
        request; wrong credentials refuse the connection (schema.websocket)."""
        try:
            headers = connection_credentials(context.connection_params, context.request.headers)
            caller = await identify(
                headers, self.credentials, self.keys, self.members, context.clock.now()
            )
        except Unauthenticated as error:
            refuse(context, str(error))
            raise ConnectionRejectionError from None
        context.actor = caller.actor
        context.valid_until = caller.valid_until
        return UNSET

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub_response = await super().get_sub_response(request)
        sub_response.media_type = getattr(request.state, "media_type", DEFAULT_MEDIA_TYPE)
        return sub_response

    def parse_json(self, data: str | bytes) -> Any:
        # A body (or a GET request's variables or extensions) must be a UTF-8 JSON object (or a
        # list, which is refused as a batch); anything else is the caller's mistake, a 400,
        # never a crash in the parser behind us.
        if isinstance(data, bytes):
            try:
                data = data.decode("utf-8")
            except UnicodeDecodeError:
                raise Refused(
                    ErrorCode.BAD_REQUEST, "The request body must be UTF-8 JSON."
                ) from None
        try:
            parsed = super().parse_json(data)
        except RecursionError:
            raise Refused(
                ErrorCode.BAD_REQUEST, "The request's JSON is nested too deeply."
            ) from None
        except HTTPException:
            raise Refused(ErrorCode.BAD_REQUEST, "The request body is not valid JSON.") from None
        if not isinstance(parsed, (dict, list)) or (
            isinstance(parsed, list) and not all(isinstance(item, dict) for item in parsed)
        ):
            raise Refused(ErrorCode.BAD_REQUEST, "The request body must be a JSON object.")
        return parsed

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        parsed = await super().parse_http_body(request)
        if isinstance(parsed, GraphQLRequestData) and not isinstance(
            parsed.operation_name, (str, type(None))
        ):
            raise Refused(
                ErrorCode.BAD_REQUEST,
                "The GraphQL operation's `operationName` must be a string or null, if provided.",
            )
        return parsed

    def _validate_batch_request(
        self, request_data: list[GraphQLRequestData], protocol: GraphQLRequestProtocol
    ) -> None:
        raise Refused(
            ErrorCode.BAD_REQUEST,
            "Batched requests are not taken: send one operation per request.",
        )

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        try:
            return await super().execute_single(
                request=request,
                request_adapter=request_adapter,
                sub_response=sub_response,
                context=context,
                root_value=root_value,
                request_data=request_data,
            )
        except HTTPException as error:
            cause = error.__cause__
            if (
                isinstance(cause, InvalidOperationTypeError)
                and cause.operation_type is OperationType.SUBSCRIPTION
            ):
                raise Refused(
                    ErrorCode.BAD_REQUEST,
                    "Subscriptions are served over the websocket at /graphql "
                    "(graphql-transport-ws), not over HTTP.",
                ) from None
            if isinstance(cause, InvalidOperationTypeError) and request_adapter.method == "GET":
                raise Refused(
                    ErrorCode.METHOD_NOT_ALLOWED,
                    "Mutations are taken over POST only.",
                    {"Allow": "POST"},
                ) from None
            if isinstance(cause, CannotGetOperationTypeError):
                # The spec's "operation cannot be determined": a request error, answered as
                # a GraphQL response with the status of the media type.
                return ExecutionResult(
                    data=None,
                    errors=[
                        GraphQLError(
                            error.reason,
                            extensions={"code": ErrorCode.OPERATION_RESOLUTION_FAILURE.value},
                        )
                    ],
                )
            raise

    def create_response(
        self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse], sub_response: Response
    ) -> Response:
        media_type = sub_response.media_type or DEFAULT_MEDIA_TYPE
        request_error = is_request_error(response_data)
        if request_error:
            # Nothing ran: no data entry at all (GraphQL spec, "Response Format").
            assert isinstance(response_data, dict)
            response_data = {k: v for k, v in response_data.items() if k != "data"}  # type: ignore[assignment]
        response = super().create_response(response_data, sub_response)
        response.headers["content-type"] = media_type
        if request_error and media_type == GRAPHQL_RESPONSE:
            assert isinstance(response_data, dict)
            response.status_code = 500 if _is_internal(response_data) else 400
        return response
