"""Opaque global ids and cursors: round trips, and only InvalidInput for anything else."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import TypeVar

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from domain.errors import ErrorCode, InvalidInput
from schema import ids

T = TypeVar("T")

type_names = st.from_regex(r"[A-Z][A-Za-z]{0,24}", fullmatch=True)


def outcome(call: Callable[[], T]) -> tuple[T | None, InvalidInput | None]:
    """The result of a call or the InvalidInput it raised; anything else propagates."""
    try:
        return call(), None
    except InvalidInput as error:
        return None, error


def raw(text: str) -> str:
    """What a client could send: any text, base64-encoded like a real id."""
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def test_a_global_id_is_unpadded_urlsafe_base64_of_type_and_key():
    assert ids.global_id("Partner", "beanery") == "UGFydG5lcjpiZWFuZXJ5"
    assert ids.global_id("Member", 42) == raw("Member:42")
    assert "=" not in ids.global_id("Member", 1)
    assert ids.parse_global_id("UGFydG5lcjpiZWFuZXJ5") == ("Partner", "beanery")


def test_the_key_may_contain_colons():
    value = ids.global_id("Reward", "a:b:c")
    assert ids.parse_global_id(value) == ("Reward", "a:b:c")
    assert ids.key_of(value, "Reward", "rewardId") == "a:b:c"


@settings(max_examples=100, deadline=None)
@given(type_names, st.text(max_size=40))
def test_any_global_id_round_trips(type_name: str, key: str):
    value = ids.global_id(type_name, key)
    if len(value) > 200:
        assert ids.parse_global_id(value) is None
        return
    assert ids.parse_global_id(value) == (type_name, key)
    if key:
        assert ids.key_of(value, type_name, "id") == key


@settings(max_examples=100, deadline=None)
@given(type_names, st.from_regex(r"[a-z][a-z0-9_-]{0,63}", fullmatch=True))
def test_every_program_key_round_trips(type_name: str, key: str):
    # Reward, Partner and Tier ids carry program keys of up to 64 characters.
    assert ids.key_of(ids.global_id(type_name, key), type_name, "id") == key


@settings(max_examples=100, deadline=None)
@given(type_names, st.integers(min_value=0, max_value=10**18 - 1))
def test_any_integer_id_round_trips(type_name: str, number: int):
    assert ids.int_key_of(ids.global_id(type_name, number), type_name, "id") == number


def test_an_id_of_another_type_is_invalid_input_naming_the_field():
    value = ids.global_id("Reward", "coffee")
    with pytest.raises(InvalidInput) as caught:
        ids.key_of(value, "Partner", "partnerId")
    assert caught.value.code == ErrorCode.INVALID_INPUT
    assert caught.value.field == "partnerId"
    assert caught.value.message == "partnerId is not the id of a Partner."
    with pytest.raises(InvalidInput) as caught:
        ids.int_key_of(ids.global_id("Redemption", 7), "Member", "memberId")
    assert caught.value.field == "memberId"
    assert caught.value.message == "memberId is not the id of a Member."


def test_the_type_name_is_compared_exactly():
    for other in ("member", "MEMBER", "Member ", " Member", "Members"):
        with pytest.raises(InvalidInput):
            ids.int_key_of(ids.global_id(other, 1), "Member", "id")


@pytest.mark.parametrize(
    "value",
    [
        "",
        "x",
        "A",
        "====",
        "!!!!",
        "é",
        "\x00",
        "😀",
        "a" * 201,
        ids.global_id("Member", "x" * 200),
        raw("Member"),  # no colon
        raw("Member:"),  # no key
        raw(":1"),
        base64.urlsafe_b64encode(b"\xff\xfe:1").decode(),  # not UTF-8
    ],
)
def test_garbage_is_invalid_input(value: str):
    with pytest.raises(InvalidInput) as caught:
        ids.key_of(value, "Member", "id")
    assert caught.value.field == "id"
    with pytest.raises(InvalidInput):
        ids.int_key_of(value, "Member", "id")


@pytest.mark.parametrize(
    "key", ["abc", "-1", "+1", "1.0", " 1", "1 ", "0x1", "1e3", "1" * 19, "9" * 40]
)
def test_an_integer_id_with_a_key_that_is_not_a_small_whole_number_is_invalid_input(key: str):
    with pytest.raises(InvalidInput) as caught:
        ids.int_key_of(raw(f"Member:{key}"), "Member", "memberId")
    assert caught.value.field == "memberId"


@pytest.mark.parametrize("key", ["²", "1²", "①"])
def test_an_integer_id_with_digit_like_characters_is_invalid_input(key: str):
    # str.isdigit() is true for "²" and "①" but int() refuses them: a crafted id must still be
    # INVALID_INPUT, not an unexpected error.
    with pytest.raises(InvalidInput):
        ids.int_key_of(raw(f"Member:{key}"), "Member", "memberId")


@pytest.mark.parametrize("key", ["١٢", "\uff11\uff12"])
def test_an_integer_id_or_cursor_in_other_scripts_is_not_accepted(key: str):
    # Doubtful: isdigit() + int() accept non-ASCII decimal digits, so "Member:١٢" is taken
    # for Member 12 and "cursor:١٢" for position 12: values the API never gave out.
    with pytest.raises(InvalidInput):
        ids.int_key_of(raw(f"Member:{key}"), "Member", "memberId")
    with pytest.raises(InvalidInput):
        ids.parse_cursor(raw(f"cursor:{key}"))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=250))
@example("Member:²")
def test_any_encoded_text_gives_a_key_or_invalid_input_never_another_error(text: str):
    for value in (raw(text), text):
        key, error = outcome(lambda v=value: ids.key_of(v, "Member", "id"))
        if error is not None:
            assert error.field == "id"
        else:
            assert key
            assert ids.parse_global_id(value) == ("Member", key)
        number, error = outcome(lambda v=value: ids.int_key_of(v, "Member", "id"))
        if error is not None:
            assert error.field == "id"
        else:
            assert 0 <= number < 10**18
        _, error = outcome(lambda v=value: ids.parse_cursor(v))
        assert error is None or error.field == "after"


# -- cursors ---------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=10**18 - 1))
def test_any_cursor_round_trips(position: int):
    value = ids.cursor(position)
    assert "=" not in value
    assert ids.parse_cursor(value) == position
    assert ids.parse_cursor(value, "before") == position


def test_no_cursor_is_none():
    assert ids.parse_cursor(None) is None


@pytest.mark.parametrize(
    "value",
    [
        "",
        "garbage!",
        "cursor:5",  # not encoded
        ids.global_id("Member", 5),
        raw("cursor:"),
        raw("cursor:-1"),
        raw("cursor: 5"),
        raw("cursor:5 "),
        raw("cursor:1.5"),
        raw("Cursor:5"),
        raw("xcursor:5"),
        raw("cursor:" + "1" * 90),  # longer than any cursor the API gives out
        base64.urlsafe_b64encode(b"cursor:\xff").decode(),
    ],
)
def test_a_value_that_is_not_a_cursor_is_invalid_input_naming_the_field(value: str):
    with pytest.raises(InvalidInput) as caught:
        ids.parse_cursor(value, "after")
    assert caught.value.code == ErrorCode.INVALID_INPUT
    assert caught.value.field == "after"
    assert caught.value.message == "after is not a cursor this API gave out."
    with pytest.raises(InvalidInput) as caught:
        ids.parse_cursor(value, "before")
    assert caught.value.field == "before"


@pytest.mark.parametrize("position", ["²", "①"])
def test_a_cursor_with_digit_like_characters_is_invalid_input(position: str):
    # The same isdigit()/int() mismatch as for ids.
    with pytest.raises(InvalidInput):
        ids.parse_cursor(raw(f"cursor:{position}"))


def test_a_cursor_beyond_any_row_id_is_invalid_input():
    # A cursor is bound against 64-bit ids in SQL (`id > ?`): a longer number would fail there
    # as an INTERNAL error on both databases, so it must be refused here.
    with pytest.raises(InvalidInput):
        ids.parse_cursor(ids.cursor(10**30))
