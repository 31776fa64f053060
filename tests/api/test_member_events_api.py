"""`memberEvents` over a real websocket (graphql-transport-ws) against the app served by uvicorn,
with the outbox fan-out running: who may watch whom, the four kinds of event, repeats, the
heartbeat, and one Redis connection for every subscriber of a worker."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import redis.asyncio as aioredis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from app.asgi import create_app
from app.runtime import Runtime
from app.settings import Settings
from domain.consumers import Runner
from gamification.fanout import Fanout, member_channel
from schema import ids
from tests.conftest import TEST_ENV
from tests.helpers import API, BASE_PROGRAM, member_gid
from tests.live import serving

WAIT = 10.0  # a bound on waiting for what should come at once, not a sleep
PROTOCOL = "graphql-transport-ws"

EVENTS = """
subscription($m: ID) {
  memberEvents(memberId: $m) {
    __typename
    ... on PointsChanged {
      balance pendingPoints delta member { externalId balance } transaction { id kind points }
    }
    ... on BadgeUnlocked { level badge { key name } member { externalId } }
    ... on TierChanged { from { key } to { key name } member { externalId } }
    ... on RankChanged { board period rank previousRank member { externalId } }
  }
}
"""


class Socket:
    """One graphql-transport-ws client connection."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.pings = 0

    async def init(self, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        await self.send({"type": "connection_init", "payload": payload or {}})
        return await self.receive()

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def receive(self, *, pings: bool = False) -> dict[str, Any]:
        """The next message; the server's pings are answered and skipped unless asked for."""
        while True:
            async with asyncio.timeout(WAIT):
                message = json.loads(await self.ws.recv())
            if message["type"] == "ping":
                self.pings += 1
                await self.send({"type": "pong"})
                if not pings:
                    continue
            return message

    async def refusal(self, op: str) -> dict[str, Any]:
        """The one error a refused subscription is answered with, in the error shape; then
        the subscription is complete."""
        message = await self.receive()
        assert (message["id"], message["type"]) == (op, "next"), message
        assert message["payload"]["data"] is None
        (error,) = message["payload"]["errors"]
        assert await self.receive() == {"id": op, "type": "complete"}
        return error

    async def subscribe(self, op: str, variables: dict[str, Any] | None = None) -> None:
        await self.send(
            {"id": op, "type": "subscribe", "payload": {"query": EVENTS, "variables": variables}}
        )


@asynccontextmanager
async def served(api: API, runtime: Runtime | None = None, **env: str) -> AsyncIterator[str]:
    """The app on a real port, with the fan-out publishing what the outbox holds."""
    settings = Settings.from_env({**TEST_ENV, **env})
    fanout = Runner(Fanout(api.runtime.redis, settings.redis_prefix))
    fanout.start()
    try:
        async with serving(create_app(settings, runtime or api.runtime)) as base:
            yield base.replace("http://", "ws://") + "/graphql"
    finally:
        await fanout.stop()


@asynccontextmanager
async def socket(url: str, **headers: str) -> AsyncIterator[Socket]:
    async with connect(url, subprotocols=[PROTOCOL], additional_headers=headers) as ws:  # type: ignore[list-item]
        yield Socket(ws)


async def until(check: Callable[[], Awaitable[bool]]) -> None:
    """Waits, within WAIT, until `check` holds."""
    async with asyncio.timeout(WAIT):
        while not await check():  # noqa: ASYNC110 - Redis has nothing to wait on
            await asyncio.sleep(0.02)


async def watched(api: API, member_id: int, count: int = 1) -> None:
    """Until the worker has subscribed to the member's channel in Redis."""
    channel = member_channel(api.settings.redis_prefix, member_id)

    async def subscribed() -> bool:
        return dict(await api.runtime.redis.pubsub_numsub(channel)).get(channel, 0) >= count

    await until(subscribed)


def number(global_id: str) -> int:
    return ids.int_key_of(global_id, "Member", "id")


async def publish(api: API, member_id: int, event_id: int, type_: str, **payload: Any) -> None:
    message = {
        "id": event_id,
        "type": type_,
        "memberId": member_id,
        "transactionId": None,
        "payload": {"memberId": member_id, **payload},
    }
    await api.runtime.redis.publish(
        member_channel(api.settings.redis_prefix, member_id), json.dumps(message)
    )


async def test_a_member_receives_points_changed_after_a_purchase_recorded_through_the_api(
    api: API,
) -> None:
    ana = await api.enroll("ana")
    async with served(api) as url, socket(url) as ws:
        assert (await ws.init({"authorization": f"Bearer {api.token('ana')}"})) == {
            "type": "connection_ack"
        }
        await ws.subscribe("1")
        await watched(api, number(ana))
        bought = await api.purchase(ana, "120")
        assert bought["userErrors"] == []

        message = await ws.receive()
        assert (message["type"], message["id"]) == ("next", "1")
        event = message["payload"]["data"]["memberEvents"]
        assert event == {
            "__typename": "PointsChanged",
            "balance": 120,
            "pendingPoints": 0,
            "delta": 120,
            "member": {"externalId": "ana", "balance": 120},
            "transaction": {"id": bought["transaction"]["id"], "kind": "EARN", "points": 120},
        }
        # The next event shows the member as it stands then, not as it was first read.
        await api.purchase(ana, "30")
        event = (await ws.receive())["payload"]["data"]["memberEvents"]
        assert (event["balance"], event["delta"], event["member"]["balance"]) == (150, 30, 150)


async def test_the_credentials_may_come_on_the_upgrade_request(api: API) -> None:
    ana = await api.enroll("ana")
    async with served(api) as url, socket(url, **api.member("ana")) as ws:
        assert (await ws.init())["type"] == "connection_ack"
        await ws.subscribe("1", {"m": ana})  # naming itself is allowed
        await watched(api, number(ana))
        await api.purchase(ana, "10")
        assert (await ws.receive())["payload"]["data"]["memberEvents"]["delta"] == 10


async def test_without_credentials_the_subscription_is_refused_unauthenticated(api: API) -> None:
    ana = await api.enroll("ana")
    async with served(api) as url, socket(url) as ws:
        assert (await ws.init())["type"] == "connection_ack"
        await ws.subscribe("1", {"m": ana})
        error = await ws.refusal("1")
        assert error["extensions"]["code"] == "UNAUTHENTICATED"
        assert "connection_init" in error["message"]
    channel = member_channel(api.settings.redis_prefix, number(ana))
    assert dict(await api.runtime.redis.pubsub_numsub(channel))[channel] == 0


async def test_wrong_credentials_refuse_the_connection_saying_why(api: API) -> None:
    await api.enroll("ana")
    forged = api.token("ana") + "x"
    async with served(api) as url:
        for payload in ({"authorization": f"Bearer {forged}"}, {"x-api-key": "no-such-key"}):
            async with socket(url) as ws:
                await ws.send({"type": "connection_init", "payload": payload})
                with pytest.raises(ConnectionClosed) as closed:
                    await ws.receive()
                assert closed.value.rcvd is not None
                assert closed.value.rcvd.code == 4403
                assert "not valid" in closed.value.rcvd.reason


async def test_a_member_asking_for_another_member_is_refused(api: API) -> None:
    await api.enroll("ana")
    bob = await api.enroll("bob")
    async with served(api) as url, socket(url) as ws:
        await ws.init({"authorization": f"Bearer {api.token('ana')}"})
        await ws.subscribe("1", {"m": bob})
        error = await ws.refusal("1")
        assert error["extensions"]["code"] == "FORBIDDEN"
        assert error["message"] == "A member can watch only its own events."
    channel = member_channel(api.settings.redis_prefix, number(bob))
    assert dict(await api.runtime.redis.pubsub_numsub(channel))[channel] == 0


async def test_the_operator_watches_any_member_it_names(api: API) -> None:
    ana = await api.enroll("ana")
    async with served(api) as url, socket(url) as ws:
        await ws.init({"X-API-Key": api.settings.admin_api_key})
        await ws.subscribe("missing")  # the operator has no events of its own
        assert (await ws.refusal("missing"))["extensions"]["code"] == "INVALID_INPUT"
        await ws.subscribe("nobody", {"m": member_gid(999_999)})
        error = await ws.refusal("nobody")
        assert error["extensions"]["code"] == "NOT_FOUND"

        await ws.subscribe("ana", {"m": ana})
        await watched(api, number(ana))
        await api.adjust(ana, 40, reason="goodwill")
        message = await ws.receive()
        assert message["id"] == "ana"
        event = message["payload"]["data"]["memberEvents"]
        assert (event["delta"], event["transaction"]["kind"]) == (40, "ADJUST")


async def test_partners_are_refused(api: API) -> None:
    ana = await api.enroll("ana")
    await api.purchase(ana, "50", as_=await api.partner("beanery"))  # it has dealt with ana
    async with served(api) as url, socket(url) as ws:
        await ws.init({"x-api-key": (await api.partner("beanery"))["X-API-Key"]})
        await ws.subscribe("1", {"m": ana})
        error = await ws.refusal("1")
        assert error["extensions"]["code"] == "FORBIDDEN"
        assert "Partners" in error["message"]


BADGE = """
[[badges]]
key = "regular"
name = { en = "Regular", ro = "Client fidel" }
metric = "purchases"
levels = [1, 10]
"""


async def test_badges_tiers_and_ranks_are_sent_and_nothing_else_nor_twice(api: API) -> None:
    await api.use_program(BASE_PROGRAM.read_text(encoding="utf-8") + BADGE)
    ana = await api.enroll("ana")
    member = number(ana)
    async with served(api) as url, socket(url, **{"Accept-Language": "ro"}) as ws:
        await ws.init({"authorization": f"Bearer {api.token('ana')}"})
        await ws.subscribe("1")
        await watched(api, member)
        await publish(api, member, 9_000_001, "purchase.recorded", orderId="A")  # not forwarded
        await publish(api, member, 9_000_002, "badge.unlocked", badge="regular", level=2)
        await publish(api, member, 9_000_002, "badge.unlocked", badge="regular", level=2)
        await publish(api, member + 1, 9_000_003, "tier.changed", toTier="gold")  # not ana's
        await publish(api, member, 9_000_004, "badge.unlocked", badge="gone", level=1)
        await publish(
            api, member, 9_000_005, "tier.changed", fromTier="bronze", toTier="silver", reason="x"
        )
        await publish(api, member, 9_000_006, "rank.changed", board="points", period="WEEK", rank=3)
        await publish(api, member, 9_000_007, "tier.changed", toTier=None)  # malformed
        await publish(
            api, member, 9_000_008, "rank.changed", board="points", period="ALL_TIME", rank=1,
            previousRank=2,
        )  # fmt: skip
        received = [(await ws.receive())["payload"]["data"]["memberEvents"] for _ in range(4)]
    assert received == [
        {
            "__typename": "BadgeUnlocked",
            "level": 2,
            "badge": {"key": "regular", "name": "Client fidel"},
            "member": {"externalId": "ana"},
        },
        {
            "__typename": "TierChanged",
            "from": {"key": "bronze"},
            "to": {"key": "silver", "name": "Argint"},
            "member": {"externalId": "ana"},
        },
        {
            "__typename": "RankChanged",
            "board": "points",
            "period": "WEEK",
            "rank": 3,
            "previousRank": None,
            "member": {"externalId": "ana"},
        },
        {
            "__typename": "RankChanged",
            "board": "points",
            "period": "ALL_TIME",
            "rank": 1,
            "previousRank": 2,
            "member": {"externalId": "ana"},
        },
    ]


async def test_every_subscriber_of_a_worker_shares_one_redis_connection(api: API) -> None:
    members = [await api.enroll(name) for name in ("ana", "bob", "cai")]
    async with served(api) as url:
        before = len(await api.runtime.redis.client_list(_type="pubsub"))
        async with (
            socket(url) as one,
            socket(url) as two,
            socket(url) as three,
            socket(url) as four,
        ):
            sockets = [one, two, three, four]
            for ws, watching in zip(sockets, [*members, members[0]], strict=True):
                await ws.init({"x-api-key": api.settings.admin_api_key})
                await ws.subscribe("1", {"m": watching})
            await watched(api, number(members[0]))
            for other in members[1:]:
                await watched(api, number(other))
            assert len(await api.runtime.redis.client_list(_type="pubsub")) == before + 1
            await api.purchase(members[0], "10")
            for ws in (one, four):  # both of ana's watchers
                assert (await ws.receive())["payload"]["data"]["memberEvents"]["delta"] == 10

        # The last subscriber gone, the worker lets its connection go.
        async def let_go() -> bool:
            return len(await api.runtime.redis.client_list(_type="pubsub")) == before

        await until(let_go)


async def test_the_server_sends_a_heartbeat(api: API) -> None:
    async with served(api, COALITION_WS_HEARTBEAT_SECONDS="1") as url, socket(url) as ws:
        await ws.init({"x-api-key": api.settings.admin_api_key})
        assert await ws.receive(pings=True) == {"type": "ping"}
        assert await ws.receive(pings=True) == {"type": "ping"}


async def test_queries_and_mutations_go_over_http_not_the_websocket(api: API) -> None:
    async with served(api) as url, socket(url) as ws:
        await ws.init({"x-api-key": api.settings.admin_api_key})
        await ws.send({"id": "q", "type": "subscribe", "payload": {"query": "{ tiers { key } }"}})
        message = await ws.receive()
        assert message["type"] == "error"
        (error,) = message["payload"]
        assert error["extensions"]["code"] == "BAD_REQUEST"
        assert "POST /graphql" in error["message"]


async def test_only_graphql_transport_ws_is_spoken(api: API) -> None:
    async with served(api) as url:
        async with connect(url, subprotocols=["graphql-ws"]) as ws:  # type: ignore[list-item]
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), WAIT)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4406


async def test_a_subscription_over_http_is_refused_pointing_to_the_websocket(api: API) -> None:
    for response in (
        await api.post(EVENTS, as_=api.member("ana")),
        await api.client.get("/graphql", params={"query": EVENTS}, headers=api.member("ana")),
    ):
        assert response.status_code == 400, response.text
        (error,) = response.json()["errors"]
        assert error["extensions"]["code"] == "BAD_REQUEST"
        assert "websocket" in error["message"]


async def test_a_members_connection_is_closed_when_its_token_expires(api: API) -> None:
    await api.enroll("ana")
    now = int(time.time())
    # Expired 28 s ago: accepted, within the 30 s of leeway, for 2 s more.
    token = api.token("ana", iat=now - 60, exp=now - 28)
    async with served(api) as url, socket(url) as ws:
        assert (await ws.init({"authorization": f"Bearer {token}"}))["type"] == "connection_ack"
        await ws.subscribe("1")
        with pytest.raises(ConnectionClosed) as closed:
            await ws.receive()
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
        4403,
        "The bearer token has expired: connect again with a new one.",
    )


async def test_without_redis_a_subscription_is_unavailable_and_says_so(api: API) -> None:
    ana = await api.enroll("ana")
    gone = aioredis.Redis(unix_socket_path="/nonexistent/redis.sock")
    try:
        async with served(api, Runtime(api.runtime.program, gone)) as url, socket(url) as ws:
            await ws.init({"x-api-key": api.settings.admin_api_key})
            await ws.subscribe("1", {"m": ana})
            error = await ws.refusal("1")
    finally:
        await gone.aclose()
    assert error["extensions"]["code"] == "UNAVAILABLE"
    assert "Redis cannot be reached" in error["message"]


async def test_a_browser_page_on_another_origin_is_refused_at_the_handshake(api: API) -> None:
    # No credential is a cookie, but the page's origin is held to this server's, as over HTTP
    # (there is no CORS): a member's web app is served from the API's origin.
    async with served(api) as url:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url, subprotocols=[PROTOCOL], origin="https://elsewhere.example"):  # type: ignore[arg-type]
                pass
        assert refused.value.response.status_code == 403
        async with connect(
            url,
            subprotocols=[PROTOCOL],
            origin=url.replace("ws://", "http://").removesuffix("/graphql"),
        ) as ws:
            assert (await Socket(ws).init())["type"] == "connection_ack"
