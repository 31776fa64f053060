"""The GraphQL endpoint over the websocket (graphql-transport-ws): the credentials a
connection carries, why one is refused, the heartbeat, and subscriptions only.

- Credentials come in the connection_init payload, `{"authorization": "Bearer <JWT>"}` or
  `{"x-api-key": "<key>"}` (names in any case); without either there, the upgrade request's
  Authorization or X-API-Key header.
- Wrong credentials refuse the connection: it is closed with 4403 and the reason says why. No
  credentials at all are acknowledged, and each subscription is then answered UNAUTHENTICATED
  in the error shape; so are other refusals (FORBIDDEN for another member's events).
- Every `heartbeat_seconds` the server sends a `ping`; clients answer `pong`.
- A member's connection is closed (4403) when its token expires, as a request with it would
  then be refused.
- Queries and mutations go to POST /graphql: over the websocket they are refused.
- A client that disconnects while an event is being sent to it ends its operations quietly.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

from graphql import GraphQLError, OperationDefinitionNode, parse
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ErrorMessage,
    SubscribeMessage,
)

from schema.auth import Unauthenticated
from schema.context import Context
from schema.http_errors import ErrorCode

# graphql-transport-ws: "the server wishes to reject the connection".
REFUSED = 4403
_CREDENTIALS = ("authorization", "x-api-key")
_MAX_TOKENS = 5_000
HEARTBEAT_SECONDS = 15.0
EXPIRED = "The bearer token has expired: connect again with a new one."
# A websocket close reason is at most 123 bytes of UTF-8.
_REASON_BYTES = 123


def connection_credentials(
    params: Mapping[str, object] | None, upgrade: Mapping[str, str]
) -> dict[str, str]:
    """The credentials of a connection, as the headers `schema.auth.identify` reads."""
    given = {
        str(name).lower(): value
        for name, value in (params or {}).items()
        if str(name).lower() in _CREDENTIALS
    }
    if given:
        if not all(isinstance(value, str) for value in given.values()):
            raise Unauthenticated("connection_init's authorization and x-api-key are strings.")
        return {name: str(value) for name, value in given.items()}
    return {name: upgrade[name] for name in _CREDENTIALS if upgrade.get(name)}


def refuse(context: Context, reason: str) -> None:
    """Remembers why the connection is refused, for the close frame to say."""
    context.request.state.refusal = reason


def _cut(reason: str) -> str:
    return reason.encode()[:_REASON_BYTES].decode(errors="ignore")


class Socket(ASGIWebSocketAdapter):
    async def close(self, code: int, reason: str) -> None:
        # Strawberry says "Forbidden" for any refused connection_init; ours says why.
        refusal = getattr(self.ws.state, "refusal", None)
        await super().close(code, _cut(refusal if code == REFUSED and refusal else reason))


def _operation_kind(query: Any, operation_name: Any) -> str | None:
    """Whether the operation asked for is a query, mutation or subscription; None when that
    cannot be told (strawberry then answers the request's mistake itself)."""
    if not isinstance(query, str):
        return None
    try:
        document = parse(query, max_tokens=_MAX_TOKENS)
    except GraphQLError:
        return None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name and o.name.value == operation_name]
    return operations[0].operation.value if len(operations) == 1 else None


class TransportWS(BaseGraphQLTransportWSHandler[Context, None]):
    _heartbeat: asyncio.Task[None] | None = None

    async def handle_connection_init(self, message: Any) -> None:
        await super().handle_connection_init(message)
        if self.connection_acknowledged and self._heartbeat is None:
            self._heartbeat = asyncio.create_task(self._beat(), name="websocket-heartbeat")

    async def _beat(self) -> None:
        """Pings every heartbeat; closes the connection when its credentials expire."""
        every = getattr(self.view, "heartbeat_seconds", HEARTBEAT_SECONDS)
        until = self.context.valid_until
        while True:
            left = (until - self.context.clock.now()).total_seconds() if until else every
            await asyncio.sleep(max(0.0, min(every, left)))
            try:
                if until is not None and self.context.clock.now() >= until:
                    await self.websocket.close(REFUSED, EXPIRED)
                    return
                await self.send_message({"type": "ping"})
            except Exception:  # the socket has gone: its handler is ending
                return

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        if self.connection_acknowledged:
            payload: Any = message.get("payload") or {}
            kind = _operation_kind(payload.get("query"), payload.get("operationName"))
            if kind in ("query", "mutation"):
                refusal = GraphQLError(
                    "Only subscriptions run over the websocket: send queries and mutations to "
                    "POST /graphql.",
                    extensions={"code": ErrorCode.BAD_REQUEST.value},
                )
                await self.send_message(
                    ErrorMessage(id=message["id"], type="error", payload=[refusal.formatted])
                )
                return
        await super().handle_subscribe(message)

    async def handle_task_exception(self, error: Exception) -> None:
        # A client that leaves while an event is on its way to it is no fault of ours: its
        # socket is gone and its handler ends; anything else is logged with its traceback.
        if isinstance(error, WebSocketDisconnected):
            return
        await super().handle_task_exception(error)

    async def shutdown(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
        await super().shutdown()
