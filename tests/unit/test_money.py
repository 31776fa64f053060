"""Money arrives as decimal strings (or whole numbers) and never becomes a float."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from domain.errors import ErrorCode, InvalidInput
from domain.money import minor_units, parse_amount, parse_currency_code, written
from domain.program_file import load_program
from domain.purchases import accepted_currency
from tests.helpers import BASE_PROGRAM

FORMAT_MESSAGE = (
    "amount must be a non-negative decimal number with at most 12 digits before and 4 after "
    'the point, written like "12.50".'
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0.01", Decimal("0.01")),
        ("12", Decimal(12)),
        ("12.5", Decimal("12.5")),
        ("12.50", Decimal("12.50")),
        ("12.3456", Decimal("12.3456")),
        (12, Decimal(12)),
        ("999999999999.9999", Decimal("999999999999.9999")),
        (999_999_999_999, Decimal(999_999_999_999)),
        ("0.0001", Decimal("0.0001")),
        (" 12.5 ", Decimal("12.5")),
    ],
)
def test_good_amounts_are_parsed_exactly(value: object, expected: Decimal):
    amount = parse_amount(value, "amount")
    assert isinstance(amount, Decimal)
    assert amount == expected
    assert str(amount) == str(expected)


@pytest.mark.parametrize(
    "value",
    [
        "-1",
        "-0.5",
        "+1",
        "1e3",
        "1E3",
        "NaN",
        "nan",
        "inf",
        "Infinity",
        "",
        " ",
        "12.34567",
        "1,5",
        "1 000",
        "1_000",
        "0x10",
        "١٢",  # Arabic-Indic digits, which Decimal() itself would accept
        "\uff11\uff12",  # fullwidth digits
        "012",
        "00.5",
        "12.",
        ".5",
        "1000000000000",
        "12.5.1",
        "12\n5",
        -1,
        1_000_000_000_000,
        12.5,
        12.0,
        Decimal("12.5"),
        True,
        False,
        None,
        [12],
        b"12",
    ],
    ids=repr,
)
def test_anything_else_is_invalid_input_on_the_field(value: object):
    with pytest.raises(InvalidInput) as caught:
        parse_amount(value, "amount")
    assert caught.value.code == ErrorCode.INVALID_INPUT
    assert caught.value.field == "amount"
    assert caught.value.message == FORMAT_MESSAGE


def test_the_message_names_the_field_given():
    with pytest.raises(InvalidInput) as caught:
        parse_amount("x", "lines[2].unitPrice")
    assert caught.value.field == "lines[2].unitPrice"
    assert caught.value.message.startswith("lines[2].unitPrice must be a non-negative decimal")


@pytest.mark.parametrize("zero", ["0", "0.0", "0.0000", 0])
def test_zero_is_refused_unless_allowed(zero: object):
    with pytest.raises(InvalidInput) as caught:
        parse_amount(zero, "amount")
    assert caught.value.field == "amount"
    assert caught.value.message == "amount must be greater than zero."
    assert parse_amount(zero, "tax", allow_zero=True) == Decimal(0)


def test_allow_zero_still_refuses_bad_input():
    for value in ("-0", "-0.0", "0e0", False):
        with pytest.raises(InvalidInput):
            parse_amount(value, "tax", allow_zero=True)


@settings(max_examples=300, deadline=None)
@given(
    st.decimals(
        min_value=Decimal(0), max_value=Decimal("999999999999.9999"), places=4, allow_nan=False
    )
)
@example(Decimal("999999999999.9999"))
@example(Decimal("0.0001"))
@example(Decimal("1E+3"))
def test_any_amount_with_at_most_12_digits_and_4_decimals_round_trips(value: Decimal):
    text = format(value, "f")
    parsed = parse_amount(text, "amount", allow_zero=True)
    assert parsed == value
    assert str(parsed) == text
    if value > 0:
        assert parse_amount(text, "amount") == value


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=999_999_999_999))
def test_any_whole_number_up_to_12_digits_is_accepted(value: int):
    assert parse_amount(value, "amount") == Decimal(value)
    assert parse_amount(str(value), "amount") == Decimal(value)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=20))
def test_any_text_is_either_a_valid_amount_or_invalid_input(text: str):
    amount: Decimal | None = None
    refused: InvalidInput | None = None
    try:
        amount = parse_amount(text, "amount", allow_zero=True)
    except InvalidInput as error:
        refused = error
    if refused is not None:
        assert refused.field == "amount"
    else:
        assert amount is not None
        assert 0 <= amount < Decimal(10) ** 12
        assert amount == amount.quantize(Decimal("0.0001"))
        assert str(amount) == text.strip()


def test_a_currency_code_is_returned():
    assert parse_currency_code("RON", "currency") == "RON"
    assert parse_currency_code("GBP", "currency") == "GBP"


@pytest.mark.parametrize("value", ["ron", "EURO", "EU", "", " EUR", "EUR ", "E1R", 978, None])
def test_a_malformed_currency_is_invalid_input(value: object):
    with pytest.raises(InvalidInput) as caught:
        parse_currency_code(value, "currency")
    assert caught.value.field == "currency"
    assert caught.value.message == "currency must be an ISO 4217 code such as EUR or RON."


def test_a_currency_the_program_does_not_accept_is_invalid_input_listing_those_it_does():
    program = load_program(BASE_PROGRAM.read_text())
    accepted_currency("RON", program)
    with pytest.raises(InvalidInput) as caught:
        accepted_currency("GBP", program)
    assert caught.value.field == "currency"
    listed = ", ".join(sorted(program.purchase_rates))
    assert caught.value.message == f"GBP is not a currency this program accepts ({listed})."


def test_a_currency_with_a_trailing_newline_is_malformed():
    # `$` in the pattern also matches before a final newline: the whole text must match.
    with pytest.raises(InvalidInput) as caught:
        parse_currency_code("EUR\n", "currency")
    assert caught.value.message == "currency must be an ISO 4217 code such as EUR or RON."


# -- amounts written out ----------------------------------------------------------------------


@given(
    st.decimals(min_value=0, max_value=Decimal("999999999999.9999"), places=4),
    st.sampled_from(["RON", "EUR", "JPY", "KWD", "CLF"]),
)
@example(Decimal("42.5"), "RON")
@example(Decimal("10"), "RON")
@example(Decimal("1E+1"), "JPY")
def test_an_amount_is_written_in_its_minor_units_and_loses_nothing(amount: Decimal, currency):
    text = written(amount, currency)
    assert Decimal(text) == amount  # nothing rounded away
    whole, _, decimals = text.partition(".")
    assert whole.isdigit()
    assert len(decimals) >= minor_units(currency)  # never fewer than the currency's
    assert len(decimals) == max(minor_units(currency), -amount.normalize().as_tuple().exponent)
