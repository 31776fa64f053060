"""The event catalogue: every declared event writes a payload that reads back as itself, and
nothing reads back that nobody declared."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import pytest

from domain import events

AT = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)


def sample(kind: Any, depth: int = 0) -> Any:
    """A value of the annotation `kind`; an annotation a payload cannot carry fails here."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        (chosen,) = [k for k in typing.get_args(kind) if k is not type(None)]
        return sample(chosen, depth)
    if origin is tuple:
        return (sample(typing.get_args(kind)[0], depth + 1),) * 2
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        hints = typing.get_type_hints(kind)
        return kind(**{f.name: sample(hints[f.name], depth) for f in dataclasses.fields(kind)})
    values = {int: 42, str: "text", bool: True, Decimal: Decimal("12.50"), datetime: AT}
    if kind in values:
        return values[kind]
    if isinstance(kind, type) and issubclass(kind, Enum):  # a closed set, written as its value
        return list(kind)[-1]
    raise TypeError(f"an event field cannot be a {kind!r}")


@pytest.mark.parametrize("kind", sorted(events.CATALOGUE.values(), key=lambda k: k.TYPE))
def test_every_declared_event_reads_back_as_itself_with_when_it_happened(kind):
    event = sample(kind)
    stored = json.loads(json.dumps(event.payload(AT)))  # as the outbox keeps it
    assert stored["memberId"] == 42
    assert stored["occurredAt"] == AT.isoformat()
    read, occurred_at = events.read(kind.TYPE, stored)
    assert read == event
    assert occurred_at == AT


def test_payloads_are_camel_case_json_with_exact_decimals_and_moments():
    line = events.PurchasedLine(sku="LATTE", category=None, quantity=2, unit_price=Decimal("4.50"))
    recorded = events.PurchaseRecorded(
        member_id=1,
        purchase_id=2,
        source="partner:beanery",
        order_id="B-1",
        amount=Decimal("9.00"),
        discount=Decimal("0"),
        eligible_amount=Decimal("9.00"),
        currency="RON",
        points=9,
        lines=(line,),
    )
    assert recorded.payload(AT) == {
        "memberId": 1,
        "purchaseId": 2,
        "source": "partner:beanery",
        "orderId": "B-1",
        "amount": "9.00",
        "discount": "0",
        "eligibleAmount": "9.00",
        "currency": "RON",
        "points": 9,
        "lines": [{"sku": "LATTE", "category": None, "quantity": 2, "unitPrice": "4.50"}],
        "occurredAt": "2026-12-02T09:30:00+00:00",
    }


def test_an_event_nobody_declared_is_refused_on_reading():
    with pytest.raises(events.UndeclaredEvent):
        events.read("points.vanished", {"memberId": 1})


def test_a_type_is_declared_once():
    with pytest.raises(TypeError, match="declared twice"):

        @dataclass(frozen=True)
        class Again(events.DomainEvent):
            TYPE = "points.changed"
