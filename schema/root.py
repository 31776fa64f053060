"""The root types, put together from every area, and `node`, which reaches into all of them."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.tools import merge_types
from strawberry.types import Info

from partners import api_keys
from schema import ids
from schema.authorization import (
    hidden,
    may_look_up_members,
    may_see_purchase,
    may_see_redemption,
    may_see_transaction,
)
from schema.common import Node
from schema.context import Context
from schema.leaderboards.mutations import LeaderboardMutations
from schema.leaderboards.queries import LeaderboardQueries
from schema.ledger.types import PointTransaction
from schema.live.subscriptions import LiveSubscriptions
from schema.members.mutations import MemberMutations
from schema.members.queries import MemberQueries, visible_member
from schema.partners.mutations import PartnerMutations
from schema.partners.queries import PartnerQueries
from schema.partners.types import Partner, PartnerApiKey
from schema.program.queries import ProgramQueries
from schema.program.types import Badge, Campaign, LeaderboardDefinition, Tier
from schema.purchases.mutations import PurchaseMutations
from schema.purchases.types import Purchase
from schema.rewards.mutations import RewardMutations
from schema.rewards.queries import RewardQueries
from schema.rewards.types import Redemption, Reward

# Objects of a member's, which only those who may look members up can reach.
_MEMBERS_OWN = {
    "Member": "member",
    "PointTransaction": "transaction",
    "Redemption": "redemption",
    "Purchase": "purchase",
}


async def _members_own(ctx: Context, type_name: str, number: int) -> Node | None:
    if not may_look_up_members(ctx):
        hidden(ctx, _MEMBERS_OWN[type_name])
    if type_name == "Member":
        return await visible_member(ctx, await ctx.loaders.members.load(number))
    if type_name == "PointTransaction":
        txn = await ctx.loaders.transactions.load(number)
        if txn is not None and may_see_transaction(ctx, txn):
            return PointTransaction.of(txn)
    elif type_name == "Purchase":
        bought = await ctx.loaders.purchases.load(number)
        if bought is not None and may_see_purchase(ctx, bought):
            return Purchase.of(bought)
    else:
        red = await ctx.loaders.redemptions.load(number)
        if red is not None and may_see_redemption(ctx, red):
            return Redemption.of(red)
    hidden(ctx, _MEMBERS_OWN[type_name])
    return None


def _programs_own(ctx: Context, type_name: str, key: str) -> Node | None:
    prog = ctx.program
    if type_name == "Tier":
        tier = prog.tier(key)
        return Tier.of(tier, ctx.language) if tier else None
    if type_name == "Reward":
        reward = prog.rewards.get(key)
        return Reward.of(reward, prog, ctx.language) if reward else None
    if type_name == "Badge":
        # A hidden badge is not found this way: its name would give it away.
        badge = next((b for b in prog.badges if b.key == key and not b.hidden), None)
        return Badge.of(badge, ctx.language) if badge else None
    if type_name == "Partner":
        partner = prog.partners.get(key)
        return Partner.of(partner, ctx.language) if partner else None
    if type_name == "Campaign":
        campaign = next((c for c in prog.campaigns if c.key == key), None)
        return Campaign.of(campaign, prog, ctx.language) if campaign else None
    if type_name == "LeaderboardDefinition":
        board = next((b for b in prog.leaderboards if b.key == key), None)
        return LeaderboardDefinition.of(board, ctx.language) if board else None
    return None


async def _api_key(ctx: Context, number: int) -> Node | None:
    """The operator's only: anyone else is told the same whether the key exists or not."""
    hidden(ctx, "API key")
    key = await api_keys.found(number)
    partner = ctx.program.partners.get(key.partner_key) if key else None
    if key is None or partner is None:
        return None
    return PartnerApiKey.of(key, Partner.of(partner, ctx.language))


async def resolve_node(ctx: Context, global_id: str) -> Node | None:
    parsed = ids.parse_global_id(global_id)
    if parsed is None:
        return None
    type_name, key = parsed
    if type_name in _MEMBERS_OWN:
        number = ids.number(key)
        return None if number is None else await _members_own(ctx, type_name, number)
    if type_name == "PartnerApiKey":
        number = ids.number(key)
        return None if number is None else await _api_key(ctx, number)
    return _programs_own(ctx, type_name, key)


@strawberry.type
class NodeQueries:
    @strawberry.field(description="Any object by its global id; null if unknown.")
    async def node(
        self,
        info: Info[Context, None],
        id: Annotated[strawberry.ID, strawberry.argument(description="A global id.")],
    ) -> Node | None:
        return await resolve_node(info.context, id)


Query = merge_types(
    "Query",
    (
        NodeQueries,
        MemberQueries,
        ProgramQueries,
        RewardQueries,
        PartnerQueries,
        LeaderboardQueries,
    ),
)
Query.__strawberry_definition__.description = (  # type: ignore[attr-defined]
    "What can be read. The program's catalog is public; members, their history and API "
    "keys need credentials (X-API-Key or a member's bearer token)."
)
Mutation = merge_types(
    "Mutation",
    (
        MemberMutations,
        PurchaseMutations,
        RewardMutations,
        PartnerMutations,
        LeaderboardMutations,
    ),
)
Mutation.__strawberry_definition__.description = (  # type: ignore[attr-defined]
    "What can be done. Every mutation does all it is asked or nothing, and says why in its "
    "payload's userErrors; those that take an idempotencyKey answer a repeat as the first call."
)
Subscription = merge_types("Subscription", (LiveSubscriptions,))
Subscription.__strawberry_definition__.description = (  # type: ignore[attr-defined]
    "What can be followed as it happens, over the websocket at /graphql (graphql-transport-ws)."
)
