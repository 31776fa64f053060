from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index
from tortoise.migrations.constraints import CheckConstraint, UniqueConstraint

class Migration(migrations.Migration):
    dependencies = [('domain', '0007_member_badge')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ChallengeCompletion',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('challenge_key', fields.CharField(max_length=64)),
                ('member', fields.ForeignKeyField('domain.Member', source_field='member_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.RESTRICT)),
                ('window_start', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('window_end', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('points', fields.BigIntField()),
                ('transaction', fields.ForeignKeyField('domain.LedgerTransaction', source_field='transaction_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.RESTRICT)),
                ('completed_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'challenge_completion', 'app': 'domain', 'indexes': [Index(fields=['member_id', 'window_start'], name='challenge_completion_member')], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ChallengeSlots',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('challenge_key', fields.CharField(max_length=64)),
                ('window_start', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('taken', fields.IntField(default=0)),
            ],
            options={'table': 'challenge_slots', 'app': 'domain', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SurpriseBudgetUse',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('surprise_key', fields.CharField(max_length=64)),
                ('period', fields.CharField(max_length=32)),
                ('points', fields.BigIntField(default=0)),
                ('wins', fields.IntField(default=0)),
            ],
            options={'table': 'surprise_budget', 'app': 'domain', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SurpriseDraw',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('surprise_key', fields.CharField(max_length=64)),
                ('event_id', fields.BigIntField()),
                ('member', fields.ForeignKeyField('domain.Member', source_field='member_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.RESTRICT)),
                ('digest', fields.CharField(max_length=64)),
                ('chance', fields.CharField(max_length=40)),
                ('points', fields.BigIntField()),
                ('transaction', fields.ForeignKeyField('domain.LedgerTransaction', source_field='transaction_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.RESTRICT)),
                ('drawn_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'surprise_draw', 'app': 'domain', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SurpriseSeed',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('surprise_key', fields.CharField(unique=True, max_length=64)),
                ('seed', fields.CharField(max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'surprise_seed', 'app': 'domain', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        # CHECKs first: SQLite adds one by rebuilding the table, which drops its indexes.
        ops.AddConstraint(model_name='ChallengeSlots', constraint=CheckConstraint(check='taken >= 0', name='challenge_slots_not_negative')),
        ops.AddConstraint(model_name='SurpriseBudgetUse', constraint=CheckConstraint(check='points >= 0 AND wins >= 0', name='surprise_budget_not_negative')),
        ops.AddConstraint(model_name='ChallengeCompletion', constraint=UniqueConstraint(fields=('challenge_key', 'window_start', 'member_id'), name='challenge_completion_once')),
        ops.AddConstraint(model_name='ChallengeSlots', constraint=UniqueConstraint(fields=('challenge_key', 'window_start'), name='challenge_slots_window')),
        ops.AddConstraint(model_name='SurpriseBudgetUse', constraint=UniqueConstraint(fields=('surprise_key', 'period'), name='surprise_budget_period')),
        ops.AddConstraint(model_name='SurpriseDraw', constraint=UniqueConstraint(fields=('surprise_key', 'event_id'), name='surprise_draw_once')),
    ]
