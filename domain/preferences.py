"""What a member chooses about how it is shown: for now, whether it appears on leaderboards.

A member who opts out appears on no board; its points and progress go on as before. The
choice is a row in `leaderboard_opt_out` (there: out), written with its event in one unit of
work, so the leaderboards learn of it like any other change. Setting it again changes nothing.
"""

from __future__ import annotations

from datetime import datetime

from domain import events, members, sql, views
from domain.actors import Actor
from domain.program import Program
from domain.unit import unit_of_work


async def opted_out(member_ids: list[int]) -> set[int]:
    """Which of these members are off the leaderboards."""
    if not member_ids:
        return set()
    found = await sql.rows(
        sql.connection(),
        "SELECT member_id FROM leaderboard_opt_out "
        f"WHERE member_id IN ({sql.in_list(len(member_ids))})",
        member_ids,
    )
    return {int(r["member_id"]) for r in found}


async def set_leaderboard_opt_out(
    program: Program,
    actor: Actor,
    member: members.MemberRef,
    opt_out: bool,
    now: datetime | None = None,
) -> views.MemberView:
    found = await members.find(member)
    async with unit_of_work(program, now) as unit:
        # RETURNING says whether a row changed, alike on both databases.
        if opt_out:
            changed = await sql.rows(
                unit.conn,
                "INSERT INTO leaderboard_opt_out (member_id, created_at) VALUES (?, ?) "
                "ON CONFLICT (member_id) DO NOTHING RETURNING member_id",
                [found.id, unit.now],
            )
        else:
            changed = await sql.rows(
                unit.conn,
                "DELETE FROM leaderboard_opt_out WHERE member_id = ? RETURNING member_id",
                [found.id],
            )
        if changed:
            unit.emit(
                events.LeaderboardOptOutSet(
                    member_id=found.id, opted_out=opt_out, source=actor.source
                )
            )
    return found
