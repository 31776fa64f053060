"""The partners of the program file, as database rows that keys and links can point at."""

from __future__ import annotations

from domain.program import Program
from partners.models import Partner


async def sync(program: Program) -> dict[str, int]:
    """Makes sure every partner of the program has its row; returns ids by key."""
    existing = dict(await Partner.all().values_list("key", "id"))
    missing = [Partner(key=key) for key in program.partners if key not in existing]
    if missing:
        await Partner.bulk_create(missing, ignore_conflicts=True)
        existing = dict(await Partner.all().values_list("key", "id"))
    return {key: existing[key] for key in program.partners}
