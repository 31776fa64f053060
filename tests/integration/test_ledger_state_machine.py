"""The ledger against a model, through random sequences of the domain services.

A hypothesis state machine enrols members, earns (purchases in every currency, actions), redeems,
cancels, adjusts both ways, replays earlier calls with their idempotency key and reuses keys
for other input. A plain Python model says what every balance, lifetime total, redemption,
stock counter and idempotency record must be; after every step the database must agree with it
and with every ledger invariant (tests.helpers.assert_ledger_consistent).

The services are async and their Tortoise connections live on the test's event loop, while
hypothesis's stateful rules are synchronous: the machine runs in a worker thread and hands each
coroutine to the test's loop (free while it awaits the thread) with run_coroutine_threadsafe.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Coroutine
from dataclasses import asdict, dataclass, field
from decimal import ROUND_FLOOR, Decimal
from typing import Any, ClassVar, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from app.asgi import prepare, read_program
from app.settings import DEMO_PROGRAM
from domain import actions, adjustments, members, purchases, redemptions, sql
from domain.actors import ADMIN, Actor, ActorKind
from domain.errors import DomainError, ErrorCode
from partners import registry
from tests.conftest import _empty
from tests.helpers import Stores, assert_ledger_consistent, table_counts

T = TypeVar("T")

# The demo program, written out independently of the code that reads it (see the brief).
RATES = {
    "RON": Decimal(1),
    "EUR": Decimal(5),
    "USD": Decimal("4.5"),
    "PLN": Decimal("1.2"),
    "TRY": Decimal("0.15"),
}
ACTION_POINTS = {
    "REVIEW": 50,
    "REFERRAL": 500,
    "SOCIAL_SHARE": 20,
    "EVENT_ATTENDANCE": 200,
    "NEWSLETTER_SIGNUP": 100,
    "BIRTHDAY": 250,
    "APP_INSTALL": 100,
    "SURVEY": 75,
}
# reward -> (points cost, stock or None for unlimited)
REWARDS = {
    "coffee": (500, None),
    "discount-10": (1000, None),
    "plant-a-tree": (300, None),
    "book-voucher": (2500, 200),
    "lounge-pass": (8000, 50),
    "limited-tote": (1500, 25),
}
PARTNERS = ("skyways", "beanery", "paper-lantern")
# Each example starts with only this many limited totes left, so that OUT_OF_STOCK is reachable
# (and a cancellation puts one back) within a few steps.
TOTES_LEFT = 1

# Few members, so that points pile up where rewards can be redeemed.
MAX_MEMBERS = 4

# What each service records as `operation` in idempotency_record.
OPERATIONS = {
    "enroll": "enrollMember",
    "purchase": "recordPurchase",
    "action": "recordAction",
    "redeem": "redeemReward",
    "cancel": "cancelRedemption",
    "adjust": "adjustPoints",
}
SERVICES = {
    "enroll": members.enroll,
    "purchase": purchases.record,
    "action": actions.record,
    "redeem": redemptions.redeem,
    "cancel": redemptions.cancel,
    "adjust": adjustments.adjust,
}

MACHINE_SETTINGS = settings(
    max_examples=40,
    stateful_step_count=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@dataclass
class ModelMember:
    id: int
    external_id: str
    balance: int = 0
    lifetime: int = 0

    @property
    def ref(self) -> members.MemberRef:
        return members.MemberRef(id=self.id)

    @property
    def actor(self) -> Actor:
        return Actor(ActorKind.MEMBER, external_id=self.external_id, member_id=self.id)


@dataclass
class ModelRedemption:
    id: int
    member: ModelMember
    reward: str
    live: bool = True


@dataclass
class Call:
    """A call that succeeded: what to replay, and what it returned the first time."""

    operation: str
    actor: Actor
    args: tuple[Any, ...]
    key: str
    result: Any
    stored: dict[str, Any] = field(default_factory=dict)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _as_stored(result: Any) -> dict[str, Any]:
    """The idempotency response a service's return value was built from."""
    if isinstance(result, int):  # members.enroll returns the member id
        return {"memberId": result}
    # `changed` is what the first call's own write saw; only ids are stored and replayed.
    return {_camel(k): v for k, v in asdict(result).items() if k != "changed"}


def _points_for(amount_cents: int, tax_cents: int, currency: str) -> int:
    eligible = Decimal(amount_cents - tax_cents) / 100
    return int((eligible * RATES[currency]).to_integral_value(rounding=ROUND_FLOOR))


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


async def _snapshot() -> dict[str, Any]:
    """Everything an operation could write, to prove that a refused or replayed one wrote
    nothing."""
    conn = sql.connection()
    state: dict[str, Any] = {"counts": await table_counts()}
    for table, columns in (
        ("account", "id, balance, pending, lifetime"),
        ("lot", "id, remaining"),
        ("lot_draw", "id, lot_id"),
        ("redemption", "id, status, cancel_transaction_id"),
        ("reward_stock", "reward_key, issued"),
        ("idempotency_record", "scope, key, request_hash"),
    ):
        state[table] = await sql.rows(conn, f"SELECT {columns} FROM {table} ORDER BY 1, 2")
    return state


async def _observe() -> dict[str, Any]:
    balances = await assert_ledger_consistent()
    conn = sql.connection()
    return {
        "balances": balances,
        "members": await sql.rows(
            conn,
            "SELECT m.id, m.account_id, a.balance, a.pending, a.lifetime FROM member m "
            "JOIN account a ON a.id = m.account_id",
        ),
        "redemptions": await sql.rows(
            conn, "SELECT id, member_id, reward_key, points, status FROM redemption"
        ),
        "stock": await sql.rows(conn, "SELECT reward_key, issued FROM reward_stock"),
        "records": await sql.rows(
            conn, "SELECT scope, key, operation, response FROM idempotency_record"
        ),
    }


async def _fresh_start(stores: Stores) -> dict[str, int]:
    """What the `db` fixture does, plus a nearly sold-out tote; returns partner ids."""
    await _empty(stores)
    stores.program = await prepare(read_program(DEMO_PROGRAM))
    await sql.execute(
        sql.connection(),
        "UPDATE reward_stock SET issued = ? WHERE reward_key = ?",
        [REWARDS["limited-tote"][1] - TOTES_LEFT, "limited-tote"],
    )
    return await registry.sync(stores.program)


class LedgerMachine(RuleBasedStateMachine):
    loop: ClassVar[asyncio.AbstractEventLoop]
    stores: ClassVar[Stores]

    def __init__(self) -> None:
        super().__init__()
        partner_ids = self.run(_fresh_start(self.stores))
        self.program = self.stores.program
        self.partners = [
            Actor(ActorKind.PARTNER, partner_id=partner_ids[key], partner_key=key)
            for key in PARTNERS
        ]
        self.members: list[ModelMember] = []
        self.redemptions: dict[int, ModelRedemption] = {}
        self.issued = {k: 0 for k, (_, stock) in REWARDS.items() if stock is not None}
        self.issued["limited-tote"] = REWARDS["limited-tote"][1] - TOTES_LEFT
        self.calls: list[Call] = []
        self.records: dict[tuple[str, str], Call] = {}
        self.orders: set[tuple[str, str]] = set()  # (source, orderId) recorded
        self.references: set[tuple[str, str, str]] = set()  # (source, action, reference)
        self.counter = itertools.count(1)

    # -- plumbing ---------------------------------------------------------------------------
    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def invoke(self, operation: str, actor: Actor, args: tuple[Any, ...], key: str) -> Any:
        return self.run(SERVICES[operation](self.program, actor, *args, key))

    def new_key(self, actor: Actor, data: st.DataObject) -> str:
        """A key never used by this caller: fresh, or one another caller already used (keys are
        scoped per caller, so that must not matter)."""
        elsewhere = sorted(
            {c.key for c in self.calls if c.actor.scope != actor.scope}
            - {key for scope, key in self.records if scope == actor.scope}
        )
        if elsewhere and data.draw(st.booleans(), label="borrow a key from another caller"):
            return data.draw(st.sampled_from(elsewhere), label="borrowed key")
        return f"key-{next(self.counter)}"

    def succeed(self, operation: str, actor: Actor, args: tuple[Any, ...], key: str) -> Any:
        result = self.invoke(operation, actor, args, key)
        call = Call(operation, actor, args, key, result, _as_stored(result))
        assert (actor.scope, key) not in self.records
        self.calls.append(call)
        self.records[(actor.scope, key)] = call
        return result

    def refused(
        self, code: ErrorCode, operation: str, actor: Actor, args: tuple[Any, ...], key: str
    ) -> None:
        before = self.run(_snapshot())
        with pytest.raises(DomainError) as refusal:
            self.invoke(operation, actor, args, key)
        assert refusal.value.code == code, (refusal.value.code, refusal.value.message)
        assert self.run(_snapshot()) == before, f"a refused {operation} ({code}) wrote something"

    def pick_call(self, data: st.DataObject) -> Call:
        """An earlier successful call, of any operation equally (enrolments are many)."""
        operation = data.draw(
            st.sampled_from(sorted({c.operation for c in self.calls})), label="operation"
        )
        return data.draw(
            st.sampled_from([c for c in self.calls if c.operation == operation]), label="call"
        )

    def pick_member(self, data: st.DataObject) -> ModelMember:
        return data.draw(st.sampled_from(self.members), label="member")

    def earning_actor(self, data: st.DataObject) -> Actor:
        return data.draw(st.sampled_from([ADMIN, *self.partners]), label="actor")

    def enroll_new(self, actor: Actor, key: str) -> None:
        external_id = f"member-{next(self.counter)}"
        member_id = self.succeed("enroll", actor, (members.Enrolment(external_id),), key)
        assert member_id not in {m.id for m in self.members}
        self.members.append(ModelMember(member_id, external_id))

    # -- rules ------------------------------------------------------------------------------
    @initialize(data=st.data(), count=st.integers(min_value=1, max_value=2))
    def first_members(self, data: st.DataObject, count: int) -> None:
        for _ in range(count):
            actor = self.earning_actor(data)
            self.enroll_new(actor, self.new_key(actor, data))

    @precondition(lambda self: len(self.members) < MAX_MEMBERS)
    @rule(data=st.data())
    def enroll(self, data: st.DataObject) -> None:
        actor = self.earning_actor(data)
        key = self.new_key(actor, data)
        if data.draw(st.booleans(), label="an externalId already enrolled"):
            taken = self.pick_member(data).external_id
            self.refused(ErrorCode.DUPLICATE, "enroll", actor, (members.Enrolment(taken),), key)
            return
        self.enroll_new(actor, key)

    @precondition(lambda self: self.members)
    @rule(
        data=st.data(),
        currency=st.sampled_from(sorted(RATES)),
        # Small amounts find rounding edges; large ones pay for rewards.
        amount_cents=st.integers(1, 300_000) | st.integers(50_000, 300_000),
    )
    def earn_by_purchase(self, data: st.DataObject, currency: str, amount_cents: int) -> None:
        member = self.pick_member(data)
        actor = self.earning_actor(data)
        key = self.new_key(actor, data)
        tax_cents = data.draw(st.integers(0, amount_cents), label="tax cents")
        known_orders = sorted({order for _, order in self.orders})
        if known_orders and data.draw(st.booleans(), label="an orderId seen before"):
            order_id = data.draw(st.sampled_from(known_orders), label="orderId")
        else:
            order_id = f"order-{next(self.counter)}"
        purchase = purchases.PurchaseInput(
            member=member.ref,
            order_id=order_id,
            amount=_money(amount_cents),
            currency=currency,
            tax=_money(tax_cents),
        )
        if (actor.source, order_id) in self.orders:
            self.refused(ErrorCode.DUPLICATE, "purchase", actor, (purchase,), key)
            return
        points = _points_for(amount_cents, tax_cents, currency)
        recorded = self.succeed("purchase", actor, (purchase,), key)
        assert recorded.member_id == member.id
        assert recorded.points == points, (purchase, recorded)
        assert (recorded.transaction_id is None) == (points == 0), recorded
        self.orders.add((actor.source, order_id))
        member.balance += points
        member.lifetime += points

    @precondition(lambda self: self.members)
    @rule(
        data=st.data(),
        action=st.sampled_from(sorted(ACTION_POINTS)),
        reference=st.sampled_from([None, "ref-a", "ref-b", "ref-c"]),
    )
    def earn_by_action(self, data: st.DataObject, action: str, reference: str | None) -> None:
        member = self.pick_member(data)
        actor = self.earning_actor(data)
        key = self.new_key(actor, data)
        args = (member.ref, action, reference)
        if reference is not None and (actor.source, action, reference) in self.references:
            self.refused(ErrorCode.DUPLICATE, "action", actor, args, key)
            return
        recorded = self.succeed("action", actor, args, key)
        assert recorded.member_id == member.id
        assert recorded.points == ACTION_POINTS[action]
        if reference is not None:
            self.references.add((actor.source, action, reference))
        member.balance += ACTION_POINTS[action]
        member.lifetime += ACTION_POINTS[action]

    @precondition(lambda self: self.members)
    @rule(data=st.data())
    def redeem(self, data: st.DataObject) -> None:
        member = self.pick_member(data)
        # Mostly what the member can afford, or few redemptions would ever succeed.
        affordable = [k for k, (cost, _) in REWARDS.items() if cost <= member.balance]
        if affordable and data.draw(st.booleans(), label="an affordable reward"):
            reward = data.draw(st.sampled_from(affordable), label="reward")
        else:
            reward = data.draw(st.sampled_from(sorted(REWARDS)), label="reward")
        actor = data.draw(st.sampled_from([ADMIN, member.actor]), label="actor")
        key = self.new_key(actor, data)
        cost, stock = REWARDS[reward]
        args = (member.ref, reward)
        if member.balance < cost:
            self.refused(ErrorCode.INSUFFICIENT_POINTS, "redeem", actor, args, key)
            return
        if stock is not None and self.issued[reward] >= stock:
            self.refused(ErrorCode.OUT_OF_STOCK, "redeem", actor, args, key)
            return
        redeemed = self.succeed("redeem", actor, args, key)
        assert redeemed.member_id == member.id
        assert redeemed.redemption_id not in self.redemptions
        self.redemptions[redeemed.redemption_id] = ModelRedemption(
            redeemed.redemption_id, member, reward
        )
        member.balance -= cost
        if stock is not None:
            self.issued[reward] += 1

    @precondition(lambda self: self.redemptions)
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        redemption = data.draw(
            st.sampled_from(sorted(self.redemptions.values(), key=lambda r: r.id)),
            label="redemption",
        )
        owner = redemption.member
        others = [m for m in self.members if m is not owner]
        actor = data.draw(
            st.sampled_from([ADMIN, owner.actor, *(m.actor for m in others[:1])]), label="actor"
        )
        key = self.new_key(actor, data)
        args = (redemption.id,)
        if actor.kind is ActorKind.MEMBER and actor.member_id != owner.id:
            self.refused(ErrorCode.FORBIDDEN, "cancel", actor, args, key)
            return
        if not redemption.live:
            self.refused(ErrorCode.INVALID_STATE, "cancel", actor, args, key)
            return
        cancelled = self.succeed("cancel", actor, args, key)
        assert cancelled.redemption_id == redemption.id
        assert cancelled.member_id == owner.id
        redemption.live = False
        cost, stock = REWARDS[redemption.reward]
        owner.balance += cost
        if stock is not None:
            self.issued[redemption.reward] -= 1

    @precondition(lambda self: self.members)
    @rule(
        data=st.data(),
        points=st.integers(min_value=-4000, max_value=4000).filter(lambda p: p != 0),
    )
    def adjust(self, data: st.DataObject, points: int) -> None:
        member = self.pick_member(data)
        key = self.new_key(ADMIN, data)
        args = (member.ref, points, "model says so")
        if points < 0 and member.balance < -points:
            self.refused(ErrorCode.INSUFFICIENT_POINTS, "adjust", ADMIN, args, key)
            return
        adjusted = self.succeed("adjust", ADMIN, args, key)
        assert adjusted.member_id == member.id
        member.balance += points
        member.lifetime = max(member.lifetime + points, 0)

    @precondition(lambda self: self.calls)
    @rule(data=st.data())
    def replay(self, data: st.DataObject) -> None:
        call = self.pick_call(data)
        before = self.run(_snapshot())
        again = self.invoke(call.operation, call.actor, call.args, call.key)
        assert _as_stored(again) == _as_stored(call.result), (call, again)
        assert getattr(again, "changed", None) is None, "a replay reports a fresh change"
        assert self.run(_snapshot()) == before, f"replaying {call.operation} wrote something"

    @precondition(lambda self: self.calls)
    @rule(data=st.data())
    def reuse_key_for_other_input(self, data: st.DataObject) -> None:
        call = self.pick_call(data)
        member = self.members[0]
        if data.draw(st.booleans(), label="another operation altogether"):
            operation = "adjust" if call.operation != "adjust" else "action"
            args: tuple[Any, ...] = (
                (member.ref, 10, "reused key")
                if operation == "adjust"
                else (member.ref, "SURVEY", None)
            )
        else:
            operation = call.operation
            args = self.altered(call, data)
        self.refused(ErrorCode.IDEMPOTENCY_KEY_REUSED, operation, call.actor, args, call.key)

    def altered(self, call: Call, data: st.DataObject) -> tuple[Any, ...]:
        """The same operation with one input changed, still valid on its own."""
        if call.operation == "enroll":
            (enrolment,) = call.args
            return (members.Enrolment(enrolment.external_id + "-other"),)
        if call.operation == "purchase":
            (purchase,) = call.args
            amount = Decimal(purchase.amount) + Decimal("1.00")
            return (
                purchases.PurchaseInput(
                    member=purchase.member,
                    order_id=purchase.order_id,
                    amount=str(amount),
                    currency=purchase.currency,
                    tax=purchase.tax,
                ),
            )
        if call.operation == "action":
            ref, action, reference = call.args
            other = data.draw(
                st.sampled_from(sorted(set(ACTION_POINTS) - {action})), label="other action"
            )
            return (ref, other, reference)
        if call.operation == "redeem":
            ref, reward = call.args
            other = data.draw(
                st.sampled_from(sorted(set(REWARDS) - {reward})), label="other reward"
            )
            return (ref, other)
        if call.operation == "cancel":
            (redemption_id,) = call.args
            return (redemption_id + 1,)
        assert call.operation == "adjust"
        ref, points, reason = call.args
        return (ref, points + 1 if points != -1 else 1, reason)

    # -- after every step -------------------------------------------------------------------
    @invariant()
    def the_database_agrees_with_the_model(self) -> None:
        seen = self.run(_observe())

        by_id = {int(row["id"]): row for row in seen["members"]}
        assert set(by_id) == {m.id for m in self.members}
        for member in self.members:
            row = by_id[member.id]
            assert int(row["pending"]) == 0
            assert seen["balances"][int(row["account_id"])] == member.balance, (member, row)
            assert int(row["balance"]) == member.balance, (member, row)
            assert int(row["lifetime"]) == member.lifetime, (member, row)

        assert {
            int(r["id"]): (int(r["member_id"]), r["reward_key"], int(r["points"]), r["status"])
            for r in seen["redemptions"]
        } == {
            r.id: (
                r.member.id,
                r.reward,
                REWARDS[r.reward][0],
                redemptions.ISSUED if r.live else redemptions.CANCELLED,
            )
            for r in self.redemptions.values()
        }
        assert {r["reward_key"]: int(r["issued"]) for r in seen["stock"]} == self.issued

        keys = [(r["scope"], r["key"]) for r in seen["records"]]
        assert len(keys) == len(set(keys)), f"a key has more than one record: {sorted(keys)}"
        stored = {
            (r["scope"], r["key"]): (
                r["operation"],
                json.loads(r["response"]) if isinstance(r["response"], str) else r["response"],
            )
            for r in seen["records"]
        }
        assert stored == {
            scope_key: (OPERATIONS[call.operation], call.stored)
            for scope_key, call in self.records.items()
        }


def _machine_for(loop: asyncio.AbstractEventLoop, stores: Stores) -> type[LedgerMachine]:
    return type("LedgerMachine", (LedgerMachine,), {"loop": loop, "stores": stores})


async def test_the_ledger_agrees_with_a_model_through_random_operations(db: Stores):
    machine = _machine_for(asyncio.get_running_loop(), db)
    await asyncio.to_thread(run_state_machine_as_test, machine, settings=MACHINE_SETTINGS)
