"""The program's public catalog: anyone may read it, without credentials."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from schema.context import Context
from schema.program.types import Action, Badge, Campaign, LeaderboardDefinition, Tier, TierRules


def _leaderboards(ctx: Context) -> list[LeaderboardDefinition]:
    return [LeaderboardDefinition.of(b, ctx.language) for b in ctx.program.leaderboards]


@strawberry.type
class ProgramQueries:
    @strawberry.field(description="The tiers, lowest first. Public.")
    def tiers(self, info: Info[Context, None]) -> list[Tier]:
        ctx = info.context
        return [Tier.of(tier, ctx.language) for tier in ctx.program.tiers]

    @strawberry.field(description="How tiers are reached, kept and lost. Public.")
    def tier_rules(self, info: Info[Context, None]) -> TierRules:
        return TierRules.of(info.context.program.tier_rules)

    @strawberry.field(
        description="The badges members can unlock, but the hidden ones (Member.badges shows "
        "those once unlocked). Public."
    )
    def badges(self, info: Info[Context, None]) -> list[Badge]:
        ctx = info.context
        return [Badge.of(b, ctx.language) for b in ctx.program.badges if not b.hidden]

    @strawberry.field(description="The leaderboards the program keeps, and for which periods.")
    def leaderboards(self, info: Info[Context, None]) -> list[LeaderboardDefinition]:
        return _leaderboards(info.context)

    @strawberry.field(
        description="The former name of leaderboards, which it answers.",
        deprecation_reason="Use leaderboards: one word for them throughout.",
    )
    def boards(self, info: Info[Context, None]) -> list[LeaderboardDefinition]:
        return _leaderboards(info.context)

    @strawberry.field(description="Campaigns running now or to come, soonest first.")
    def campaigns(self, info: Info[Context, None]) -> list[Campaign]:
        ctx = info.context
        now = ctx.clock.now()
        current = sorted((c for c in ctx.program.campaigns if c.ends > now), key=lambda c: c.starts)
        return [Campaign.of(c, ctx.program, ctx.language) for c in current]

    @strawberry.field(
        description="The program's rewarded actions, in the program file's order, with what each "
        "earns and its limits; names and descriptions in the request's Accept-Language. Public: "
        "no credentials needed."
    )
    def actions(self, info: Info[Context, None]) -> list[Action]:
        ctx = info.context
        return [Action.of(action, ctx.language) for action in ctx.program.actions.values()]
