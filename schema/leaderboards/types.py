"""A leaderboard as clients see it, and the rules on whom it shows and how."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from graphql import GraphQLError
from strawberry.types import Info
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection

from domain import program
from domain.errors import InvalidInput
from domain.views import MemberView
from gamification import scores
from gamification.boards import Entry, Expected
from gamification.leaderboards import Leaderboards, board
from schema.context import Context

if TYPE_CHECKING:
    from schema.members.types import Member

UNAVAILABLE = "LEADERBOARD_UNAVAILABLE"
# The fields of a member that a leaderboard shows to whoever may see the board.
PUBLIC_MEMBER_FIELDS = frozenset({"id", "displayName", "__typename"})


class LeaderboardUnavailable(GraphQLError):
    def __init__(self) -> None:
        super().__init__(
            "Rankings are unavailable just now (the leaderboard store does not answer); "
            "points and everything else work as usual. Try again shortly.",
            extensions={"code": UNAVAILABLE},
        )


@strawberry.type(description="A member's place on a leaderboard.")
class LeaderboardEntry:
    rank: int = strawberry.field(
        description="1 for the top. Ties go to whoever reached the score first, so no two "
        "members share a rank."
    )
    score: int = strawberry.field(
        description="What the board counts for the member over the period (points earned, "
        "purchases, actions...), from 0."
    )
    percentile: float | None = strawberry.field(
        description="How many of the board's members rank below this one, in percent, 0 to "
        "100: ahead of 73% of members. Null for an archived period."
    )
    member: Annotated[Member, strawberry.lazy("schema.members.types")] = strawberry.field(
        description="The member. On a leaderboard, anyone but the operator may ask only its "
        "id and displayName (FORBIDDEN otherwise)."
    )


@strawberry.type(description="A leaderboard's ranking over one period.")
class Leaderboard:
    board: str = strawberry.field(description="The leaderboard's key in the program file.")
    period: program.BoardPeriod = strawberry.field(description="The period it ranks over.")
    period_start: datetime | None = strawberry.field(
        description="When the period began; null for ALL_TIME."
    )
    period_end: datetime | None = strawberry.field(
        description="When the period ends (its first moment after); null for ALL_TIME."
    )
    archived: bool = strawberry.field(
        description="True for a closed period, answered from its archive: its top 100, "
        "without percentiles."
    )
    entries: list[LeaderboardEntry] = strawberry.field(
        description="Best first: the top, or the window around the member `around` names."
    )
    size: int = strawberry.field(
        description="How many members are on the board for the period (for an archived one, "
        "how many were archived)."
    )


def leaderboards_of(ctx: Context) -> Leaderboards:
    if ctx.leaderboards is None:
        raise LeaderboardUnavailable()
    return ctx.leaderboards


def kept(ctx: Context, board_key: str, period: program.BoardPeriod) -> program.Leaderboard:
    found = board(ctx.program, board_key)
    if found is None:
        known = ", ".join(b.key for b in ctx.program.leaderboards) or "none"
        raise InvalidInput("board", f"No leaderboard has the key {board_key!r} (known: {known}).")
    if period not in found.periods:
        kept_for = ", ".join(p.value for p in found.periods)
        raise InvalidInput(
            "period", f"The {board_key!r} leaderboard is not kept for {period.value} ({kept_for})."
        )
    return found


async def entries_of(ctx: Context, found: list[Entry]) -> list[LeaderboardEntry]:
    """The entries, each with its member (loaded together); members gone from SQL are skipped."""
    views = await ctx.loaders.members.load_many([e.member_id for e in found])
    return [entry_of(e, view) for e, view in zip(found, views, strict=True) if view is not None]


def entry_of(entry: Entry, member: MemberView) -> LeaderboardEntry:
    from schema.members.types import Member

    return LeaderboardEntry(
        rank=entry.rank, score=entry.score, percentile=entry.percentile, member=Member.of(member)
    )


def require_public_member_fields(info: Info[Context, None]) -> None:
    """A board shows members' id and displayName only, to anyone but the operator."""
    if info.context.actor.is_admin:
        return
    asked: set[str] = set()
    for field in info.selected_fields:
        for entries in _fields(field.selections, "entries"):
            for member in _fields(entries.selections, "member"):
                asked |= {f.name for f in _fields(member.selections, None)}
    private = sorted(asked - PUBLIC_MEMBER_FIELDS)
    if private:
        raise GraphQLError(
            f"A leaderboard shows members' id and displayName only; not {', '.join(private)}.",
            extensions={"code": "FORBIDDEN"},
        )


def _fields(selections: list[Selection], name: str | None) -> list[SelectedField]:
    """The fields named `name` (or all) among selections, fragments spread in."""
    found: list[SelectedField] = []
    for selection in selections:
        if isinstance(selection, (FragmentSpread, InlineFragment)):
            found += _fields(selection.selections, name)
        elif isinstance(selection, SelectedField) and (name is None or selection.name == name):
            found.append(selection)
    return found


def refreshed(
    ctx: Context,
    board_key: str,
    window: scores.Window,
    member_ids: Iterable[int],
    shown: bool = False,
) -> Expected:
    """Read-your-writes: these members' standings from SQL, which the read that follows
    writes first where Redis holds something else, so a rank asked for after a mutation
    shows it, whatever the projector has reached. With `shown`, the members a page's read
    finds are loaded meanwhile, for the entries to show them."""
    found = leaderboards_of(ctx)
    members = tuple(sorted(set(member_ids)))
    now = ctx.clock.now()
    return Expected(
        found.boards.key(board_key, window),
        members,
        lambda: found.fresh(board_key, window, members, now),
        ctx.loaders.members.load_many if shown else None,
    )
