"""The GraphQL endpoint over HTTP: who is calling, and honest status codes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse
from strawberry.schema import BaseSchema

from domain.clock import Clock
from domain.program import Program
from partners.api_keys import KeyRing
from schema.auth import Credentials, Unauthenticated, identify
from schema.context import Context, preferred_language
from schema.loaders import Loaders


def is_request_error(data: Any) -> bool:
    """Parse, validation and variable errors stop a request before anything runs: no data,
    and errors with no path. Those are the caller's mistakes and get a 400."""
    if not isinstance(data, dict) or data.get("data") is not None:
        return False
    errors = data.get("errors") or []
    return bool(errors) and all(not e.get("path") for e in errors)


class GraphQLView(GraphQL[Context, None]):
    def __init__(
        self,
        schema: BaseSchema,
        *,
        credentials: Credentials,
        program: Callable[[], Program],
        clock: Callable[[], Clock],
        keys: KeyRing,
        graphiql: bool,
    ) -> None:
        super().__init__(schema, graphql_ide="graphiql" if graphiql else None)
        self.credentials = credentials
        self.program = program
        self.clock = clock
        self.keys = keys

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        clock = self.clock()
        try:
            caller = await identify(request.headers, self.credentials, self.keys, clock.now())
        except Unauthenticated as error:
            raise HTTPException(401, str(error)) from None
        program = self.program()
        loaders = Loaders(program, clock)
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
        )

    def parse_json(self, data: str | bytes) -> Any:
        # A body (or a GET request's variables or extensions) must be a UTF-8 JSON object (or a
        # list, for batches); anything else is the caller's mistake, a 400, never a crash in
        # the parser behind us.
        if isinstance(data, bytes):
            try:
                data = data.decode("utf-8")
            except UnicodeDecodeError:
                raise HTTPException(400, "The request body must be UTF-8 JSON.") from None
        try:
            parsed = super().parse_json(data)
        except RecursionError:
            raise HTTPException(400, "The request's JSON is nested too deeply.") from None
        if not isinstance(parsed, (dict, list)) or (
            isinstance(parsed, list) and not all(isinstance(item, dict) for item in parsed)
        ):
            raise HTTPException(400, "The request body must be a JSON object.")
        return parsed

    def create_response(
        self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse], sub_response: Response
    ) -> Response:
        response = super().create_response(response_data, sub_response)
        if is_request_error(response_data):
            response.status_code = 400
        return response
