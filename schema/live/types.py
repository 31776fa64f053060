"""What `memberEvents` sends: one of four kinds of event, about one member."""

from __future__ import annotations

import logging
from typing import Annotated

import strawberry
from strawberry.types import Info

from domain.program import BoardPeriod
from gamification.live import LiveBadge, LiveEvent, LivePoints, LiveRank, LiveTier
from schema.authorization import may_see_transaction
from schema.context import Context
from schema.ledger.types import PointTransaction
from schema.members.queries import visible_member
from schema.members.types import Member
from schema.program.types import Badge, Tier

log = logging.getLogger("coalition.live")


async def _member(info: Info[Context, None], member_id: int) -> Member:
    ctx = info.context
    shown = await visible_member(ctx, await ctx.loaders.members.load(member_id))
    if shown is None:  # the operator, for a member erased since the event
        raise LookupError(f"member {member_id} is gone")
    return shown


_MEMBER = "The member, as it stands when the event is sent (read afresh for every event)."


@strawberry.type(description="The member's points moved: a purchase, a redemption, an expiry...")
class PointsChanged:
    member_id: strawberry.Private[int]
    transaction_id: strawberry.Private[int | None]
    balance: int = strawberry.field(description="Spendable points after the move.")
    pending_points: int = strawberry.field(
        description="Points earned and not yet spendable, after the move."
    )
    delta: int = strawberry.field(
        description="What the move changed the member's points by (signed; debits negative)."
    )

    @strawberry.field(description=_MEMBER)
    async def member(self, info: Info[Context, None]) -> Member:
        return await _member(info, self.member_id)

    @strawberry.field(description="The transaction that moved them; null if there is none.")
    async def transaction(self, info: Info[Context, None]) -> PointTransaction | None:
        if self.transaction_id is None:
            return None
        found = await info.context.loaders.transactions.load(self.transaction_id)
        if found is None or not may_see_transaction(info.context, found):
            return None
        return PointTransaction.of(found)


@strawberry.type(description="The member unlocked a badge, or a level of one.")
class BadgeUnlocked:
    member_id: strawberry.Private[int]
    badge: Badge = strawberry.field(description="The badge.")
    level: int | None = strawberry.field(
        description="The level reached, from 1; null for a badge of one level."
    )

    @strawberry.field(description=_MEMBER)
    async def member(self, info: Info[Context, None]) -> Member:
        return await _member(info, self.member_id)


@strawberry.type(description="The member moved to another tier.")
class TierChanged:
    member_id: strawberry.Private[int]
    from_: Tier | None = strawberry.field(
        name="from", description="The tier it left; null if it had none."
    )
    to: Tier = strawberry.field(description="The tier it is in now.")

    @strawberry.field(description=_MEMBER)
    async def member(self, info: Info[Context, None]) -> Member:
        return await _member(info, self.member_id)


@strawberry.type(description="The member's rank on a leaderboard changed.")
class RankChanged:
    member_id: strawberry.Private[int]
    board: str = strawberry.field(description="The leaderboard's key in the program file.")
    period: BoardPeriod = strawberry.field(description="The period of the board.")
    rank: int = strawberry.field(description="The member's rank now, from 1.")
    previous_rank: int | None = strawberry.field(
        description="Its rank before; null if it was not on the board."
    )

    @strawberry.field(description=_MEMBER)
    async def member(self, info: Info[Context, None]) -> Member:
        return await _member(info, self.member_id)


MemberEvent = Annotated[
    PointsChanged | BadgeUnlocked | TierChanged | RankChanged,
    strawberry.union("MemberEvent", description="Something that happened to a member."),
]


def member_event(
    ctx: Context, event: LiveEvent
) -> PointsChanged | BadgeUnlocked | TierChanged | RankChanged | None:
    """The event as the subscription sends it; None for a badge or tier the program in force
    does not have (a program applied since), which is not sent."""
    if isinstance(event, LivePoints):
        return PointsChanged(
            member_id=event.member_id,
            transaction_id=event.transaction_id,
            balance=event.balance,
            pending_points=event.pending,
            delta=event.delta,
        )
    if isinstance(event, LiveBadge):
        badge = next((b for b in ctx.program.badges if b.key == event.badge), None)
        if badge is None:
            log.warning("live event %s: no badge %r in the program", event.event_id, event.badge)
            return None
        return BadgeUnlocked(
            member_id=event.member_id, badge=Badge.of(badge, ctx.language), level=event.level
        )
    if isinstance(event, LiveTier):
        to = ctx.program.tier(event.to_tier)
        if to is None:
            log.warning("live event %s: no tier %r in the program", event.event_id, event.to_tier)
            return None
        left = ctx.program.tier(event.from_tier) if event.from_tier else None
        return TierChanged(
            member_id=event.member_id,
            from_=Tier.of(left, ctx.language) if left else None,
            to=Tier.of(to, ctx.language),
        )
    if isinstance(event, LiveRank):
        return RankChanged(
            member_id=event.member_id,
            board=event.board,
            period=event.period,
            rank=event.rank,
            previous_rank=event.previous_rank,
        )
    raise TypeError(f"no live event of kind {type(event).__name__}")
