"""Program versions: each distinct program file the operator applies becomes a numbered
version, kept forever. The latest version is the program in force, whatever file a process
was started with: a file becomes the program only when it is applied (`coalition program
apply`), or when it seeds a database that has no version yet.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from domain import qualifying, redemptions, sql
from domain.models import CampaignBudget, ProgramVersion
from domain.program import Program
from domain.program_file import load_program


class NoProgram(Exception):
    """The database has no program version and no program file was given to seed it."""


@dataclass(frozen=True)
class InForce:
    program: Program  # the latest applied version, its number set
    applied_at: datetime
    seeded: bool  # the configured file has just become version 1 of an empty database
    # The configured file is not the version in force (it was edited, or another was applied
    # since): it takes effect only when applied.
    configured_differs: bool


async def latest() -> ProgramVersion | None:
    return await ProgramVersion.all().order_by("-id").first()


async def apply(program: Program) -> Program:
    """Records the program as the current version (unless it already is) and returns it with
    its version number set; transactions posted under it will say so."""
    current = await latest()
    if current is None or current.digest != program.digest:
        before = None if current is None else program_of(current)
        current = await _record(program)
        if qualifying.kept(program) and (before is None or not qualifying.kept(before)):
            await qualifying.rebuild(sql.connection())
    return await _ready(replace(program, version=current.id))


async def in_force(configured: Program | None) -> InForce:
    """The program in force: the latest applied version. Only an empty database takes the
    configured program, as its first version; otherwise the configured file is compared with
    the version in force and left alone."""
    current = await latest()
    if current is None:
        if configured is None:
            raise NoProgram("the database has no program version yet, and no file was given")
        current = await _record(configured)
        program = await _ready(replace(configured, version=current.id))
        return InForce(
            program, sql.to_datetime(current.applied_at), seeded=True, configured_differs=False
        )
    program = await _ready(program_of(current))
    return InForce(
        program,
        sql.to_datetime(current.applied_at),
        seeded=False,
        configured_differs=configured is not None and configured.digest != current.digest,
    )


async def live(configured: Program | None) -> Program:
    """The program in force, read without writing anything: the latest version, or the
    configured program an empty database would take."""
    current = await latest()
    if current is not None:
        return program_of(current)
    if configured is None:
        raise NoProgram("the database has no program version yet, and no file was given")
    return configured


async def _record(program: Program) -> ProgramVersion:
    return await ProgramVersion.create(digest=program.digest, source=program.source)


def program_of(version: ProgramVersion) -> Program:
    """The program a recorded version holds, its number set."""
    return replace(load_program(version.source), version=version.id)


async def _ready(program: Program) -> Program:
    """What the program's rewards and campaigns need in SQL (stock counters, budget rows)."""
    await redemptions.sync_stock(program)
    budgeted = [c.key for c in program.campaigns if c.budget is not None]
    known = set(
        await CampaignBudget.filter(campaign_key__in=budgeted).values_list(
            "campaign_key", flat=True
        )
    )
    missing = [CampaignBudget(campaign_key=key) for key in budgeted if key not in known]
    if missing:
        await CampaignBudget.bulk_create(missing, ignore_conflicts=True)
    return program
