"""The one way every mutation runs: do the work, and answer with its payload or its
userErrors. A domain refusal is a typed userError, never a top-level error."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from strawberry.types import Info

from domain.errors import DomainError
from schema.authorization import Operation, require_may
from schema.common import UserError, user_error
from schema.context import Context
from schema.loaders import Loaders

log = logging.getLogger("coalition.graphql")

R = TypeVar("R")
P = TypeVar("P")


async def mutate(
    info: Info[Context, None],
    operation: Operation,
    payload: Callable[..., P],
    work: Callable[[Context], Awaitable[R]],
    answer: Callable[[Context, R], P],
) -> P:
    """Checks the caller may call `operation` at all, then runs `work` (which checks what else
    the operation needs, then calls one domain service). `answer` shapes what it did into the
    payload, through the visibility rules every other path follows; a refusal is
    `payload(user_errors=...)`, every other field of it left null."""
    ctx = info.context
    try:
        require_may(ctx, operation)
        done = await work(ctx)
    except DomainError as error:
        if error.code not in operation.errors:
            # The schema's description of the mutation is then wrong: it lists the codes.
            log.error(
                "%s returned %s, which its description does not list", operation.name, error.code
            )
        errors: list[UserError] = [user_error(error)]
        return payload(user_errors=errors)
    # After a write, loaders start afresh: nothing read before it may be served after it.
    ctx.loaders = Loaders(ctx.program, ctx.clock, ctx.loaders.progress)
    return answer(ctx, done)
