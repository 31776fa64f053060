"""Opaque global ids ("Member:42" in base64) and pagination cursors."""

from __future__ import annotations

import base64
import binascii

from domain.errors import InvalidInput


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


def int_key_of(value: str, type_name: str, field: str) -> int:
    key = key_of(value, type_name, field)
    if not key.isdigit() or len(key) > 18:
        raise InvalidInput(field, f"{field} is not the id of a {type_name}.")
    return int(key)


def cursor(position: int) -> str:
    return _encode(f"cursor:{position}")


def parse_cursor(value: str | None, field: str = "after") -> int | None:
    if value is None:
        return None
    decoded = _decode(value) if len(value) <= 100 else None
    if decoded is None or not decoded.startswith("cursor:") or not decoded[7:].isdigit():
        raise InvalidInput(field, f"{field} is not a cursor this API gave out.")
    return int(decoded[7:])
