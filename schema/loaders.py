"""Per-request DataLoaders: whatever a query asks for, each kind of row is one statement."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from functools import cached_property
from typing import TypeVar

from strawberry.dataloader import DataLoader

from domain import history, redemptions, sql, tiers, views
from domain.clock import Clock
from domain.program import Program
from gamification import badge_engine, challenge_engine
from gamification.boards import BoardsUnavailable
from gamification.progress import Progress

log = logging.getLogger("coalition.graphql")

K = TypeVar("K")
V = TypeVar("V")
# (owner id, first, before id, only this partner's dealings or None for all)
PageKey = tuple[int, int, int | None, str | None]
# (member id, the progress sets asked of (badge metrics, tier, challenge windows) with its
# values fresh from SQL)
StandingKey = tuple[int, tuple[tuple[str, int], ...]]


def _by_key(fetch: Callable[[Sequence[K]], Awaitable[dict[K, V]]]) -> DataLoader[K, V | None]:
    async def load(keys: list[K]) -> list[V | None]:
        found = await fetch(keys)
        return [found.get(key) for key in keys]

    return DataLoader(load_fn=load)


def _pages(
    fetch: Callable[
        [Sequence[int], int, int | None, str | None], Awaitable[dict[int, tuple[list[V], bool]]]
    ],
) -> DataLoader[PageKey, tuple[list[V], bool]]:
    async def load(keys: list[PageKey]) -> list[tuple[list[V], bool]]:
        # One statement per distinct (first, before, partner): in practice one per query.
        groups: dict[tuple[int, int | None, str | None], list[int]] = defaultdict(list)
        for owner, first, before, partner in keys:
            groups[(first, before, partner)].append(owner)
        pages: dict[PageKey, tuple[list[V], bool]] = {}
        for (first, before, partner), owners in groups.items():
            for owner, page in (await fetch(owners, first, before, partner)).items():
                pages[(owner, first, before, partner)] = page
        return [pages[key] for key in keys]

    return DataLoader(load_fn=load)


class Loaders:
    """Made for every request, and again after a write; each loader only when first asked for,
    as most requests use two or three of them."""

    def __init__(self, program: Program, clock: Clock, progress: Progress | None = None) -> None:
        self.program = program
        self.clock = clock
        # Percentiles (badges, tier, challenges), from Redis; None where there is no Redis.
        self.progress = progress

    @cached_property
    def members(self) -> DataLoader[int, views.MemberView | None]:
        return _by_key(history.members_by_id)

    @cached_property
    def transactions(self) -> DataLoader[int, views.TransactionView | None]:
        return _by_key(history.transactions_by_id)

    @cached_property
    def redemptions(self) -> DataLoader[int, views.RedemptionView | None]:
        return _by_key(history.redemptions_by_id)

    @cached_property
    def purchases(self) -> DataLoader[int, views.PurchaseView | None]:
        return _by_key(history.purchases_by_id)

    @cached_property
    def transaction_pages(self) -> DataLoader[PageKey, tuple[list[views.TransactionView], bool]]:
        return _pages(history.transaction_pages)

    @cached_property
    def redemption_pages(self) -> DataLoader[PageKey, tuple[list[views.RedemptionView], bool]]:
        return _pages(history.redemption_pages)

    @cached_property
    def expiring(self) -> DataLoader[int, list[views.ExpiringView]]:
        async def expiring(accounts: list[int]) -> list[list[views.ExpiringView]]:
            found = await history.expiring_points(accounts, self.clock.now())
            return [found[a] for a in accounts]

        return DataLoader(load_fn=expiring)

    @cached_property
    def pending(self) -> DataLoader[int, list[views.PendingView]]:
        async def pending(accounts: list[int]) -> list[list[views.PendingView]]:
            found = await history.pending_releases(accounts)
            return [found[a] for a in accounts]

        return DataLoader(load_fn=pending)

    @cached_property
    def tier_amounts(self) -> DataLoader[int, int]:
        """Members' qualifying amounts in the current tier window (windowed programs only)."""
        program, clock = self.program, self.clock

        async def amounts(members: list[int]) -> list[int]:
            found = await tiers.window_amounts(sql.connection(), program, members, clock.now())
            return [found[m] for m in members]

        return DataLoader(load_fn=amounts)

    @cached_property
    def tier_changes(self) -> DataLoader[tuple[int, int], list[tiers.TierChangeView]]:
        async def changes(keys: list[tuple[int, int]]) -> list[list[tiers.TierChangeView]]:
            wanted: dict[int, list[int]] = defaultdict(list)
            for member, limit in keys:
                wanted[limit].append(member)
            found: dict[tuple[int, int], list[tiers.TierChangeView]] = {}
            for limit, members in wanted.items():
                for member, rows in (await tiers.changes(sql.connection(), members, limit)).items():
                    found[(member, limit)] = rows
            return [found[key] for key in keys]

        return DataLoader(load_fn=changes)

    @cached_property
    def stock(self) -> DataLoader[str, int | None]:
        program = self.program

        async def stock(keys: list[str]) -> list[int | None]:
            left = await redemptions.stock_left(program, keys)
            return [left[k] for k in keys]

        return DataLoader(load_fn=stock)

    @cached_property
    def redeemed(self) -> DataLoader[tuple[int, str], int]:
        program, clock = self.program, self.clock

        async def redeemed(keys: list[tuple[int, str]]) -> list[int]:
            # In practice one member (the caller) and one statement for a page of rewards.
            wanted: dict[int, list[str]] = defaultdict(list)
            for member, reward in keys:
                wanted[member].append(reward)
            counts: dict[tuple[int, str], int] = {}
            for member, rewards in wanted.items():
                found = await redemptions.redeemed_in_period(
                    sql.connection(),
                    program,
                    member,
                    [program.rewards[key] for key in rewards if key in program.rewards],
                    clock.now(),
                )
                counts.update({(member, key): n for key, n in found.items()})
            return [counts.get(key, 0) for key in keys]

        return DataLoader(load_fn=redeemed)

    @cached_property
    def gamification(self) -> DataLoader[int, badge_engine.Snapshot]:
        """Members' badge metrics, unlocked levels and streaks: one statement per kind of
        metric the program counts, for any number of members and badges."""
        program, clock = self.program, self.clock

        async def snapshots(members: list[int]) -> list[badge_engine.Snapshot]:
            found = await badge_engine.snapshots(
                sql.connection(), program, members, clock.now(), with_streaks=program.streaks
            )
            return [found[m] for m in members]

        return DataLoader(load_fn=snapshots)

    @cached_property
    def percentiles(self) -> DataLoader[StandingKey, dict[str, float]]:
        """Members' percentiles on their badges' metrics, their tier's qualifying amount and
        their challenges' progress (gamification.progress): one Redis round trip for any
        number of members, badges and challenges; none (empty) when Redis cannot be read just
        now."""
        progress = self.progress

        async def percentiles(keys: list[StandingKey]) -> list[dict[str, float]]:
            if progress is not None:
                try:
                    return await progress.percentiles([(m, dict(v)) for m, v in keys])
                except BoardsUnavailable as error:
                    log.warning("percentiles left out: %s", error)
            return [{} for _ in keys]

        return DataLoader(load_fn=percentiles)

    @cached_property
    def challenges(self) -> DataLoader[int, list[challenge_engine.Standing]]:
        program, clock = self.program, self.clock

        async def standings(members: list[int]) -> list[list[challenge_engine.Standing]]:
            found = await challenge_engine.standings(
                sql.connection(), program, members, clock.now()
            )
            return [found[m] for m in members]

        return DataLoader(load_fn=standings)
