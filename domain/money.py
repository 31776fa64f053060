"""Money amounts arrive as decimal strings; they never become floats."""

from __future__ import annotations

import re
from decimal import Decimal

from domain.errors import InvalidInput

# Up to a trillion units with four decimals: far beyond any real order, small enough that
# nothing downstream can overflow, and no exponent form ("1e40") gets through.
_AMOUNT = re.compile(r"^(0|[1-9][0-9]{0,11})(\.[0-9]{1,4})?$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
# ISO 4217 currencies whose minor unit is not the cent; every other one writes two decimals.
_NO_DECIMALS = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE_DECIMALS = "BHD IQD JOD KWD LYD OMR TND"
_FOUR_DECIMALS = "CLF UYW"
_MINOR_UNITS = {
    code: places
    for codes, places in ((_NO_DECIMALS, 0), (_THREE_DECIMALS, 3), (_FOUR_DECIMALS, 4))
    for code in codes.split()
}


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


def minor_units(currency: str) -> int:
    """The decimals the currency's amounts are written with: 2 for RON, 0 for JPY, 3 for KWD."""
    return _MINOR_UNITS.get(currency, 2)


def written(amount: Decimal, currency: str) -> str:
    """An amount as the currency writes it: "42.50" and "10.00" RON, "1200" JPY. More decimals
    only when the amount has them ("12.345" RON): nothing is ever rounded away."""
    exponent = amount.normalize().as_tuple().exponent
    places = max(minor_units(currency), -exponent if isinstance(exponent, int) else 0)
    return format(amount.quantize(Decimal(1).scaleb(-places)), "f")


def rounded(amount: Decimal, currency: str) -> Decimal:
    """An amount to the currency's minor unit (half to even), for saying it in a sentence."""
    return amount.quantize(Decimal(1).scaleb(-minor_units(currency)))


def parse_currency_code(value: object, field: str) -> str:
    if not isinstance(value, str) or not _CURRENCY.fullmatch(value):
        raise InvalidInput(field, f"{field} must be an ISO 4217 code such as EUR or RON.")
    return value
