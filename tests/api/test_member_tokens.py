"""Member tokens must expire, within the lifetime the server accepts, allowing for clock skew;
any other token is a 401 saying what is wrong with it."""

from __future__ import annotations

import time
from typing import Any

import httpx
import jwt
import pytest

from app.asgi import create_app
from app.runtime import Runtime
from app.settings import Settings
from schema.auth import CLOCK_LEEWAY_SECONDS
from tests.conftest import TEST_ENV
from tests.helpers import API, ManualClock, Stores

HOUR = 3600
ME = "{ me { externalId } }"


def bearer(secret: str, **claims: Any) -> dict[str, str]:
    token = jwt.encode({"sub": "ana", **claims}, secret, algorithm="HS256")
    return {"Authorization": f"Bearer {token}"}


async def me(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    return await client.post("/graphql", json={"query": ME}, headers=headers)


def assert_accepted(response: httpx.Response) -> None:
    assert response.status_code == 200, (response.status_code, response.text)
    assert response.json() == {"data": {"me": {"externalId": "ana"}}}


def assert_refused(response: httpx.Response, reason: str) -> None:
    assert response.status_code == 401, (response.status_code, response.text)
    assert reason in response.text, response.text


@pytest.fixture
async def ana(api: API) -> API:
    await api.enroll("ana")
    return api


async def test_a_token_without_exp_is_refused(ana: API):
    now = int(time.time())
    response = await me(ana.client, bearer(ana.settings.jwt_secret, iat=now))
    assert_refused(response, "the token has no exp")


async def test_a_token_living_longer_than_the_maximum_is_refused(ana: API):
    now = int(time.time())
    headers = bearer(ana.settings.jwt_secret, iat=now, exp=now + 24 * HOUR + 60)
    assert_refused(
        await me(ana.client, headers), "the token lives longer than the 24 hours this server"
    )


async def test_a_token_living_exactly_the_maximum_is_accepted(ana: API):
    now = int(time.time())
    headers = bearer(ana.settings.jwt_secret, iat=now, exp=now + 24 * HOUR)
    assert_accepted(await me(ana.client, headers))


async def test_without_iat_the_lifetime_counts_from_now(ana: API):
    now = int(time.time())
    secret = ana.settings.jwt_secret
    assert_refused(await me(ana.client, bearer(secret, exp=now + 25 * HOUR)), "lives longer")
    assert_accepted(await me(ana.client, bearer(secret, exp=now + 23 * HOUR)))


async def test_a_token_just_past_exp_but_within_the_clock_leeway_is_accepted(ana: API):
    now = int(time.time())
    headers = bearer(ana.settings.jwt_secret, iat=now - HOUR, exp=now - 5)
    assert_accepted(await me(ana.client, headers))


async def test_a_token_expired_beyond_the_clock_leeway_is_refused(ana: API):
    now = int(time.time())
    expired = now - CLOCK_LEEWAY_SECONDS - 60
    headers = bearer(ana.settings.jwt_secret, iat=expired - HOUR, exp=expired)
    assert_refused(await me(ana.client, headers), "expired")


async def test_a_token_issued_in_the_future_beyond_the_clock_leeway_is_refused(ana: API):
    now = int(time.time())
    issued = now + CLOCK_LEEWAY_SECONDS + 60
    headers = bearer(ana.settings.jwt_secret, iat=issued, exp=issued + HOUR)
    assert_refused(await me(ana.client, headers), "iat")


async def test_a_token_issued_a_little_ahead_of_our_clock_is_accepted(ana: API):
    now = int(time.time())
    headers = bearer(ana.settings.jwt_secret, iat=now + 5, exp=now + HOUR)
    assert_accepted(await me(ana.client, headers))


async def test_a_token_not_valid_before_a_moment_beyond_the_clock_leeway_is_refused(ana: API):
    now = int(time.time())
    headers = bearer(
        ana.settings.jwt_secret, iat=now, nbf=now + CLOCK_LEEWAY_SECONDS + 60, exp=now + HOUR
    )
    assert_refused(await me(ana.client, headers), "nbf")


async def test_token_times_are_read_by_the_apps_clock_not_the_systems(ana: API):
    """exp, iat and nbf against the injected clock: a token the system's time would take is
    expired at the app's, and one issued at the app's time is good however far from the
    system's that is."""
    secret = ana.settings.jwt_secret
    real = int(time.time())
    clock = ana.use_clock(ManualClock("2031-05-04T12:00:00+00:00"))
    assert_refused(await me(ana.client, bearer(secret, iat=real, exp=real + HOUR)), "expired")
    then = int(clock.now().timestamp())
    assert_accepted(await me(ana.client, bearer(secret, iat=then, exp=then + HOUR)))
    assert_refused(
        await me(ana.client, bearer(secret, iat=then, nbf=then + HOUR, exp=then + 2 * HOUR)),
        "nbf",
    )
    clock.advance(hours=2)
    assert_refused(await me(ana.client, bearer(secret, iat=then, exp=then + HOUR)), "expired")


@pytest.mark.parametrize(
    "claim", [{"exp": "soon"}, {"exp": True}, {"iat": "yesterday"}, {"nbf": [1]}]
)
async def test_a_time_claim_that_is_not_a_number_is_refused(ana: API, claim: dict[str, Any]):
    now = int(time.time())
    headers = bearer(ana.settings.jwt_secret, **{"iat": now, "exp": now + HOUR, **claim})
    assert_refused(await me(ana.client, headers), "must be a number of seconds")


@pytest.mark.parametrize(
    ("max_hours", "lifetime_hours", "accepted"),
    [
        pytest.param("48", 30, True, id="30 hours under a 48-hour maximum"),
        pytest.param("48", 49, False, id="49 hours over a 48-hour maximum"),
        pytest.param("1", 1, True, id="1 hour under a 1-hour maximum"),
        pytest.param("1", 2, False, id="2 hours over a 1-hour maximum"),
    ],
)
async def test_the_maximum_lifetime_is_configurable(
    ana: API, db: Stores, max_hours: str, lifetime_hours: int, accepted: bool
):
    settings = Settings.from_env({**TEST_ENV, "COALITION_JWT_MAX_LIFETIME_HOURS": max_hours})
    app = create_app(settings, Runtime(db.program, db.redis))
    transport = httpx.ASGITransport(app=app)
    now = int(time.time())
    headers = bearer(settings.jwt_secret, iat=now, exp=now + lifetime_hours * HOUR)
    async with httpx.AsyncClient(transport=transport, base_url="http://coalition.test") as client:
        response = await me(client, headers)
    if accepted:
        assert_accepted(response)
    else:
        hours = "1 hour" if max_hours == "1" else f"{max_hours} hours"
        assert_refused(response, f"longer than the {hours} this server accepts")
