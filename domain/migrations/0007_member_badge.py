from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.migrations.constraints import CheckConstraint, UniqueConstraint

class Migration(migrations.Migration):
    dependencies = [('domain', '0006_tiers')]

    initial = False

    operations = [
        ops.CreateModel(
            name='MemberBadge',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('member', fields.ForeignKeyField('domain.Member', source_field='member_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.RESTRICT)),
                ('badge', fields.CharField(max_length=64)),
                ('level', fields.IntField()),
                ('unlocked_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('transaction', fields.ForeignKeyField('domain.LedgerTransaction', source_field='transaction_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.RESTRICT)),
            ],
            options={'table': 'member_badge', 'app': 'domain', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        # The CHECK first: on SQLite adding it rebuilds the table, which would drop the index.
        ops.AddConstraint(model_name='MemberBadge', constraint=CheckConstraint(check='level >= 1', name='member_badge_level_positive')),
        ops.AddConstraint(model_name='MemberBadge', constraint=UniqueConstraint(fields=('member_id', 'badge', 'level'), name='member_badge_level')),
    ]
