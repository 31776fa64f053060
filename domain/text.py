"""Text from callers: bounded, printable, and storable by every database we run on.

PostgreSQL refuses NUL bytes and neither database can store a lone surrogate, so both are
turned away here, as INVALID_INPUT naming the field, before anything is written.
"""

from __future__ import annotations

import re

from domain.errors import InvalidInput

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LINE_BREAKS = re.compile(r"[\t\n\r]")
_IDENTIFIER = re.compile(r"[^\s\x00-\x1f\x7f]+")


def _storable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def plain(value: object, field: str, limit: int, *, multiline: bool = False) -> str:
    """Free text such as a name or a reason: 1 to `limit` characters, no control characters
    (tabs and line breaks only where `multiline`)."""
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise InvalidInput(field, f"{field} must be 1 to {limit} characters.")
    if (
        _CONTROL.search(value)
        or (not multiline and _LINE_BREAKS.search(value))
        or not _storable(value)
    ):
        raise InvalidInput(field, f"{field} must be plain text, without control characters.")
    return value


def identifier(value: object, field: str, limit: int) -> str:
    """An id a caller gives us (externalId, orderId...): 1 to `limit` characters, no spaces."""
    if (
        not isinstance(value, str)
        or len(value) > limit
        or not _IDENTIFIER.fullmatch(value)
        or not _storable(value)
    ):
        raise InvalidInput(field, f"{field} must be 1 to {limit} characters without spaces.")
    return value
