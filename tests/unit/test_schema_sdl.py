"""schema.graphql is the contract clients build against: it must be what the code serves."""

from __future__ import annotations

from pathlib import Path

from graphql import build_ast_schema, parse, print_schema

from schema.build import build_schema

SDL = Path(__file__).resolve().parents[2] / "schema.graphql"

# Names ../shared/API.md fixes, that this foundation serves.
CORE_NAMES = [
    "node(id: ID!): Node",
    "me: Member",
    "members(first: Int = 20, after: String = null): MemberConnection!",
    "tiers: [Tier!]!",
    "partners: [Partner!]!",
    "enrollMember(input: EnrollMemberInput!): EnrollMemberPayload!",
    "recordPurchase(input: RecordPurchaseInput!): RecordPurchasePayload!",
    "recordAction(input: RecordActionInput!): RecordActionPayload!",
    "redeemReward(input: RedeemRewardInput!): RedeemRewardPayload!",
    "cancelRedemption(input: CancelRedemptionInput!): CancelRedemptionPayload!",
    "adjustPoints(input: AdjustPointsInput!): AdjustPointsPayload!",
    "createPartnerApiKey(input: CreatePartnerApiKeyInput!): CreatePartnerApiKeyPayload!",
    "linkPartnerAccount(input: LinkPartnerAccountInput!): LinkPartnerAccountPayload!",
    "pendingPoints: Int!",
    "lifetimePoints: Int!",
    "expiringPoints: [ExpiringPoints!]!",
    "userErrors: [UserError!]!",
]


def test_schema_graphql_matches_the_code():
    served = build_schema(production=False).as_str().strip()
    assert SDL.read_text().strip() == served, "schema.graphql is stale: run `make schema`"


def _signatures() -> str:
    """The SDL as printed without its descriptions, so that a field reads on one line."""
    schema = build_ast_schema(parse(SDL.read_text()))
    for kind in schema.type_map.values():
        for field in getattr(kind, "fields", {}).values():
            field.description = None
            for arg in getattr(field, "args", {}).values():
                arg.description = None
    return print_schema(schema)


def test_the_core_names_of_the_contract_are_served():
    sdl = _signatures()
    missing = [name for name in CORE_NAMES if name not in sdl]
    assert missing == []
