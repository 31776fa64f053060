"""A member's token names the member by external id; which member that is gets read once and
remembered, so that later requests spend no statement on it (schema.auth.KnownMembers)."""

from __future__ import annotations

from schema.auth import KnownMembers
from tests.helpers import API, count_statements

ME = "{ me { externalId balance } }"
ANYTHING = "{ __typename }"


async def test_a_members_later_requests_read_nothing_to_know_who_is_calling(api: API) -> None:
    await api.enroll("ana")
    ana = api.member("ana")
    with count_statements() as first:
        await api.gql(ANYTHING, as_=ana)
    with count_statements() as later:
        await api.gql(ANYTHING, as_=ana)
    assert len(first) == 1, first
    assert later == []
    # What the member reads is read when it is asked for, and is current.
    await api.purchase(await api.enroll("bob"), "10.00")
    assert (await api.gql(ME, as_=ana))["me"] == {"externalId": "ana", "balance": 0}


async def test_a_token_for_someone_not_enrolled_yet_finds_the_member_once_it_is(api: API) -> None:
    carla = api.member("carla")
    assert (await api.gql(ME, as_=carla))["me"] is None
    await api.enroll("carla")
    assert (await api.gql(ME, as_=carla))["me"] == {"externalId": "carla", "balance": 0}


async def test_the_least_recently_used_member_is_forgotten_first(api: API) -> None:
    for name in ("ana", "bob", "carla"):
        await api.enroll(name)
    known = KnownMembers(size=2)
    ana, read = await known.find("ana")
    assert read is not None
    assert read.id == ana
    await known.find("bob")
    assert await known.find("ana") == (ana, None)  # remembered, and now the most recent
    await known.find("carla")  # bob, the least recent, is forgotten
    assert (await known.find("ana"))[1] is None
    bob, read = await known.find("bob")
    assert read is not None
    assert read.id == bob
    assert await known.find("nobody") == (None, None)
