from decimal import Decimal

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index
from tortoise.migrations.constraints import CheckConstraint

async def backfill_purchases(apps, schema_editor):
    """Purchases recorded before refunds existed: what they earned and on what amount."""
    client = schema_editor.client
    postgres = client.capabilities.dialect == "postgres"
    rows = await client.execute_query_dict(
        "SELECT p.id, p.amount, p.shipping, p.tax, COALESCE(e.amount, 0) AS points "
        "FROM purchase p JOIN member m ON m.id = p.member_id "
        "LEFT JOIN entry e ON e.transaction_id = p.transaction_id AND e.account_id = m.account_id"
    )
    update = (
        "UPDATE purchase SET eligible_amount = $1, points = $2 WHERE id = $3"
        if postgres
        else "UPDATE purchase SET eligible_amount = ?, points = ? WHERE id = ?"
    )
    for row in rows:
        eligible = max(
            Decimal(str(row["amount"])) - Decimal(str(row["shipping"])) - Decimal(str(row["tax"])),
            Decimal(0),
        )
        await client.execute_query(update, [eligible if postgres else str(eligible),
                                            int(row["points"]), row["id"]])


class AddColumnWithCheck(ops.AddField):
    """Adds the column and its CHECK in one ALTER TABLE. SQLite cannot add a constraint to an
    existing table without rebuilding it, and the rows that point at `account` forbid that."""

    def __init__(self, *, sql: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.sql = sql

    async def database_forward(self, app_label, old_state, new_state, state_editor=None):
        if state_editor:
            await state_editor._run_sql(self.sql)


class CheckAddedWithColumn(ops.AddConstraint):
    """Records the CHECK that AddColumnWithCheck created, without creating it twice."""

    async def database_forward(self, app_label, old_state, new_state, state_editor=None):
        return None


class Migration(migrations.Migration):
    dependencies = [('domain', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='CampaignBudget',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('campaign_key', fields.CharField(unique=True, max_length=64)),
                ('spent', fields.BigIntField(default=0)),
            ],
            options={'table': 'campaign_budget', 'app': 'domain', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PurchaseRefund',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('purchase', fields.ForeignKeyField('domain.Purchase', source_field='purchase_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.RESTRICT)),
                ('source', fields.CharField(max_length=80)),
                ('amount', fields.DecimalField(max_digits=20, decimal_places=4)),
                ('points', fields.BigIntField()),
                ('transaction', fields.ForeignKeyField('domain.LedgerTransaction', source_field='transaction_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.RESTRICT)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'purchase_refund', 'app': 'domain', 'indexes': [Index(fields=['purchase_id'], name='purchase_refund_purchase')], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ReferralAward',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('referee', fields.OneToOneField('domain.Member', source_field='referee_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.RESTRICT)),
                ('referrer', fields.ForeignKeyField('domain.Member', source_field='referrer_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.RESTRICT)),
                ('purchase', fields.ForeignKeyField('domain.Purchase', source_field='purchase_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.RESTRICT)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'referral_award', 'app': 'domain', 'indexes': [Index(fields=['referrer_id'], name='referral_award_referrer')], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        AddColumnWithCheck(
            model_name='Account',
            name='debt',
            field=fields.BigIntField(default=0, db_default=0),
            sql='ALTER TABLE "account" ADD COLUMN "debt" BIGINT NOT NULL DEFAULT 0 '
            'CONSTRAINT "account_debt_not_negative" CHECK (debt >= 0)',
        ),
        CheckAddedWithColumn(
            model_name='Account',
            constraint=CheckConstraint(check='debt >= 0', name='account_debt_not_negative'),
        ),
        ops.AddIndex(
            model_name='ActionRecord',
            index=Index(fields=['member_id', 'action', 'occurred_at'], name='action_member_time'),
        ),
        ops.AddField(
            model_name='Lot',
            name='reminded_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Purchase',
            name='eligible_amount',
            field=fields.DecimalField(default=0, db_default=0, max_digits=20, decimal_places=4),
        ),
        ops.AddField(
            model_name='Purchase',
            name='points',
            field=fields.BigIntField(default=0, db_default=0),
        ),
        ops.AddField(
            model_name='Purchase',
            name='points_clawed_back',
            field=fields.BigIntField(default=0, db_default=0),
        ),
        ops.AddField(
            model_name='Purchase',
            name='refunded_amount',
            field=fields.DecimalField(default=0, db_default=0, max_digits=20, decimal_places=4),
        ),
        ops.AddIndex(
            model_name='Purchase',
            index=Index(fields=['member_id', 'occurred_at'], name='purchase_member_time'),
        ),
        ops.AddField(
            model_name='Redemption',
            name='fulfilled_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddConstraint(model_name='CampaignBudget', constraint=CheckConstraint(check='spent >= 0', name='campaign_budget_not_negative')),
        ops.RunPython(backfill_purchases),
    ]
