"""Applying a program file: each distinct file becomes a numbered version, kept forever."""

from __future__ import annotations

from dataclasses import replace

from domain import redemptions
from domain.models import CampaignBudget, ProgramVersion
from domain.program import Program


async def latest() -> ProgramVersion | None:
    return await ProgramVersion.all().order_by("-id").first()


async def apply(program: Program) -> Program:
    """Records the program as the current version (unless it already is) and returns it with
    its version number set; transactions posted under it will say so."""
    current = await latest()
    if current is None or current.digest != program.digest:
        current = await ProgramVersion.create(digest=program.digest, source=program.source)
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
    return replace(program, version=current.id)
