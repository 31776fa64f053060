"""What a live subscriber is told (gamification.live): the four kinds read from the fan-out's
messages, everything else dropped, and repeats seen once."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from domain import events
from domain.outbox import StoredEvent
from domain.program import BoardPeriod
from gamification.fanout import message
from gamification.live import LiveBadge, LivePoints, LiveRank, LiveTier, Seen, read_message

ANA = 7


def _message(type_: str, payload: Any, *, member: int = ANA, event_id: int = 1) -> str:
    return json.dumps(
        {"id": event_id, "type": type_, "memberId": member, "transactionId": 3, "payload": payload}
    )


def test_points_changed_is_read_from_what_the_fan_out_publishes() -> None:
    emitted = events.PointsChanged(
        member_id=ANA, transaction_id=3, kind="EARN", delta=120, balance=150, pending=40,
        lifetime=900, debt=0,
    )  # fmt: skip
    moment = datetime(2026, 12, 1, tzinfo=UTC)
    stored = StoredEvent(
        id=11,
        type=emitted.TYPE,
        payload=emitted.payload(moment),
        member_id=ANA,
        transaction_id=3,
        created_at=moment,
    )
    assert read_message(message(stored), ANA) == LivePoints(11, ANA, 150, 40, 120, 3)


def test_badges_tiers_and_ranks_are_read_by_their_type_names() -> None:
    badge = {"memberId": ANA, "badge": "regular", "level": 2, "bonusPoints": 50}
    assert read_message(_message("badge.unlocked", badge), ANA) == LiveBadge(1, ANA, "regular", 2)
    tier = {"memberId": ANA, "fromTier": None, "toTier": "silver", "reason": "qualified"}
    assert read_message(_message("tier.changed", tier), ANA) == LiveTier(1, ANA, None, "silver")
    rank = {"board": "points", "period": "week", "rank": 4, "previousRank": 9}
    assert read_message(_message("rank.changed", rank), ANA) == LiveRank(
        1, ANA, "points", BoardPeriod.WEEK, 4, 9
    )


def test_other_types_other_members_and_malformed_messages_are_dropped() -> None:
    tier = {"toTier": "silver"}
    dropped = [
        _message("purchase.recorded", {"orderId": "A"}),
        _message("tier.changed", tier, member=ANA + 1),
        _message("tier.changed", {"toTier": ""}),
        _message("tier.changed", {"toTier": 5}),
        _message("badge.unlocked", {"badge": "regular", "level": "2"}),
        _message("rank.changed", {"board": "points", "period": "YEAR", "rank": 1}),
        _message("rank.changed", {"board": "points", "period": "WEEK", "rank": True}),
        _message("points.changed", {"balance": 1}),
        _message("tier.changed", ["silver"]),
        json.dumps({"id": "1", "type": "tier.changed", "memberId": ANA, "payload": tier}),
        json.dumps([1, 2]),
        "{not json",
        "[" * 100_000,
    ]
    assert [read_message(text, ANA) for text in dropped] == [None] * len(dropped)


def test_a_window_of_one_id_still_drops_an_immediate_repeat() -> None:
    seen = Seen(size=1)
    assert [seen.first(i) for i in (5, 5, 6, 5)] == [True, False, True, True]


@given(st.lists(st.integers(min_value=1, max_value=50), max_size=300))
def test_every_id_is_first_once_when_the_window_holds_them_all(ids: list[int]) -> None:
    seen = Seen(size=50)
    firsts = [i for i in ids if seen.first(i)]
    assert firsts == list(dict.fromkeys(ids))


@given(st.lists(st.integers(min_value=1, max_value=1_000), max_size=500), st.integers(1, 20))
def test_a_repeat_within_the_window_is_dropped_and_memory_stays_bounded(
    ids: list[int], size: int
) -> None:
    seen = Seen(size=size)
    recent: list[int] = []  # the model: the last `size` ids let through
    for i in ids:
        assert seen.first(i) == (i not in recent)
        if i not in recent:
            recent = [*recent, i][-size:]
        assert len(seen._ids) <= size
