"""What every area of the schema shares: ids on nodes, pages, decimals, userErrors."""

from __future__ import annotations

import decimal
import json
from collections.abc import Mapping
from enum import Enum
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

E = TypeVar("E", bound=Enum)


def expose_enum(
    enum: type[E], *, name: str, description: str, meanings: Mapping[E, str]
) -> type[E]:
    """A domain enum as a GraphQL enum, every value described: the domain declares the closed
    set once, and the schema follows it. A value left undescribed is refused here."""
    missing = [member.name for member in enum if member not in meanings]
    if missing:
        raise ValueError(f"{name}: no description for {', '.join(missing)}")
    strawberry.enum(enum, name=name, description=description)
    for value in enum.__strawberry_definition__.values:  # type: ignore[attr-defined]
        value.description = meanings[enum(value.value)]
    return enum


# The domain's error codes are the API's, under the name clients see.
expose_enum(
    ErrorCode,
    name="UserErrorCode",
    description="Why a mutation did nothing: the code of a userError, for clients to switch on.",
    meanings={
        ErrorCode.INSUFFICIENT_POINTS: "The member's spendable balance is too small.",
        ErrorCode.NOT_FOUND: "What the input names does not exist (or not for this caller).",
        ErrorCode.FORBIDDEN: "The caller may not do this, or not to this member or object.",
        ErrorCode.INVALID_INPUT: "A field's value is malformed or out of range; see `field`.",
        ErrorCode.IDEMPOTENCY_KEY_REUSED: "The idempotency key was used before, for a "
        "different request; nothing was done.",
        ErrorCode.DUPLICATE: "It was done already (the same order, reference or member).",
        ErrorCode.LIMIT_EXCEEDED: "A program limit is reached: a daily cap, a cooldown, a "
        "per-member limit; the message says which.",
        ErrorCode.OUT_OF_STOCK: "The reward has no units left.",
        ErrorCode.RATE_LIMITED: "Too many requests from this caller; try again later.",
        ErrorCode.NOT_ELIGIBLE: "The member does not qualify: a tier, a partner link or a "
        "rule the program sets.",
        ErrorCode.INVALID_STATE: "The object is not in a state that allows it (a cancelled "
        "redemption, a fully refunded purchase).",
    },
)


@strawberry.type(
    description="Why a mutation did nothing. A mutation either does all it was "
    "asked or nothing, and says why in its payload's userErrors."
)
class UserError:
    code: ErrorCode = strawberry.field(description="What went wrong, for clients to switch on.")
    field: str | None = strawberry.field(
        description='The input field at fault, in camelCase as sent ("amount", '
        '"lines"); null when no one field is.'
    )
    message: str = strawberry.field(
        description="What went wrong in words a developer (or, for most codes, a member) can "
        "read; not for switching on, as the wording may change."
    )


# What the same field means on every input and payload, said once.
USER_ERRORS = "Why nothing was done; empty when the mutation succeeded."
MEMBER_ID = (
    "The member's global id. Give it or externalId; a member's token may leave both out, "
    "as a member acts only on itself."
)
EXTERNAL_ID = "Instead of memberId: the member's externalId (1 to 128 characters, no spaces)."
IDEMPOTENCY_KEY = (
    "1 to 255 printable ASCII characters, unique per caller: sending the same request "
    "with it again does nothing more and answers as the first call did; a different request "
    "with it is refused (IDEMPOTENCY_KEY_REUSED)."
)
AFTER_CHANGE = "The member as it stands after the change; null when nothing was done."
WRITTEN = "The ledger transaction written; null when nothing was, or the caller may not see it."


def money_amount(value: object, currency: str) -> Decimal:
    """A stored amount as its currency writes it: "12.50", not "12.5", "12.5000" nor
    "1.25E+1"; "1200" yen."""
    return Decimal(money.written(decimal.Decimal(str(value)), currency))


def user_error(error: DomainError) -> UserError:
    return UserError(code=error.code, field=error.field, message=error.message)


FIRST = "How many items to return: from 1 to 100 (20 when left out)."
AFTER = "A cursor (an edge's cursor, or pageInfo.endCursor): start after that item."


def page_size(first: int | None, default: int = 20) -> int:
    size = default if first is None else first
    if not 1 <= size <= MAX_PAGE:
        raise InvalidInput("first", f"first must be from 1 to {MAX_PAGE}.")
    return size


@strawberry.interface(description="An object with a global id, fetchable with Query.node.")
class Node:
    id: strawberry.ID = strawberry.field(
        description="The object's global id: opaque, stable, and enough for Query.node to "
        "fetch it again."
    )


@strawberry.type(description="Where a page stands in the whole list (Relay's cursor pages).")
class PageInfo:
    has_next_page: bool = strawberry.field(
        description="Whether more items follow: ask again with after = endCursor."
    )
    has_previous_page: bool = strawberry.field(
        description="Whether this page was asked for with a cursor (items came before it)."
    )
    start_cursor: str | None = strawberry.field(
        description="The cursor of the page's first item; null on an empty page."
    )
    end_cursor: str | None = strawberry.field(
        description="The cursor of the page's last item, to pass as after for the next page; "
        "null on an empty page."
    )


T = TypeVar("T")


@strawberry.type(description="One item of a page, with the cursor that continues after it.")
class Edge(Generic[T]):
    cursor: str = strawberry.field(
        description="Opaque: pass it as after to get the items that follow this one."
    )
    node: T = strawberry.field(description="The item.")


@strawberry.type(
    description="A page of a list, in the order its field states; first is from 1 to 100."
)
class Connection(Generic[T]):
    edges: list[Edge[T]] = strawberry.field(description="The page's items, with their cursors.")
    page_info: PageInfo = strawberry.field(description="Whether there is more, and where.")

    @strawberry.field(description="The page's items without their cursors, as edges has them.")
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
