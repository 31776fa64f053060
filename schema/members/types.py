"""Members as clients see them: balance, tier, what expires, and their history."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from domain import events, preferences, tier_rules, tiers, views
from domain.program import BoardPeriod
from gamification import progress
from schema import ids
from schema.authorization import dealings_seen_by, sees_private_details
from schema.common import AFTER, FIRST, Connection, Node, connection, expose_enum, page_size
from schema.context import Context
from schema.gamification.challenges import ChallengeProgress
from schema.gamification.types import BadgeProgress, StreakProgress
from schema.ledger.types import PointTransaction
from schema.program.types import Tier
from schema.rewards.types import Redemption

if TYPE_CHECKING:
    from schema.leaderboards.types import LeaderboardEntry


@strawberry.type(
    description="Where a member stands among the tiers: its tier (kept until a review lowers "
    "it), how far the next is, and what keeps the current one. Amounts are in what the "
    "program's tiers count (`tierRules.qualifyOn`): points, or whole units of the spend "
    "currency."
)
class TierStatus:
    current: Tier = strawberry.field(
        description="The member's tier now: raised at once when activity reaches a higher "
        "threshold, lowered only by a review."
    )
    next: Tier | None = strawberry.field(description="The tier above; null at the top.")
    progress: float = strawberry.field(
        description="0 to 1, of the way from the current tier's threshold to the next one's, "
        "by this window's qualifying amount; 1 at the top."
    )
    points_to_next: int | None = strawberry.field(
        description="Still to earn in this window for the next tier (points, or whole units "
        "of the spend currency); null at the top."
    )
    qualifying_amount: int = strawberry.field(
        description="What counts toward tiers in this window so far: points no longer pending "
        "(less refunds), or whole units of the spend currency."
    )
    retain_by: int = strawberry.field(
        description="Still needed in this window to keep the current tier at the next review; "
        "0 when it is kept already."
    )
    window_starts_at: datetime | None = strawberry.field(
        description="Where the window whose activity counts began; null for lifetime tiers."
    )
    review_at: datetime = strawberry.field(
        description="The next review, where this window ends: a member below its tier's "
        "retain threshold then goes down (one tier, or to what it still reaches)."
    )
    member_id: strawberry.Private[int]

    @strawberry.field(
        description="How many of the program's members have a lower qualifying amount in "
        "this window, in percent (0 to 100): 'ahead of 73% of members'. Null when Redis "
        "cannot be read just now."
    )
    async def percentile(self, info: Info[Context, None]) -> float | None:
        # The member's own amount is the fresh one from SQL; the others' come from Redis.
        ahead = await info.context.loaders.percentiles.load(
            (self.member_id, ((progress.TIER, self.qualifying_amount),))
        )
        return ahead.get(progress.TIER)


expose_enum(
    events.TierChangeReason,
    name="TierChangeReason",
    description="Why a member's tier changed.",
    meanings={
        events.TierChangeReason.QUALIFIED: "Activity reached a higher tier's threshold.",
        events.TierChangeReason.REVIEW: "A review found the window below the tier's retain "
        "threshold.",
    },
)


@strawberry.type(description="A change of a member's tier, as the history keeps it.")
class TierChange:
    from_key: str | None = strawberry.field(
        description="The tier's key before; null for a member's first stored tier."
    )
    to_key: str = strawberry.field(description="The tier's key after.")
    from_tier: Tier | None = strawberry.field(
        name="from", description="The tier before, if the program still has it."
    )
    to_tier: Tier | None = strawberry.field(
        name="to", description="The tier after, if the program still has it."
    )
    reason: events.TierChangeReason = strawberry.field(description="Why it changed.")
    qualifying_amount: int = strawberry.field(
        description="The window's qualifying amount that decided it."
    )
    occurred_at: datetime = strawberry.field(description="When it changed.")


@strawberry.type(description="Spendable points that expire together.")
class ExpiringPoints:
    amount: int = strawberry.field(description="Whole points that expire then, unless spent.")
    expires_at: datetime = strawberry.field(description="When they expire.")


@strawberry.type(
    description="Points on their way: earned, held for a return window, not yet spendable."
)
class PendingPoints:
    amount: int = strawberry.field(description="Points (a whole number) that become spendable.")
    available_at: datetime = strawberry.field(
        description="When they become spendable. The jobs release them (every minute in the "
        "server), so until those have run this may lie a moment in the past."
    )


@strawberry.type(
    description="A member of the program. The member sees itself; a partner, members it has "
    "dealt with (without their private details); the operator, everyone."
)
class Member(Node):
    external_id: str = strawberry.field(
        description="The member's id in the operator's systems: a bearer token's sub."
    )
    display_name: str | None = strawberry.field(description="The name the member goes by.")
    enrolled_at: datetime = strawberry.field(description="When the member enrolled.")
    balance: int = strawberry.field(description="Whole points spendable now.")
    pending_points: int = strawberry.field(
        description="Whole points earned but not yet spendable (held until a release date)."
    )
    lifetime_points: int = strawberry.field(
        description="Whole points earned since enrolling, less what refunds took back; "
        "spending does not lower it."
    )
    points_owed: int = strawberry.field(
        description="Points a refund took back after they were spent; earnings repay them first."
    )
    view: strawberry.Private[views.MemberView]

    @classmethod
    def of(cls, view: views.MemberView) -> Member:
        return cls(
            id=strawberry.ID(ids.global_id("Member", view.id)),
            external_id=view.external_id,
            display_name=view.display_name,
            enrolled_at=view.created_at,
            balance=view.balance,
            pending_points=view.pending,
            lifetime_points=view.lifetime,
            points_owed=view.debt,
            view=view,
        )

    @strawberry.field(description="Seen by the member and the operator only.")
    def email(self, info: Info[Context, None]) -> str | None:
        return self.view.email if sees_private_details(info.context, self.view.id) else None

    @strawberry.field(description="Seen by the member and the operator only.")
    def birthday(self, info: Info[Context, None]) -> date | None:
        return self.view.birthday if sees_private_details(info.context, self.view.id) else None

    @strawberry.field(description="The code this member gives friends when referring them.")
    def referral_code(self, info: Info[Context, None]) -> str | None:
        private = sees_private_details(info.context, self.view.id)
        return self.view.referral_code if private else None

    @strawberry.field(
        description="Where the member stands among the tiers. Its tier is stored: activity "
        "raises it at once, a review lowers it. Pending points (a return may yet take them "
        "back) count for nothing tier-related until released."
    )
    async def tier(self, info: Info[Context, None]) -> TierStatus:
        ctx = info.context
        prog = ctx.program
        now = ctx.clock.now()
        if prog.tier_rules.from_account:
            amount = self.view.qualifying_points
        else:
            amount = await ctx.loaders.tier_amounts.load(self.view.id)
        found = tier_rules.standing(tiers.current(prog, self.view), amount, prog.tiers)
        window = tier_rules.window_at(prog.tier_rules, prog.zone, now)
        return TierStatus(
            current=Tier.of(found.current, ctx.language),
            next=Tier.of(found.next, ctx.language) if found.next else None,
            progress=found.progress,
            points_to_next=found.to_next,
            qualifying_amount=found.amount,
            retain_by=found.retain_by,
            window_starts_at=window.start,
            review_at=window.review_at,
            member_id=self.view.id,
        )

    @strawberry.field(
        description="The member's tier changes, newest first (at most `first`, 1 to 100). "
        "Seen by whoever may see the member."
    )
    async def tier_changes(
        self,
        info: Info[Context, None],
        first: Annotated[
            int | None, strawberry.argument(description="How many, 1 to 100 (20 if left out).")
        ] = 20,
    ) -> list[TierChange]:
        ctx = info.context
        found = await ctx.loaders.tier_changes.load((self.view.id, page_size(first)))
        prog = ctx.program
        return [
            TierChange(
                from_key=c.from_tier,
                to_key=c.to_tier,
                from_tier=Tier.of(t, ctx.language) if (t := prog.tier(c.from_tier or "")) else None,
                to_tier=Tier.of(t, ctx.language) if (t := prog.tier(c.to_tier)) else None,
                reason=c.reason,
                qualifying_amount=c.amount,
                occurred_at=c.occurred_at,
            )
            for c in found
        ]

    @strawberry.field(
        description="Spendable points that will expire, soonest first (at most 100 moments). "
        "Pending points are not counted until released, so these never add up to more than "
        "the balance."
    )
    async def expiring_points(self, info: Info[Context, None]) -> list[ExpiringPoints]:
        found = await info.context.loaders.expiring.load(self.view.account_id)
        return [ExpiringPoints(amount=e.points, expires_at=e.expires_at) for e in found]

    @strawberry.field(
        description="When the pending points become spendable, soonest first, one entry per "
        "moment; the amounts add up to pendingPoints. Seen by whoever may see the member."
    )
    async def pending_releases(self, info: Info[Context, None]) -> list[PendingPoints]:
        found = await info.context.loaders.pending.load(self.view.account_id)
        return [PendingPoints(amount=p.points, available_at=p.available_at) for p in found]

    @strawberry.field(
        description="Newest first. A partner sees only its own dealings with the member."
    )
    async def transactions(
        self,
        info: Info[Context, None],
        first: Annotated[int | None, strawberry.argument(description=FIRST)] = 20,
        after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
    ) -> Connection[PointTransaction]:
        size = page_size(first)
        before = ids.parse_cursor(after)
        views, more = await info.context.loaders.transaction_pages.load(
            (self.view.account_id, size, before, dealings_seen_by(info.context))
        )
        return connection([(v.id, PointTransaction.of(v)) for v in views], more, before is not None)

    @strawberry.field(
        description="Newest first. A partner sees only redemptions of its own rewards."
    )
    async def redemptions(
        self,
        info: Info[Context, None],
        first: Annotated[int | None, strawberry.argument(description=FIRST)] = 20,
        after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
    ) -> Connection[Redemption]:
        size = page_size(first)
        before = ids.parse_cursor(after)
        views, more = await info.context.loaders.redemption_pages.load(
            (self.view.id, size, before, dealings_seen_by(info.context))
        )
        return connection([(v.id, Redemption.of(v)) for v in views], more, before is not None)

    @strawberry.field(
        description="Every badge the member can see, in program order, with its progress; a "
        "hidden badge only once its first level is unlocked. Seen by the member and the "
        "operator only (it tells of dealings with every partner): empty for anyone else."
    )
    async def badges(self, info: Info[Context, None]) -> list[BadgeProgress]:
        ctx = info.context
        if not sees_private_details(ctx, self.view.id):
            return []
        snapshot = await ctx.loaders.gamification.load(self.view.id)
        shown = snapshot.visible(ctx.program)
        if not shown:
            return []
        # The member's own values are the fresh ones from SQL; the others' come from Redis.
        ahead = await ctx.loaders.percentiles.load(
            (self.view.id, tuple(sorted({(s.badge.metric, s.current) for s in shown})))
        )
        return [BadgeProgress.of(s, ctx.language, ahead.get(s.badge.metric)) for s in shown]

    @strawberry.field(
        description="The program's streaks, in program order, with the member's current and "
        "longest run. Seen by the member and the operator only: empty for anyone else."
    )
    async def streaks(self, info: Info[Context, None]) -> list[StreakProgress]:
        ctx = info.context
        if not sees_private_details(ctx, self.view.id) or not ctx.program.streaks:
            return []
        snapshot = await ctx.loaders.gamification.load(self.view.id)
        return [
            StreakProgress.of(streak, snapshot.streaks[streak.key], ctx.language)
            for streak in ctx.program.streaks
        ]

    @strawberry.field(
        description="The member's progress in every challenge running now, in the program "
        "file's order, for the current window of each. Seen by the member and the operator "
        "only (progress counts dealings with every partner): empty for anyone else."
    )
    async def challenges(self, info: Info[Context, None]) -> list[ChallengeProgress]:
        ctx = info.context
        if not sees_private_details(ctx, self.view.id):
            return []
        found = await ctx.loaders.challenges.load(self.view.id)
        return [ChallengeProgress.of(standing, ctx.language, self.view.id) for standing in found]

    @strawberry.field(
        description="The member's place on a leaderboard's current period; null when it is "
        "not on it (nothing counted yet, or opted out). Counts the member's latest activity "
        "at once. An unknown board, or a period the board is not kept for, is INVALID_INPUT; "
        "when rankings cannot be read, LEADERBOARD_UNAVAILABLE."
    )
    async def rank(
        self,
        info: Info[Context, None],
        board: Annotated[str, strawberry.argument(description="The leaderboard's key.")] = "points",
        period: Annotated[
            BoardPeriod, strawberry.argument(description="The period it ranks over.")
        ] = BoardPeriod.ALL_TIME,
    ) -> Annotated[LeaderboardEntry, strawberry.lazy("schema.leaderboards.types")] | None:
        from schema.leaderboards.queries import rank_of

        return await rank_of(info.context, self.view, board, period)

    @strawberry.field(
        description="Whether the member keeps off the leaderboards (setLeaderboardOptOut). "
        "Seen by the member and the operator only."
    )
    async def leaderboard_opt_out(self, info: Info[Context, None]) -> bool | None:
        if not sees_private_details(info.context, self.view.id):
            return None
        return self.view.id in await preferences.opted_out([self.view.id])
