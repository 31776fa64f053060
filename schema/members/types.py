"""Members as clients see them: balance, tier, what expires, and their history."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from domain import preferences, views
from domain.program import BoardPeriod
from gamification.tiers import tier_progress
from schema import ids
from schema.authorization import dealings_seen_by, sees_private_details
from schema.common import AFTER, FIRST, Connection, Node, connection, page_size
from schema.context import Context
from schema.ledger.types import PointTransaction
from schema.program.types import Tier
from schema.rewards.types import Redemption

if TYPE_CHECKING:
    from schema.leaderboards.types import LeaderboardEntry


@strawberry.type(description="Where a member stands among the tiers, and how far the next is.")
class TierStatus:
    current: Tier = strawberry.field(description="The member's tier now.")
    next: Tier | None = strawberry.field(description="The tier above; null at the top.")
    progress: float = strawberry.field(description="0 to 1, of the way to the next tier.")
    points_to_next: int | None = strawberry.field(
        description="Whole points still to earn for the next tier; null at the top."
    )


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
        description="Where the member stands among the tiers, by its lifetime points less its "
        "pending ones: points a return may yet take back never lift a tier; they count once "
        "released."
    )
    def tier(self, info: Info[Context, None]) -> TierStatus:
        ctx = info.context
        standing = tier_progress(self.view.qualifying_points, ctx.program.tiers)
        return TierStatus(
            current=Tier.of(standing.current, ctx.language),
            next=Tier.of(standing.next, ctx.language) if standing.next else None,
            progress=standing.progress,
            points_to_next=standing.points_to_next,
        )

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

        return await rank_of(info.context, self.view.id, board, period)

    @strawberry.field(
        description="Whether the member keeps off the leaderboards (setLeaderboardOptOut). "
        "Seen by the member and the operator only."
    )
    async def leaderboard_opt_out(self, info: Info[Context, None]) -> bool | None:
        if not sees_private_details(info.context, self.view.id):
            return None
        return self.view.id in await preferences.opted_out([self.view.id])
