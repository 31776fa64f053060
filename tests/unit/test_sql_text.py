"""The pure parts of domain/sql.py: placeholders, clause shapes and timestamps."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.sql import _numbered, in_list, to_date, to_datetime, values_clause


def test_placeholders_are_numbered_in_order():
    assert _numbered("SELECT * FROM t WHERE a = ? AND b > ?") == (
        "SELECT * FROM t WHERE a = $1 AND b > $2"
    )


def test_a_statement_without_placeholders_is_unchanged():
    assert _numbered("SELECT 1") == "SELECT 1"
    assert _numbered("") == ""


def test_placeholders_at_the_edges_and_side_by_side():
    assert _numbered("?") == "$1"
    assert _numbered("??") == "$1$2"
    assert _numbered("(?,?)") == "($1,$2)"
    assert _numbered("? + ?") == "$1 + $2"


def test_ten_or_more_placeholders_get_two_digit_numbers():
    statement = "VALUES (" + ", ".join("?" * 12) + ")"
    assert _numbered(statement) == "VALUES (" + ", ".join(f"${n}" for n in range(1, 13)) + ")"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(blacklist_characters="?$")), max_size=30))
def test_numbering_replaces_each_placeholder_with_its_position(pieces: list[str]):
    statement = "?".join(pieces)
    expected = pieces[0] if pieces else ""
    for number, piece in enumerate(pieces[1:], start=1):
        expected += f"${number}{piece}"
    assert _numbered(statement) == expected
    assert _numbered(statement).count("$") == statement.count("?")
    assert "?" not in _numbered(statement)


@pytest.mark.parametrize(
    ("width", "count", "expected"),
    [
        (1, 1, "(?)"),
        (2, 1, "(?, ?)"),
        (3, 2, "(?, ?, ?), (?, ?, ?)"),
        (2, 3, "(?, ?), (?, ?), (?, ?)"),
    ],
)
def test_values_clause_has_count_rows_of_width_placeholders(width: int, count: int, expected: str):
    assert values_clause(width, count) == expected


def test_values_clause_numbers_across_rows_on_postgres():
    assert _numbered(values_clause(2, 2)) == "($1, $2), ($3, $4)"


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 20), st.integers(1, 50))
def test_values_clause_has_width_times_count_placeholders(width: int, count: int):
    clause = values_clause(width, count)
    assert clause.count("?") == width * count
    assert clause.count("(") == count
    assert clause.split("), (")[0].count("?") == width


@pytest.mark.parametrize(("count", "expected"), [(1, "?"), (2, "?, ?"), (4, "?, ?, ?, ?"), (0, "")])
def test_in_list_has_count_comma_separated_placeholders(count: int, expected: str):
    assert in_list(count) == expected


def test_in_list_numbers_follow_earlier_placeholders():
    statement = f"SELECT * FROM lot WHERE a = ? AND id IN ({in_list(3)}) AND b > ?"
    assert (
        _numbered(statement) == "SELECT * FROM lot WHERE a = $1 AND id IN ($2, $3, $4) AND b > $5"
    )


# -- timestamps ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-06 07:08:09", datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)),
        ("2024-05-06T07:08:09", datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)),
        ("2024-05-06 07:08:09.123456", datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)),
        ("2024-05-06 07:08:09+00:00", datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)),
        ("2024-05-06 07:08:09.5+00:00", datetime(2024, 5, 6, 7, 8, 9, 500000, tzinfo=UTC)),
        ("2024-05-06T07:08:09Z", datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)),
        ("2024-05-06 09:08:09+02:00", datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)),
        ("2024-05-06 02:08:09-05:00", datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)),
        ("2024-12-31 23:59:59.999999", datetime(2024, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
    ],
)
def test_sqlite_text_becomes_an_aware_datetime_at_the_same_instant(text: str, expected: datetime):
    moment = to_datetime(text)
    assert moment.tzinfo is not None
    assert moment.utcoffset() is not None
    assert moment == expected


def test_naive_text_is_read_as_utc():
    moment = to_datetime("2024-05-06 07:08:09")
    assert moment.tzinfo is UTC
    assert moment.replace(tzinfo=None) == datetime(2024, 5, 6, 7, 8, 9)


def test_text_with_an_offset_becomes_utc():
    # The docstring promises "aware UTC"; an offset other than +00:00 is kept as given
    # (same instant, but .date() / .isoformat() then show the other zone).
    moment = to_datetime("2024-05-06 01:30:00+02:00")
    assert moment.utcoffset() == timedelta(0)
    assert moment.date() == datetime(2024, 5, 5).date()


def test_an_aware_datetime_passes_through_unchanged():
    moment = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert to_datetime(moment) is moment


def test_a_naive_datetime_is_taken_as_utc():
    assert to_datetime(datetime(2024, 5, 6, 7, 8, 9)) == datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)


def test_an_aware_datetime_in_another_zone_keeps_its_instant():
    moment = datetime(2024, 5, 6, 9, 8, 9, tzinfo=timezone(timedelta(hours=2)))
    assert to_datetime(moment) == datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)


@pytest.mark.parametrize("text", ["not a date", "", "2024-13-01 00:00:00"])
def test_text_that_is_not_a_timestamp_is_an_error(text: str):
    with pytest.raises(ValueError, match=r"isoformat|month must be"):
        to_datetime(text)


@settings(max_examples=200, deadline=None)
@given(
    st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(9000, 1, 1)),
    st.integers(-14 * 60, 14 * 60),
)
def test_any_stored_timestamp_reads_back_as_the_same_instant(naive: datetime, minutes: int):
    assert to_datetime(naive.isoformat(sep=" ")) == naive.replace(tzinfo=UTC)
    assert to_datetime(str(naive)) == naive.replace(tzinfo=UTC)
    aware = naive.replace(tzinfo=timezone(timedelta(minutes=minutes)))
    assert to_datetime(aware.isoformat(sep=" ")) == aware
    assert to_datetime(aware.isoformat()) == aware


def test_to_date_reads_sqlite_text_and_passes_dates_and_none_through():
    assert to_date(None) is None
    day = date(2024, 2, 29)
    assert to_date(day) is day
    assert to_date("2024-02-29") == day
    with pytest.raises(ValueError, match="day is out of range"):
        to_date("2023-02-29")
