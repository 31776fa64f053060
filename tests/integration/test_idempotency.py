"""Idempotency keys (domain/idempotency.py): replays, scopes, failures that store nothing,
reuse with other input, and replays that outlive the balance they spent."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from domain import idempotency, members, sql
from domain.actors import ADMIN
from domain.errors import DomainError, ErrorCode
from domain.unit import Unit
from tests.helpers import (
    API,
    BASE_PROGRAM,
    Stores,
    assert_ledger_consistent,
    count_statements,
    reward_gid,
    table_counts,
)


async def records() -> list[dict[str, Any]]:
    found = await sql.rows(
        sql.connection(),
        "SELECT scope, key, operation, response FROM idempotency_record ORDER BY id",
    )
    return [
        {
            **r,
            "response": r["response"]
            if isinstance(r["response"], dict)
            else json.loads(r["response"]),
        }
        for r in found
    ]


async def count(table: str) -> int:
    found = await sql.row(sql.connection(), f"SELECT COUNT(*) AS n FROM {table}")
    assert found is not None
    return int(found["n"])


async def test_a_replay_returns_the_stored_result_and_moves_points_once(api: API):
    ana = await api.enroll("ana")
    await api.purchase(ana, "2000")
    first = await api.redeem("discount-10", member_id=ana, key="redeem-1")
    assert first["userErrors"] == []
    counts = await table_counts()

    again = await api.redeem("discount-10", member_id=ana, key="redeem-1")

    assert again["userErrors"] == []
    assert again["redemption"] == first["redemption"]
    assert again["transaction"] == first["transaction"]
    assert again["member"] == {"balance": 1000}
    assert await table_counts() == counts
    assert await api.balance(ana) == 1000
    (record,) = [r for r in await records() if r["key"] == "redeem-1"]
    assert record["scope"] == "admin"
    assert record["operation"] == "redeemReward"
    assert set(record["response"]) == {"member", "redemption", "transaction"}
    await assert_ledger_consistent()


async def test_the_same_key_from_another_caller_is_another_request(api: API):
    ana = await api.enroll("ana")
    beanery = await api.partner("beanery")
    by_admin = await api.purchase(ana, "100", key="till-1")
    by_partner = await api.purchase(ana, "100", key="till-1", as_=beanery)
    assert by_admin["userErrors"] == by_partner["userErrors"] == []
    assert by_admin["transaction"]["id"] != by_partner["transaction"]["id"]
    assert await api.balance(ana) == 200

    # And a member's key does not collide with the operator's, even for the same operation.
    await api.gql(
        'mutation { enrollMember(input: {externalId: "bob"}) { member { id } } }',
        as_=api.member("bob"),
    )
    bob = (await api.gql('{ member(externalId: "bob") { id } }', as_=api.admin()))["member"]["id"]
    await api.purchase(bob, "1000")
    as_member = await api.redeem("plant-a-tree", key="r", as_=api.member("bob"))
    as_admin = await api.redeem("plant-a-tree", member_id=bob, key="r")
    assert as_member["userErrors"] == as_admin["userErrors"] == []
    assert as_member["redemption"]["id"] != as_admin["redemption"]["id"]
    assert await api.balance(bob) == 400

    # Nor is the operator's stored result an answer for the member's failing attempt.
    admin_only = await api.redeem("plant-a-tree", member_id=bob, key="r2")
    assert admin_only["member"] == {"balance": 100}
    member_try = await api.redeem("plant-a-tree", key="r2", as_=api.member("bob"))
    assert [e["code"] for e in member_try["userErrors"]] == ["INSUFFICIENT_POINTS"]
    assert member_try["redemption"] is None

    scopes = {(r["scope"], r["key"]) for r in await records()}
    assert {("admin", "till-1"), ("partner:beanery", "till-1")} <= scopes
    assert {("admin", "r"), ("member:bob", "r"), ("admin", "r2")} <= scopes
    assert ("member:bob", "r2") not in scopes
    await assert_ledger_consistent()


async def test_a_failed_attempt_stores_nothing_and_its_retry_is_judged_afresh(api: API):
    ana = await api.enroll("ana")
    counts = await table_counts()

    refused = await api.redeem("discount-10", member_id=ana, key="try")
    assert [e["code"] for e in refused["userErrors"]] == ["INSUFFICIENT_POINTS"]
    assert await table_counts() == counts
    assert await count("idempotency_record") == counts["idempotency_record"]

    await api.purchase(ana, "1000")
    retried = await api.redeem("discount-10", member_id=ana, key="try")
    assert retried["userErrors"] == []
    assert retried["redemption"]["status"] == "ISSUED"
    assert retried["member"] == {"balance": 0}
    assert [r["key"] for r in await records()].count("try") == 1
    await assert_ledger_consistent()


async def test_the_same_key_with_other_input_is_refused_as_reused(api: API):
    ana = await api.enroll("ana")
    bob = await api.enroll("bob")
    await api.purchase(ana, "5000")
    await api.purchase(bob, "5000")
    first = await api.redeem("coffee", member_id=ana, key="k")
    assert first["userErrors"] == []
    counts = await table_counts()

    other_reward = await api.redeem("plant-a-tree", member_id=ana, key="k")
    other_member = await api.redeem("coffee", member_id=bob, key="k")
    other_operation = await api.adjust(ana, 10, key="k")
    for refused in (other_reward, other_member, other_operation):
        assert refused["userErrors"] == [
            {
                "code": "IDEMPOTENCY_KEY_REUSED",
                "field": "idempotencyKey",
                "message": refused["userErrors"][0]["message"],
            }
        ]
        assert refused["transaction"] is None
    assert await table_counts() == counts
    assert await api.balance(ana) == 4500
    assert await api.balance(bob) == 5000
    await assert_ledger_consistent()


async def test_a_replay_still_answers_after_the_balance_it_spent_is_gone(api: API):
    ana = await api.enroll("ana")
    await api.purchase(ana, "1000")
    first = await api.redeem("discount-10", member_id=ana, key="spend-all")
    assert first["userErrors"] == []
    assert first["member"] == {"balance": 0}
    counts = await table_counts()

    again = await api.redeem("discount-10", member_id=ana, key="spend-all")

    assert again["userErrors"] == []
    assert again["redemption"] == first["redemption"]
    assert again["transaction"] == first["transaction"]
    assert await table_counts() == counts
    await assert_ledger_consistent()


async def test_a_replayed_cancellation_returns_the_first_one(api: API):
    ana = await api.enroll("ana")
    await api.purchase(ana, "1000")
    redeemed = await api.redeem("discount-10", member_id=ana)
    redemption = redeemed["redemption"]["id"]
    first = await api.cancel(redemption, key="undo")
    assert first["userErrors"] == []
    counts = await table_counts()

    # Run afresh it would be INVALID_STATE (already cancelled); the key says it was done.
    again = await api.cancel(redemption, key="undo")
    assert again["userErrors"] == []
    assert again["transaction"] == first["transaction"]
    assert await table_counts() == counts
    assert await api.balance(ana) == 1000

    fresh = await api.cancel(redemption, key="undo-2")
    assert [e["code"] for e in fresh["userErrors"]] == ["INVALID_STATE"]


@dataclass(frozen=True)
class Answer:
    count: int


async def test_run_once_records_only_successes(db: Stores):
    member_id = (await members.enroll(db.program, ADMIN, members.Enrollment("ana"), None)).member.id
    req = idempotency.request("admin", "k-1", "test", {"memberId": member_id})
    calls: list[int] = []

    async def fails(unit: Unit) -> Answer:
        calls.append(1)
        raise DomainError(ErrorCode.NOT_ELIGIBLE, "not yet")

    async def works(unit: Unit) -> Answer:
        calls.append(2)
        return Answer(len(calls))

    with pytest.raises(DomainError):
        await idempotency.run_once(req, db.program, fails, Answer)
    assert await idempotency.recorded(req, Answer) is None
    first = await idempotency.run_once(req, db.program, works, Answer)
    assert first == idempotency.Ran(Answer(2), replayed=False)
    # The replay finds the key first: the work does not run again, the stored result answers.
    again = await idempotency.run_once(req, db.program, works, Answer)
    assert again == idempotency.Ran(Answer(2), replayed=True)
    assert calls == [1, 2]
    assert await idempotency.recorded(req, Answer) == Answer(2)

    other = idempotency.request("admin", "k-1", "test", {"memberId": member_id + 1})
    with pytest.raises(DomainError) as reused:
        await idempotency.run_once(other, db.program, works, Answer)
    assert reused.value.code is ErrorCode.IDEMPOTENCY_KEY_REUSED


async def test_a_malformed_key_is_invalid_input_and_writes_nothing(api: API):
    ana = await api.enroll("ana")
    await api.purchase(ana, "1000")
    counts = await table_counts()
    for key in ["", "has space", "x" * 256, "tab\there", "é", "trailing-newline\n"]:
        refused = await api.mutate(
            "redeemReward",
            {"memberId": ana, "rewardId": reward_gid("coffee"), "idempotencyKey": key},
            "redemption { id }",
            as_=api.admin(),
        )
        assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [
            ("INVALID_INPUT", "idempotencyKey")
        ], key
    assert await table_counts() == counts
    # 255 printable characters are fine.
    assert (await api.redeem("coffee", member_id=ana, key="~" * 255))["userErrors"] == []


# -- a replay answers with exactly what the first call answered ------------------------------

WHOLE = (
    "member { id balance pendingPoints lifetimePoints pointsOwed tier { current { key } } } "
    "transaction { id kind points balanceAfter description createdAt breakdown { rule points } } "
)


async def test_a_replay_answers_the_first_numbers_and_statuses_after_a_cancel(api: API):
    ana = await api.enroll("ana")
    await api.purchase(ana, "1550")
    redeem = {"memberId": ana, "rewardId": reward_gid("coffee"), "idempotencyKey": "r-1"}
    shape = WHOLE + "redemption { id status code points cancelledAt }"
    first = await api.mutate("redeemReward", redeem, shape, as_=api.admin())
    assert first["member"]["balance"] == 1050
    assert first["redemption"]["status"] == "ISSUED"
    cancelled = await api.cancel(first["redemption"]["id"])
    assert cancelled["member"] == {"balance": 1550}
    counts = await table_counts()

    again = await api.mutate("redeemReward", redeem, shape, as_=api.admin())

    assert again == first  # 1050 and ISSUED, as first answered, not 1550 and CANCELLED
    assert await table_counts() == counts


async def test_a_replay_answers_after_the_program_dropped_what_it_used(api: API):
    ana = await api.enroll("ana")
    admin = api.admin()
    purchase = {
        "memberId": ana,
        "orderId": "EUR-1",
        "amount": "400",
        "currency": "EUR",
        "idempotencyKey": "p-1",
    }
    action = {"memberId": ana, "action": "SURVEY", "idempotencyKey": "a-1"}
    redeem = {"memberId": ana, "rewardId": reward_gid("limited-tote"), "idempotencyKey": "r-1"}
    bought = await api.mutate("recordPurchase", purchase, WHOLE, as_=admin)
    surveyed = await api.mutate("recordAction", action, WHOLE, as_=admin)
    redeemed = await api.mutate("redeemReward", redeem, WHOLE + "redemption { id }", as_=admin)
    for payload in (bought, surveyed, redeemed):
        assert payload["userErrors"] == [], payload

    # The next program takes no euros, has no survey and no tote bag.
    text = (
        BASE_PROGRAM.read_text()
        .replace(", EUR = 5", "")
        .replace('key = "SURVEY"', 'key = "POLL"')
        .replace('key = "limited-tote"', 'key = "limited-mug"')
    )
    await api.use_program(text)
    counts = await table_counts()

    assert await api.mutate("recordPurchase", purchase, WHOLE, as_=admin) == bought
    assert await api.mutate("recordAction", action, WHOLE, as_=admin) == surveyed
    assert await api.mutate("redeemReward", redeem, WHOLE + "redemption { id }", as_=admin) == (
        redeemed
    )
    assert await table_counts() == counts
    # Afresh, the same requests are refused by the new program.
    fresh = await api.mutate(
        "recordPurchase", {**purchase, "idempotencyKey": "p-2"}, WHOLE, as_=admin
    )
    assert [(e["code"], e["field"]) for e in fresh["userErrors"]] == [("INVALID_INPUT", "currency")]


async def test_a_replay_is_answered_by_the_key_alone_and_writes_nothing(api: API):
    ana = await api.enroll("ana")
    await api.purchase(ana, "2000")
    first = await api.redeem("discount-10", member_id=ana, key="once")
    assert first["userErrors"] == []

    with count_statements() as replay:
        again = await api.redeem("discount-10", member_id=ana, key="once")

    assert again == first
    # One statement, the key's lookup: no wallet update, no lock, no rolled-back attempt.
    assert len(replay) == 1, replay
    assert replay[0].lstrip().upper().startswith("SELECT"), replay
    assert "idempotency_record" in replay[0]
    assert "FOR UPDATE" not in replay[0].upper()


async def test_a_record_kept_as_ids_by_an_earlier_version_still_answers(api: API):
    """Records written before results were kept whole held ids only: a replay of one reads the
    objects they name (as they are now) rather than failing."""
    ana = await api.enroll("ana")
    await api.purchase(ana, "2000")
    first = await api.redeem("discount-10", member_id=ana, key="old")
    (record,) = [r for r in await records() if r["key"] == "old"]
    ids = {
        "memberId": record["response"]["member"]["id"],
        "redemptionId": record["response"]["redemption"]["id"],
        "transactionId": record["response"]["transaction"]["id"],
    }
    await sql.execute(
        sql.connection(),
        "UPDATE idempotency_record SET response = ? WHERE key = ?",
        [json.dumps(ids), "old"],
    )
    again = await api.redeem("discount-10", member_id=ana, key="old")
    assert again == first
