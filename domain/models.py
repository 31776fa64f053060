"""The tables that hold the truth: members, the double-entry ledger and its lots, the outbox.

Balances are cached only on member wallets, where a guarded update and a CHECK constraint keep
them from going below zero. System accounts (issuance, redemptions, adjustments, breakage) do
not cache a balance: every earn would otherwise update one hot row and serialise all writers.
Their balance is the sum of their entries, and the ledger invariant (all entries sum to zero)
holds either way.
"""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.indexes import Index
from tortoise.migrations.constraints import CheckConstraint, UniqueConstraint
from tortoise.models import Model as TortoiseModel
from tortoise.models import ModelMeta


class _Uncommented(ModelMeta):
    # Tortoise reads `#:` field comments by parsing this file's source once per model class,
    # which cost every process ~0.45 s at import; no field here documents itself that way.
    def __new__(mcs, name: str, bases: tuple[type, ...], attrs: dict[str, Any]) -> Any:
        attrs.setdefault("_no_comments", True)
        return super().__new__(mcs, name, bases, attrs)


class Model(TortoiseModel, metaclass=_Uncommented):
    class Meta:
        abstract = True


class ProgramVersion(Model):
    # One applied program file; transactions remember the version they were computed with.

    id = fields.IntField(primary_key=True)
    digest = fields.CharField(max_length=64)
    source = fields.TextField()
    applied_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "program_version"


class Account(Model):
    id = fields.BigIntField(primary_key=True)
    kind = fields.CharField(max_length=32)
    # System accounts are found by a stable code ("issuance", "redemption"...); wallets by member.
    code = fields.CharField(max_length=100, null=True, unique=True)
    balance = fields.BigIntField(default=0)
    pending = fields.BigIntField(default=0)
    lifetime = fields.BigIntField(default=0)
    # Points a refund clawed back after the member had spent them; later earnings repay it.
    debt = fields.BigIntField(default=0, db_default=0)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "account"
        constraints = (
            CheckConstraint(
                check="kind <> 'member' OR (balance >= 0 AND pending >= 0 AND lifetime >= 0)",
                name="account_member_not_negative",
            ),
            CheckConstraint(check="debt >= 0", name="account_debt_not_negative"),
        )


class Member(Model):
    id = fields.BigIntField(primary_key=True)
    external_id = fields.CharField(max_length=128, unique=True)
    display_name = fields.CharField(max_length=200, null=True)
    email = fields.CharField(max_length=254, null=True)
    birthday = fields.DateField(null=True)
    referral_code = fields.CharField(max_length=16, unique=True)
    # Who enrolled the member: admin, partner:<key> or member:<externalId>.
    source = fields.CharField(max_length=80)
    referred_by: fields.ForeignKeyNullableRelation[Member] = fields.ForeignKeyField(
        "domain.Member", null=True, related_name=False, on_delete=fields.RESTRICT
    )
    account: fields.OneToOneRelation[Account] = fields.OneToOneField(
        "domain.Account", related_name=False, on_delete=fields.RESTRICT
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "member"


class LedgerTransaction(Model):
    id = fields.BigIntField(primary_key=True)
    kind = fields.CharField(max_length=24)
    member: fields.ForeignKeyNullableRelation[Member] = fields.ForeignKeyField(
        "domain.Member", null=True, related_name=False, on_delete=fields.RESTRICT
    )
    program_version: fields.ForeignKeyNullableRelation[ProgramVersion] = fields.ForeignKeyField(
        "domain.ProgramVersion", null=True, related_name=False, on_delete=fields.RESTRICT
    )
    source = fields.CharField(max_length=80)
    # The partner whose dealing this is (its purchase, action, reward or transfer), whoever
    # recorded it; None for the program's and the operator's own. Partners see only theirs.
    partner = fields.CharField(max_length=64, null=True)
    reference = fields.CharField(max_length=200, null=True)
    description = fields.CharField(max_length=500, null=True)
    breakdown: Any = fields.JSONField(null=True)
    # The transaction this one undoes (a cancelled redemption's debit, say).
    reverses: fields.ForeignKeyNullableRelation[LedgerTransaction] = fields.ForeignKeyField(
        "domain.LedgerTransaction", null=True, related_name=False, on_delete=fields.RESTRICT
    )
    occurred_at = fields.DatetimeField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "ledger_transaction"


class Entry(Model):
    # One leg of a transaction; the legs of a transaction sum to zero.

    id = fields.BigIntField(primary_key=True)
    transaction: fields.ForeignKeyRelation[LedgerTransaction] = fields.ForeignKeyField(
        "domain.LedgerTransaction", related_name=False, on_delete=fields.RESTRICT
    )
    account: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "domain.Account", related_name=False, on_delete=fields.RESTRICT
    )
    amount = fields.BigIntField()
    # Set on wallet entries: the spendable balance right after this entry.
    balance_after = fields.BigIntField(null=True)

    class Meta:
        table = "entry"
        indexes = (Index(fields=("account_id", "transaction_id"), name="entry_account_txn"),)


class Lot(Model):
    # Points credited together: they become spendable and expire together.

    id = fields.BigIntField(primary_key=True)
    account: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "domain.Account", related_name=False, on_delete=fields.RESTRICT
    )
    transaction: fields.ForeignKeyRelation[LedgerTransaction] = fields.ForeignKeyField(
        "domain.LedgerTransaction", related_name=False, on_delete=fields.RESTRICT
    )
    amount = fields.BigIntField()
    remaining = fields.BigIntField()
    # Pending lots count in the wallet's `pending`, released ones in its `balance`; a job
    # releases a pending lot once `available_at` has passed.
    pending = fields.BooleanField(default=False)
    available_at = fields.DatetimeField()
    expires_at = fields.DatetimeField(null=True)
    # When the member was told these points expire soon (the reminder goes out once).
    reminded_at = fields.DatetimeField(null=True)

    class Meta:
        table = "lot"
        # The migration adds a partial index on (account_id, expires_at) WHERE remaining > 0.
        constraints = (
            CheckConstraint(
                check="remaining >= 0 AND remaining <= amount", name="lot_remaining_in_range"
            ),
        )


class LotDraw(Model):
    # What a debit took from one lot (amount > 0), or what a reversal gave back (amount < 0):
    # for every lot, remaining = amount - sum of its draws.

    id = fields.BigIntField(primary_key=True)
    transaction: fields.ForeignKeyRelation[LedgerTransaction] = fields.ForeignKeyField(
        "domain.LedgerTransaction", related_name=False, on_delete=fields.RESTRICT
    )
    lot: fields.ForeignKeyRelation[Lot] = fields.ForeignKeyField(
        "domain.Lot", related_name=False, on_delete=fields.RESTRICT
    )
    amount = fields.BigIntField()

    class Meta:
        table = "lot_draw"
        indexes = (
            Index(fields=("transaction_id",), name="lot_draw_transaction"),
            Index(fields=("lot_id",), name="lot_draw_lot"),
        )


class IdempotencyRecord(Model):
    id = fields.BigIntField(primary_key=True)
    scope = fields.CharField(max_length=100)
    key = fields.CharField(max_length=255)
    operation = fields.CharField(max_length=64)
    request_hash = fields.CharField(max_length=64)
    response: Any = fields.JSONField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "idempotency_record"
        constraints = (UniqueConstraint(fields=("scope", "key"), name="idempotency_scope_key"),)


class OutboxEvent(Model):
    id = fields.BigIntField(primary_key=True)
    type = fields.CharField(max_length=64)
    member_id = fields.BigIntField(null=True)
    transaction_id = fields.BigIntField(null=True)
    payload: Any = fields.JSONField()
    created_at = fields.DatetimeField(auto_now_add=True)
    # Where the event stands in commit order (domain/outbox.py); the migration indexes
    # (commit_order, id), the order consumers read in.
    commit_order = fields.BigIntField(default=0, db_default=0)

    class Meta:
        table = "outbox_event"


# How far one outbox consumer has got, and how its retries stand (domain/consumers.py).
class ConsumerCheckpoint(Model):
    name = fields.CharField(max_length=64, primary_key=True)
    commit_order = fields.BigIntField(default=0)
    event_id = fields.BigIntField(default=0)
    handled = fields.BigIntField(default=0)
    failures = fields.IntField(default=0)
    last_error = fields.TextField(null=True)
    retry_at = fields.DatetimeField(null=True)
    updated_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "consumer_checkpoint"


class Purchase(Model):
    id = fields.BigIntField(primary_key=True)
    member_id: int
    transaction_id: int | None
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "domain.Member", related_name=False, on_delete=fields.RESTRICT
    )
    source = fields.CharField(max_length=80)
    order_id = fields.CharField(max_length=128)
    amount = fields.DecimalField(max_digits=20, decimal_places=4)
    shipping = fields.DecimalField(max_digits=20, decimal_places=4)
    tax = fields.DecimalField(max_digits=20, decimal_places=4)
    # Off the order as a whole; its lines, less this, plus shipping (and tax) are the amount.
    discount = fields.DecimalField(max_digits=20, decimal_places=4, default=0, db_default=0)
    currency = fields.CharField(max_length=3)
    eligible_amount = fields.DecimalField(max_digits=20, decimal_places=4, default=0, db_default=0)
    points = fields.BigIntField(default=0, db_default=0)
    # Refunds so far: how much money, and how many of `points` they took back.
    refunded_amount = fields.DecimalField(max_digits=20, decimal_places=4, default=0, db_default=0)
    points_clawed_back = fields.BigIntField(default=0, db_default=0)
    occurred_at = fields.DatetimeField()
    # None when the purchase earned nothing (all shipping and tax, say).
    transaction: fields.ForeignKeyNullableRelation[LedgerTransaction] = fields.ForeignKeyField(
        "domain.LedgerTransaction", null=True, related_name=False, on_delete=fields.RESTRICT
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "purchase"
        constraints = (UniqueConstraint(fields=("source", "order_id"), name="purchase_order"),)
        indexes = (
            Index(fields=("member_id", "source"), name="purchase_member_source"),
            Index(fields=("member_id", "occurred_at"), name="purchase_member_time"),
        )


class PurchaseLine(Model):
    id = fields.BigIntField(primary_key=True)
    purchase: fields.ForeignKeyRelation[Purchase] = fields.ForeignKeyField(
        "domain.Purchase", related_name=False, on_delete=fields.CASCADE
    )
    sku = fields.CharField(max_length=100, null=True)
    category = fields.CharField(max_length=100, null=True)
    quantity = fields.IntField()
    unit_price = fields.DecimalField(max_digits=20, decimal_places=4)

    class Meta:
        table = "purchase_line"
        indexes = (Index(fields=("purchase_id",), name="purchase_line_purchase"),)


class ActionRecord(Model):
    # A rewarded action; the reference, when given, makes it count once per source.

    id = fields.BigIntField(primary_key=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "domain.Member", related_name=False, on_delete=fields.RESTRICT
    )
    action = fields.CharField(max_length=64)
    source = fields.CharField(max_length=80)
    reference = fields.CharField(max_length=200, null=True)
    transaction: fields.ForeignKeyRelation[LedgerTransaction] = fields.ForeignKeyField(
        "domain.LedgerTransaction", related_name=False, on_delete=fields.RESTRICT
    )
    occurred_at = fields.DatetimeField()

    class Meta:
        table = "action_record"
        constraints = (
            UniqueConstraint(fields=("source", "action", "reference"), name="action_reference"),
        )
        indexes = (
            Index(fields=("member_id", "action"), name="action_member"),
            Index(fields=("member_id", "action", "occurred_at"), name="action_member_time"),
        )


class RewardStock(Model):
    # How many of a reward are out; the limit itself comes from the program file.

    id = fields.IntField(primary_key=True)
    reward_key = fields.CharField(max_length=64, unique=True)
    issued = fields.IntField(default=0)

    class Meta:
        table = "reward_stock"
        constraints = (CheckConstraint(check="issued >= 0", name="reward_stock_not_negative"),)


class Redemption(Model):
    id = fields.BigIntField(primary_key=True)
    member_id: int
    transaction_id: int
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "domain.Member", related_name=False, on_delete=fields.RESTRICT
    )
    reward_key = fields.CharField(max_length=64)
    points = fields.BigIntField()
    code = fields.CharField(max_length=32, unique=True)
    status = fields.CharField(max_length=16)
    transaction: fields.ForeignKeyRelation[LedgerTransaction] = fields.ForeignKeyField(
        "domain.LedgerTransaction", related_name=False, on_delete=fields.RESTRICT
    )
    cancel_transaction: fields.ForeignKeyNullableRelation[LedgerTransaction] = (
        fields.ForeignKeyField(
            "domain.LedgerTransaction", null=True, related_name=False, on_delete=fields.RESTRICT
        )
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    cancelled_at = fields.DatetimeField(null=True)
    fulfilled_at = fields.DatetimeField(null=True)

    class Meta:
        table = "redemption"
        indexes = (Index(fields=("member_id", "id"), name="redemption_member"),)


class PurchaseRefund(Model):
    id = fields.BigIntField(primary_key=True)
    purchase: fields.ForeignKeyRelation[Purchase] = fields.ForeignKeyField(
        "domain.Purchase", related_name=False, on_delete=fields.RESTRICT
    )
    source = fields.CharField(max_length=80)
    amount = fields.DecimalField(max_digits=20, decimal_places=4)
    points = fields.BigIntField()  # clawed back by this refund
    transaction: fields.ForeignKeyNullableRelation[LedgerTransaction] = fields.ForeignKeyField(
        "domain.LedgerTransaction", null=True, related_name=False, on_delete=fields.RESTRICT
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "purchase_refund"
        indexes = (Index(fields=("purchase_id",), name="purchase_refund_purchase"),)


class CampaignBudget(Model):
    # Points a campaign has given; its budget comes from the program file.
    id = fields.IntField(primary_key=True)
    campaign_key = fields.CharField(max_length=64, unique=True)
    spent = fields.BigIntField(default=0)

    class Meta:
        table = "campaign_budget"
        constraints = (CheckConstraint(check="spent >= 0", name="campaign_budget_not_negative"),)


class ReferralAward(Model):
    # A referral pays out once, when the new member's first qualifying purchase comes in.
    id = fields.BigIntField(primary_key=True)
    referee: fields.OneToOneRelation[Member] = fields.OneToOneField(
        "domain.Member", related_name=False, on_delete=fields.RESTRICT
    )
    referrer: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "domain.Member", related_name=False, on_delete=fields.RESTRICT
    )
    purchase: fields.ForeignKeyRelation[Purchase] = fields.ForeignKeyField(
        "domain.Purchase", related_name=False, on_delete=fields.RESTRICT
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "referral_award"
        indexes = (Index(fields=("referrer_id",), name="referral_award_referrer"),)


class TierCredit(Model):
    # What counts toward tiers, written with every ledger movement that changes lifetime
    # points (and with every purchase's spend): the window sums `points` (or `spend`) of rows
    # that occurred in it and count by now. Σ points over a member's rows = its lifetime points.
    id = fields.BigIntField(primary_key=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "domain.Member", related_name=False, on_delete=fields.RESTRICT
    )
    # When the activity happened (a refund: when its purchase did), and from when it counts
    # (held points: when they are released).
    occurred_at = fields.DatetimeField()
    counts_from = fields.DatetimeField()
    points = fields.BigIntField(default=0)
    # Money spent on goods, in ten-thousandths of `currency` (signed: refunds take it back).
    spend = fields.BigIntField(default=0)
    currency = fields.CharField(max_length=3, null=True)

    class Meta:
        table = "tier_credit"
        indexes = (Index(fields=("member_id", "occurred_at"), name="tier_credit_member_time"),)


class MemberTier(Model):
    # The member's tier as it stands: raised by activity at once, lowered only by a review.
    id = fields.BigIntField(primary_key=True)
    member: fields.OneToOneRelation[Member] = fields.OneToOneField(
        "domain.Member", related_name=False, on_delete=fields.RESTRICT
    )
    tier_key = fields.CharField(max_length=64)
    since = fields.DatetimeField()
    # The latest review edge this member has been judged at (or reached its tier after).
    reviewed_at = fields.DatetimeField()

    class Meta:
        table = "member_tier"
        indexes = (Index(fields=("reviewed_at",), name="member_tier_reviewed"),)


class TierChange(Model):
    # Every change of a member's tier, the first one (from nothing) included.
    id = fields.BigIntField(primary_key=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "domain.Member", related_name=False, on_delete=fields.RESTRICT
    )
    from_tier = fields.CharField(max_length=64, null=True)
    to_tier = fields.CharField(max_length=64)
    reason = fields.CharField(max_length=16)
    amount = fields.BigIntField()  # the window's qualifying amount that decided it
    occurred_at = fields.DatetimeField()

    class Meta:
        table = "tier_change"
        indexes = (Index(fields=("member_id", "id"), name="tier_change_member"),)


class MemberBadge(Model):
    # A badge level a member unlocked; one row per level, never taken back. The badge engine
    # (gamification.badge_engine) writes it, and with it the bonus transaction, once.
    id = fields.BigIntField(primary_key=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "domain.Member", related_name=False, on_delete=fields.RESTRICT
    )
    badge = fields.CharField(max_length=64)
    level = fields.IntField()
    unlocked_at = fields.DatetimeField()
    # The bonus it paid; None when the level has no bonus.
    transaction: fields.ForeignKeyNullableRelation[LedgerTransaction] = fields.ForeignKeyField(
        "domain.LedgerTransaction", null=True, related_name=False, on_delete=fields.RESTRICT
    )

    class Meta:
        table = "member_badge"
        constraints = (
            UniqueConstraint(fields=("member_id", "badge", "level"), name="member_badge_level"),
            CheckConstraint(check="level >= 1", name="member_badge_level_positive"),
        )


class ChallengeCompletion(Model):
    # A member finished a challenge in one of its windows: once, whatever redelivers the events.
    id = fields.BigIntField(primary_key=True)
    challenge_key = fields.CharField(max_length=64)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "domain.Member", related_name=False, on_delete=fields.RESTRICT
    )
    window_start = fields.DatetimeField()
    window_end = fields.DatetimeField()
    points = fields.BigIntField()
    transaction: fields.ForeignKeyRelation[LedgerTransaction] = fields.ForeignKeyField(
        "domain.LedgerTransaction", related_name=False, on_delete=fields.RESTRICT
    )
    completed_at = fields.DatetimeField()

    class Meta:
        table = "challenge_completion"
        constraints = (
            UniqueConstraint(
                fields=("challenge_key", "window_start", "member_id"),
                name="challenge_completion_once",
            ),
        )
        indexes = (Index(fields=("member_id", "window_start"), name="challenge_completion_member"),)


class ChallengeSlots(Model):
    # How many members finished a first-N challenge in a window; a guarded update takes a slot.
    id = fields.BigIntField(primary_key=True)
    challenge_key = fields.CharField(max_length=64)
    window_start = fields.DatetimeField()
    taken = fields.IntField(default=0)

    class Meta:
        table = "challenge_slots"
        constraints = (
            UniqueConstraint(
                fields=("challenge_key", "window_start"), name="challenge_slots_window"
            ),
            CheckConstraint(check="taken >= 0", name="challenge_slots_not_negative"),
        )


class SurpriseSeed(Model):
    # The secret a surprise's draws are made with: kept here, never in the program file.
    id = fields.IntField(primary_key=True)
    surprise_key = fields.CharField(max_length=64, unique=True)
    seed = fields.CharField(max_length=64)  # 32 random bytes, in hex
    created_at = fields.DatetimeField()

    class Meta:
        table = "surprise_seed"


class SurpriseDraw(Model):
    # A winning draw: paid (transaction set), or refused because the budget was spent.
    id = fields.BigIntField(primary_key=True)
    surprise_key = fields.CharField(max_length=64)
    event_id = fields.BigIntField()
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "domain.Member", related_name=False, on_delete=fields.RESTRICT
    )
    digest = fields.CharField(max_length=64)
    chance = fields.CharField(max_length=40)  # as the program file wrote it
    points = fields.BigIntField()  # paid: 0 when the budget refused it
    transaction: fields.ForeignKeyNullableRelation[LedgerTransaction] = fields.ForeignKeyField(
        "domain.LedgerTransaction", null=True, related_name=False, on_delete=fields.RESTRICT
    )
    drawn_at = fields.DatetimeField()

    class Meta:
        table = "surprise_draw"
        constraints = (
            UniqueConstraint(fields=("surprise_key", "event_id"), name="surprise_draw_once"),
        )


class SurpriseBudgetUse(Model):
    # What a surprise has given in one budget period ("2026-11-30", or "lifetime").
    id = fields.BigIntField(primary_key=True)
    surprise_key = fields.CharField(max_length=64)
    period = fields.CharField(max_length=32)
    points = fields.BigIntField(default=0)
    wins = fields.IntField(default=0)

    class Meta:
        table = "surprise_budget"
        constraints = (
            UniqueConstraint(fields=("surprise_key", "period"), name="surprise_budget_period"),
            CheckConstraint(check="points >= 0 AND wins >= 0", name="surprise_budget_not_negative"),
        )


class LeaderboardOptOut(Model):
    # A member who asked to be left off every leaderboard; deleting the row puts it back.
    id = fields.BigIntField(primary_key=True)
    member: fields.OneToOneRelation[Member] = fields.OneToOneField(
        "domain.Member", related_name=False, on_delete=fields.RESTRICT
    )
    created_at = fields.DatetimeField()

    class Meta:
        table = "leaderboard_opt_out"


class LeaderboardArchive(Model):
    # The top of a board's closed period, kept once the period's Redis key is gone.
    id = fields.BigIntField(primary_key=True)
    board = fields.CharField(max_length=64)
    period = fields.CharField(max_length=16)
    period_start = fields.DatetimeField()
    rank = fields.IntField()
    member_id = fields.BigIntField()
    score = fields.BigIntField()
    archived_at = fields.DatetimeField()

    class Meta:
        table = "leaderboard_archive"
        constraints = (
            UniqueConstraint(
                fields=("board", "period", "period_start", "rank"), name="leaderboard_archive_rank"
            ),
        )
