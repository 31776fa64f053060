"""Money amounts arrive as decimal strings; they never become floats."""

from __future__ import annotations

import re
from decimal import Decimal

from domain.errors import InvalidInput

# Up to a trillion units with four decimals: far beyond any real order, small enough that
# nothing downstream can overflow, and no exponent form ("1e40") gets through.
_AMOUNT = re.compile(r"^(0|[1-9][0-9]{0,11})(\.[0-9]{1,4})?$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


def parse_amount(value: object, field: str, *, allow_zero: bool = False) -> Decimal:
    text = value.strip() if isinstance(value, str) else value
    if (
        isinstance(text, bool)
        or not isinstance(text, (str, int))
        or not _AMOUNT.fullmatch(str(text))
    ):
        raise InvalidInput(
            field,
            f"{field} must be a non-negative decimal number with at most 12 digits before and 4 "
            f'after the point, written like "12.50".',
        )
    amount = Decimal(str(text))
    if amount == 0 and not allow_zero:
        raise InvalidInput(field, f"{field} must be greater than zero.")
    return amount


def canonical(amount: Decimal) -> str:
    """One spelling per amount ("1.5" for 1.5, 1.50 and 1.500), for comparing requests."""
    return format(amount.normalize(), "f")


def parse_currency_code(value: object, field: str) -> str:
    if not isinstance(value, str) or not _CURRENCY.fullmatch(value):
        raise InvalidInput(field, f"{field} must be an ISO 4217 code such as EUR or RON.")
    return value
