from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.migrations.constraints import UniqueConstraint

# Leaderboards: members who keep off them, and the archived top of closed periods.
class Migration(migrations.Migration):
    dependencies = [('domain', '0007_member_badge')]

    initial = False

    operations = [
        ops.CreateModel(
            name='LeaderboardArchive',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('board', fields.CharField(max_length=64)),
                ('period', fields.CharField(max_length=16)),
                ('period_start', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('rank', fields.IntField()),
                ('member_id', fields.BigIntField()),
                ('score', fields.BigIntField()),
                ('archived_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'leaderboard_archive', 'app': 'domain', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='LeaderboardOptOut',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('member', fields.OneToOneField('domain.Member', source_field='member_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.RESTRICT)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'leaderboard_opt_out', 'app': 'domain', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AddConstraint(model_name='LeaderboardArchive', constraint=UniqueConstraint(fields=('board', 'period', 'period_start', 'rank'), name='leaderboard_archive_rank')),
    ]
