"""Reading leaderboards: the top of a board, the window around a member, a closed period."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from domain import program
from domain.errors import InvalidInput
from domain.views import MemberView
from gamification import leaderboards, scores
from gamification.boards import BoardsUnavailable, Entry, Page
from schema import ids
from schema.common import MAX_PAGE
from schema.context import Context
from schema.leaderboards.types import (
    Leaderboard,
    LeaderboardEntry,
    LeaderboardUnavailable,
    entries_of,
    entry_of,
    kept,
    leaderboards_of,
    refreshed,
    require_public_member_fields,
)


def _window(
    ctx: Context, period: program.BoardPeriod, start: datetime | None
) -> tuple[scores.Window, bool]:
    """The period asked for, and whether it has closed."""
    now = ctx.clock.now()
    current = scores.window(period, now, ctx.program.zone)
    if start is None:
        return current, False
    if period is program.BoardPeriod.ALL_TIME:
        raise InvalidInput("periodStart", "An ALL_TIME board has no periods to choose from.")
    asked = scores.window_at(period, start, ctx.program.zone)
    if asked is None:
        raise InvalidInput(
            "periodStart",
            f"No {period.value} begins then: a week begins on Monday at midnight, a month on "
            f"its first day, in the program's time zone ({ctx.program.timezone}).",
        )
    if asked.start > current.start:
        raise InvalidInput("periodStart", "That period has not begun.")
    return asked, asked.start < current.start


async def _archived(ctx: Context, board_key: str, window: scores.Window, first: int) -> Leaderboard:
    found = await leaderboards.archived(board_key, window.period, window.start, first)
    shown = await entries_of(ctx, [Entry(e.member_id, e.rank, e.score, 0.0) for e in found])
    entries = [
        LeaderboardEntry(rank=e.rank, score=e.score, percentile=None, member=e.member)
        for e in shown
    ]
    return Leaderboard(
        board=board_key,
        period=window.period,
        period_start=window.start,
        period_end=window.end,
        archived=True,
        entries=entries,
        size=len(entries),
    )


@strawberry.type
class LeaderboardQueries:
    @strawberry.field(
        description="A leaderboard's ranking: its top `first`, or with `around` the window of "
        "`first` members centred on that member (empty when the member is not on the board). "
        "Public: members show only their id and displayName to anyone but the operator. The "
        "calling member's own latest activity is always counted. An unknown board, or a period "
        "the board is not kept for, is INVALID_INPUT; when rankings cannot be read, the error "
        "is LEADERBOARD_UNAVAILABLE."
    )
    async def leaderboard(
        self,
        info: Info[Context, None],
        board: Annotated[str, strawberry.argument(description="The leaderboard's key.")],
        period: Annotated[
            program.BoardPeriod, strawberry.argument(description="The period it ranks over.")
        ] = program.BoardPeriod.ALL_TIME,
        first: Annotated[
            int, strawberry.argument(description=f"How many entries, 1 to {MAX_PAGE}.")
        ] = 10,
        around: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="A Member's id: the entries around that member."),
        ] = None,
        period_start: Annotated[
            datetime | None,
            strawberry.argument(
                description="A closed WEEK or MONTH, by when it began (Monday or the 1st, "
                "00:00 in the program's time zone): answered from its archive. Left out: "
                "the current period."
            ),
        ] = None,
    ) -> Leaderboard:
        ctx = info.context
        found = kept(ctx, board, period)
        if not 1 <= first <= MAX_PAGE:
            raise InvalidInput("first", f"first must be from 1 to {MAX_PAGE}.")
        require_public_member_fields(info)
        window, closed = _window(ctx, period, period_start)
        if closed:
            if around is not None:
                raise InvalidInput("around", "An archived period keeps only its top.")
            return await _archived(ctx, found.key, window, first)
        centre = None if around is None else ids.int_key_of(around, "Member", "around")
        boards = leaderboards_of(ctx).boards
        key = boards.key(found.key, window)
        mine = {m for m in (ctx.actor.member_id, centre) if m is not None}
        refresh = refreshed(ctx, found.key, window, mine, shown=True) if mine else None
        try:
            if centre is None:
                page: Page | None = await boards.top(key, first, refresh)
            else:
                above = (first - 1) // 2
                page = await boards.around(key, centre, above, first - 1 - above, refresh)
            size = page.size if page is not None else await boards.size(key)
        except BoardsUnavailable:
            raise LeaderboardUnavailable() from None
        return Leaderboard(
            board=found.key,
            period=period,
            period_start=None if window.end is None else window.start,
            period_end=window.end,
            archived=False,
            entries=[] if page is None else await entries_of(ctx, list(page.entries)),
            size=size,
        )


async def rank_of(
    ctx: Context, member: MemberView, board_key: str, period: program.BoardPeriod
) -> LeaderboardEntry | None:
    """`Member.rank`: the member's entry on the board's current period, or null when it is
    not on it."""
    found = kept(ctx, board_key, period)
    window = scores.window(period, ctx.clock.now(), ctx.program.zone)
    refresh = refreshed(ctx, found.key, window, [member.id])
    boards = leaderboards_of(ctx).boards
    try:
        entry = await boards.entry(boards.key(found.key, window), member.id, refresh)
    except BoardsUnavailable:
        raise LeaderboardUnavailable() from None
    if entry is None:
        return None
    return entry_of(entry, member)
