"""Partner API keys the operator lists and revokes: a revoked key gets 401 from the next
request on in the worker that revoked it, and within COALITION_KEY_REVOCATION_MS in every
other (here: two apps, or two key rings, over the same stores); rotation is create, then
revoke."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from app.asgi import create_app
from app.runtime import Runtime
from partners.api_keys import KeyRing
from schema import ids
from tests.helpers import API, ManualClock, partner_gid, table_counts

KEY = "id prefix createdAt lastUsedAt revokedAt partner { key }"
LIST = f"query($p: ID!) {{ partnerApiKeys(partnerId: $p) {{ {KEY} }} }}"


async def create(api: API, partner: str) -> dict[str, Any]:
    payload = await api.mutate(
        "createPartnerApiKey",
        {"partnerId": partner_gid(partner)},
        f"apiKey partnerApiKey {{ {KEY} }}",
        as_=api.admin(),
    )
    assert payload["userErrors"] == [], payload
    return payload


async def revoke(api: API, key_id: str, as_: dict[str, str] | None = None) -> dict[str, Any]:
    return await api.mutate(
        "revokePartnerApiKey", {"id": key_id}, f"partnerApiKey {{ {KEY} }}", as_=as_
    )


async def status(client: httpx.AsyncClient, raw: str) -> int:
    response = await client.post(
        "/graphql", json={"query": "{ partners { key } }"}, headers={"X-API-Key": raw}
    )
    return response.status_code


@pytest.fixture
async def other_worker(api: API) -> AsyncIterator[httpx.AsyncClient]:
    """A second app over the same SQL and Redis, as another worker process would be, set to
    learn of revocations on every request."""
    settings = replace(api.settings, key_revocation_ms=0)
    app = create_app(settings, Runtime(api.runtime.program, api.stores.redis, api.runtime.clock))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://worker-2.test") as client:
        yield client


async def test_the_operator_lists_a_partners_keys_newest_first_without_the_secret(api: API):
    clock = api.use_clock(ManualClock("2026-06-01T10:00:00+00:00"))
    first = await create(api, "beanery")
    clock.advance(hours=1)
    second = await create(api, "beanery")
    await create(api, "skyways")

    listed = (await api.gql(LIST, {"p": partner_gid("beanery")}, as_=api.admin()))["partnerApiKeys"]
    assert listed == [second["partnerApiKey"], first["partnerApiKey"]]
    newest = listed[0]
    assert newest["prefix"] == second["apiKey"][:10]
    assert datetime.fromisoformat(newest["createdAt"]) == datetime.fromisoformat(
        "2026-06-01T11:00:00+00:00"
    )
    assert newest["lastUsedAt"] is None
    assert newest["revokedAt"] is None
    # Nothing in the type could carry the key or its digest.
    fields = await api.gql('{ __type(name: "PartnerApiKey") { fields { name } } }')
    assert {f["name"] for f in fields["__type"]["fields"]} == {
        "id", "prefix", "createdAt", "lastUsedAt", "revokedAt", "partner"
    }  # fmt: skip

    clock.advance(minutes=5)
    assert await status(api.client, first["apiKey"]) == 200
    used = (await api.gql(LIST, {"p": partner_gid("beanery")}, as_=api.admin()))["partnerApiKeys"]
    assert datetime.fromisoformat(used[1]["lastUsedAt"]) == datetime.fromisoformat(
        "2026-06-01T11:05:00+00:00"
    )
    assert used[0]["lastUsedAt"] is None


async def test_a_revoked_key_gets_401_at_once_in_the_revoking_worker_and_any_checking_each_time(
    api: API, other_worker: httpx.AsyncClient
):
    old = await create(api, "beanery")
    # Both workers have verified the key, and remember it.
    assert await status(api.client, old["apiKey"]) == 200
    assert await status(other_worker, old["apiKey"]) == 200

    # Rotation: a new key first, then the old one revoked.
    new = await create(api, "beanery")
    done = await revoke(api, old["partnerApiKey"]["id"], as_=api.admin())
    assert done["userErrors"] == []
    assert done["partnerApiKey"]["revokedAt"] is not None

    for client in (api.client, other_worker):
        response = await client.post(
            "/graphql", json={"query": "{ partners { key } }"}, headers={"X-API-Key": old["apiKey"]}
        )
        assert response.status_code == 401, client.base_url
        assert await status(client, new["apiKey"]) == 200

    again = await revoke(api, old["partnerApiKey"]["id"], as_=api.admin())
    assert again == done


async def test_only_the_operator_lists_and_revokes_keys(api: API):
    key = await create(api, "beanery")
    await api.enroll("ana")
    beanery = {"X-API-Key": key["apiKey"]}
    for caller in (beanery, api.member("ana"), None):
        body = await api.result(LIST, {"p": partner_gid("beanery")}, as_=caller)
        assert body["data"] is None
        assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]

        counts = await table_counts()
        refused = await revoke(api, key["partnerApiKey"]["id"], as_=caller)
        assert refused["partnerApiKey"] is None
        assert [e["code"] for e in refused["userErrors"]] == ["FORBIDDEN"]
        assert await table_counts() == counts

        node = await api.result(
            "query($id: ID!) { node(id: $id) { id } }", {"id": key["partnerApiKey"]["id"]}, caller
        )
        assert node["data"] == {"node": None}
        assert [e["extensions"]["code"] for e in node["errors"]] == ["FORBIDDEN"]
    assert await status(api.client, key["apiKey"]) == 200

    found = await api.gql(
        f"query($id: ID!) {{ node(id: $id) {{ ... on PartnerApiKey {{ {KEY} }} }} }}",
        {"id": key["partnerApiKey"]["id"]},
        as_=api.admin(),
    )
    assert found["node"] == {**key["partnerApiKey"], "lastUsedAt": found["node"]["lastUsedAt"]}
    assert found["node"]["lastUsedAt"] is not None


async def test_revoking_an_unknown_or_malformed_key_id_is_a_typed_error(api: API):
    unknown = await revoke(api, ids.global_id("PartnerApiKey", 999), as_=api.admin())
    assert [(e["code"], e["field"]) for e in unknown["userErrors"]] == [("NOT_FOUND", "id")]
    wrong_type = await revoke(api, partner_gid("beanery"), as_=api.admin())
    assert [(e["code"], e["field"]) for e in wrong_type["userErrors"]] == [("INVALID_INPUT", "id")]
    body = await api.result(LIST, {"p": partner_gid("acme")}, as_=api.admin())
    assert [e["extensions"]["code"] for e in body["errors"]] == ["NOT_FOUND"]


class Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_another_worker_learns_of_a_revocation_within_its_recheck_interval(api: API):
    raw = (await create(api, "beanery"))["apiKey"]
    key_id = (await api.gql(LIST, {"p": partner_gid("beanery")}, as_=api.admin()))[
        "partnerApiKeys"
    ][0]["id"]
    now = datetime.now(UTC)
    ticks = Monotonic()
    revoking = KeyRing(lambda: api.stores.redis, api.settings.redis_prefix, monotonic=ticks)
    other = KeyRing(lambda: api.stores.redis, api.settings.redis_prefix, monotonic=ticks)
    assert await other.authenticate(raw, now=now) is not None

    await revoking.revoke(ids.int_key_of(key_id, "PartnerApiKey", "id"), now=now)
    assert await revoking.authenticate(raw, now=now) is None  # the revoking worker: at once
    ticks.now += 0.2
    # Within 250 ms of its last look, the other worker still trusts what it remembers...
    assert await other.authenticate(raw, now=now) is not None
    ticks.now += 0.06
    # ...and no longer.
    assert await other.authenticate(raw, now=now) is None
