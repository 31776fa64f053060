"""Typed results as JSON and back: what an idempotency record keeps, so that a replay answers
with exactly what the first call answered.

A result is a frozen dataclass of views (the member, the transaction, the purchase... as the
operation left them) and plain values. `dump` writes it as JSON; `load` reads it back into the
same dataclass, field by field, from its type hints: no dict of loose keys in between.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import types
import typing
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar

T = TypeVar("T")


class UnreadableResult(Exception):
    """A stored result does not fit the type it is read as (written by an older version)."""


def dump(result: object) -> str:
    # The C encoder walks dicts, lists and tuples itself and asks `_plain` only for the rest:
    # a result is written on every point-moving mutation, so this is on the hot path.
    return json.dumps(result, default=_plain, separators=(",", ":"))


def _same(name: str) -> str:
    return name


def as_data(value: Any, *, name: typing.Callable[[str], str] = _same) -> Any:
    """`value` as plain JSON data: dataclasses as objects keyed by `name(field)`, tuples as
    lists, decimals as their exact text, moments and dates in ISO 8601, enums as their value."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = dataclasses.fields(value)
        return {name(f.name): as_data(getattr(value, f.name), name=name) for f in fields}
    if isinstance(value, (tuple, list)):
        return [as_data(item, name=name) for item in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (Decimal, datetime, date)):
        return _plain(value)
    return value


def from_data(kind: type[T], value: Any, *, name: typing.Callable[[str], str] = _same) -> T:
    """Plain JSON data read back as `kind`, field by field from its type hints (the inverse of
    `as_data`); raises TypeError, KeyError or ValueError when it does not fit."""
    return typing.cast(T, _read(kind, value, name))


def load(kind: type[T], stored: str | dict[str, Any]) -> T:
    data = json.loads(stored) if isinstance(stored, str) else stored
    try:
        return typing.cast(T, _read(kind, data, _same))
    except (KeyError, TypeError, ValueError, ArithmeticError) as error:
        raise UnreadableResult(f"{kind.__name__}: {error}") from error


def _plain(value: Any) -> Any:
    """What JSON cannot write itself: a dataclass as its fields, moments and dates in ISO
    8601, decimals as their exact text."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return vars(value)  # the fields: results and views are plain frozen dataclasses
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"a result cannot hold {type(value).__name__}")


def _defaulted(f: dataclasses.Field[Any]) -> bool:
    return f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING


@functools.cache
def _hints(kind: type) -> dict[str, Any]:
    return typing.get_type_hints(kind)


def _read(kind: Any, data: Any, name: typing.Callable[[str], str]) -> Any:
    if kind is Any:
        return data
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(kind)
        if data is None and type(None) in options:
            return None
        (chosen,) = [option for option in options if option is not type(None)]
        return _read(chosen, data, name)
    if origin is tuple:
        item = typing.get_args(kind)[0]
        return tuple(_read(item, value, name) for value in data)
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        hints = _hints(kind)
        return kind(
            **{
                f.name: _read(hints[f.name], data[name(f.name)], name)
                for f in dataclasses.fields(kind)
                # A field added since the result was stored takes its default.
                if f.init and (name(f.name) in data or not _defaulted(f))
            }
        )
    if kind is datetime:
        return datetime.fromisoformat(data)
    if kind is date:
        return date.fromisoformat(data)
    if kind is Decimal:
        return Decimal(data)
    if isinstance(kind, type) and issubclass(kind, Enum):
        return kind(data)
    if kind in (int, str, bool) and isinstance(data, kind):
        return data
    raise TypeError(f"{data!r} is not a {kind}")
