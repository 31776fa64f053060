from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index


class Migration(migrations.Migration):
    dependencies = [('domain', '0005_event_consumers')]

    initial = False

    operations = [
        ops.CreateModel(
            name='MemberTier',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('member', fields.OneToOneField('domain.Member', source_field='member_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.RESTRICT)),
                ('tier_key', fields.CharField(max_length=64)),
                ('since', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('reviewed_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'member_tier', 'app': 'domain', 'indexes': [Index(fields=['reviewed_at'], name='member_tier_reviewed')], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='TierChange',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('member', fields.ForeignKeyField('domain.Member', source_field='member_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.RESTRICT)),
                ('from_tier', fields.CharField(null=True, max_length=64)),
                ('to_tier', fields.CharField(max_length=64)),
                ('reason', fields.CharField(max_length=16)),
                ('amount', fields.BigIntField()),
                ('occurred_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'tier_change', 'app': 'domain', 'indexes': [Index(fields=['member_id', 'id'], name='tier_change_member')], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='TierCredit',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('member', fields.ForeignKeyField('domain.Member', source_field='member_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.RESTRICT)),
                ('occurred_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('counts_from', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('points', fields.BigIntField(default=0)),
                ('spend', fields.BigIntField(default=0)),
                ('currency', fields.CharField(null=True, max_length=3)),
            ],
            options={'table': 'tier_credit', 'app': 'domain', 'indexes': [Index(fields=['member_id', 'occurred_at'], name='tier_credit_member_time')], 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
