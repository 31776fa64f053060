"""What every area of the schema shares: ids on nodes, pages, decimals, userErrors."""

from __future__ import annotations

import decimal
import json
from typing import Any, Generic, NewType, TypeVar

import strawberry
from graphql import GraphQLError, StringValueNode, ValueNode, print_ast, value_from_ast_untyped

from domain import money
from domain.errors import DomainError, ErrorCode, InvalidInput
from schema import ids

MAX_PAGE = 100

Decimal = NewType("Decimal", str)


def _not_a_string(written: str, node: ValueNode | None = None) -> GraphQLError:
    return GraphQLError(
        f'A Decimal is sent as a JSON string, like "12.50", never as a number, so that no '
        f"digit is lost on the way; got {written}.",
        node,
        extensions={"code": ErrorCode.INVALID_INPUT.value},
    )


def _parse_decimal(value: object) -> str:
    # Any string is let through as it is, so that a malformed amount becomes a typed
    # INVALID_INPUT userError naming the field; a number may already have lost digits (12.10
    # arrives as 12.1, 0.1 + 0.2 as 0.30000000000000004), so it is refused, never guessed at.
    if isinstance(value, str):
        return value
    raise _not_a_string(json.dumps(value, default=str))


def _parse_decimal_literal(node: ValueNode, variables: dict[str, Any] | None = None) -> str:
    if isinstance(node, StringValueNode):
        return node.value
    value = value_from_ast_untyped(node, variables)
    if isinstance(value, str):
        return value
    raise _not_a_string(print_ast(node), node)


DECIMAL_SCALAR = strawberry.scalar(
    name="Decimal",
    description='A decimal number written as a string, like "12.50"; never a float. Money '
    'comes out in its currency\'s minor units ("42.50", "10.00"; "1200" for JPY), '
    "with more decimals only when the amount has them. Inputs must be JSON strings: a "
    "number is refused (INVALID_INPUT, a 400).",
    serialize=str,
    parse_value=_parse_decimal,
    parse_literal=_parse_decimal_literal,
)

# The domain's error codes are the API's, under the name clients see.
strawberry.enum(ErrorCode, name="UserErrorCode")


@strawberry.type
class UserError:
    code: ErrorCode
    field: str | None
    message: str


def money_amount(value: object, currency: str) -> Decimal:
    """A stored amount as its currency writes it: "12.50", not "12.5", "12.5000" nor
    "1.25E+1"; "1200" yen."""
    return Decimal(money.written(decimal.Decimal(str(value)), currency))


def user_error(error: DomainError) -> UserError:
    return UserError(code=error.code, field=error.field, message=error.message)


def page_size(first: int | None, default: int = 20) -> int:
    size = default if first is None else first
    if not 1 <= size <= MAX_PAGE:
        raise InvalidInput("first", f"first must be from 1 to {MAX_PAGE}.")
    return size


@strawberry.interface(description="An object with a global id, fetchable with Query.node.")
class Node:
    id: strawberry.ID


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


T = TypeVar("T")


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo

    @strawberry.field
    def nodes(self) -> list[T]:
        return [edge.node for edge in self.edges]


def connection(items: list[tuple[int, T]], has_next: bool, has_previous: bool) -> Connection[T]:
    """Builds a page from (cursor position, node) pairs."""
    edges = [Edge(cursor=ids.cursor(position), node=node) for position, node in items]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=has_next,
            has_previous_page=has_previous,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )
