"""The rewards catalog, page by page."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from schema import ids
from schema.common import AFTER, FIRST, Connection, connection, page_size
from schema.context import Context
from schema.rewards.types import Reward


@strawberry.type
class RewardQueries:
    @strawberry.field(description="The rewards catalog, in the program file's order. Public.")
    def rewards(
        self,
        info: Info[Context, None],
        first: Annotated[int | None, strawberry.argument(description=FIRST)] = 20,
        after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
    ) -> Connection[Reward]:
        ctx = info.context
        size = page_size(first)
        start = 0 if after is None else (ids.parse_cursor(after) or 0) + 1
        catalog = list(ctx.program.rewards.values())
        chosen = catalog[start : start + size]
        return connection(
            [(start + n, Reward.of(r, ctx.program, ctx.language)) for n, r in enumerate(chosen)],
            start + size < len(catalog),
            start > 0,
        )
