"""Opaque global ids ("Member:42" in base64) and pagination cursors."""

from __future__ import annotations

import base64
import binascii
import re

from domain.errors import InvalidInput

_NUMBER = re.compile(r"[0-9]{1,18}")


def _encode(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode(value: str) -> str | None:
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def global_id(type_name: str, key: object) -> str:
    return _encode(f"{type_name}:{key}")


def parse_global_id(value: str) -> tuple[str, str] | None:
    """(type name, key) of a well-formed global id, or None."""
    if len(value) > 200:
        return None
    decoded = _decode(value)
    if decoded is None or ":" not in decoded:
        return None
    type_name, key = decoded.split(":", 1)
    return type_name, key


def key_of(value: str, type_name: str, field: str) -> str:
    parsed = parse_global_id(value)
    if parsed is None or parsed[0] != type_name or not parsed[1]:
        raise InvalidInput(field, f"{field} is not the id of a {type_name}.")
    return parsed[1]


def number(text: str) -> int | None:
    """A database id written in ASCII digits, small enough for a BIGINT; otherwise None."""
    return int(text) if _NUMBER.fullmatch(text) else None


def int_key_of(value: str, type_name: str, field: str) -> int:
    key = number(key_of(value, type_name, field))
    if key is None:
        raise InvalidInput(field, f"{field} is not the id of a {type_name}.")
    return key


def cursor(position: int) -> str:
    return _encode(f"cursor:{position}")


def parse_cursor(value: str | None, field: str = "after") -> int | None:
    if value is None:
        return None
    decoded = _decode(value) if len(value) <= 100 else None
    position = number(decoded[7:]) if decoded and decoded.startswith("cursor:") else None
    if position is None:
        raise InvalidInput(field, f"{field} is not a cursor this API gave out.")
    return position
