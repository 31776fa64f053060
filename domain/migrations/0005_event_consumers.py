from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [('domain', '0004_transaction_partner')]

    initial = False

    operations = [
        # Where an event stands in commit order: on PostgreSQL the writing transaction's id,
        # on SQLite (one writer at a time, so ids are given in commit order) zero. Rows written
        # before this migration are all zero, and keep their id order.
        ops.AddField(
            model_name='OutboxEvent',
            name='commit_order',
            field=fields.BigIntField(default=0, db_default=0),
        ),
        ops.RunSQL(
            'CREATE INDEX outbox_commit_order ON outbox_event (commit_order, id)',
            reverse_sql='DROP INDEX outbox_commit_order',
        ),
        ops.CreateModel(
            name='ConsumerCheckpoint',
            fields=[
                ('name', fields.CharField(primary_key=True, max_length=64)),
                ('commit_order', fields.BigIntField(default=0)),
                ('event_id', fields.BigIntField(default=0)),
                ('handled', fields.BigIntField(default=0)),
                ('failures', fields.IntField(default=0)),
                ('last_error', fields.TextField(null=True, unique=False)),
                ('retry_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'consumer_checkpoint', 'app': 'domain', 'pk_attr': 'name'},
            bases=['Model'],
        ),
        # The fan-out was the one reader, and marked what it had sent: it goes on after the
        # last event it sent without a gap before it.
        ops.RunSQL(
            "INSERT INTO consumer_checkpoint (name, commit_order, event_id, handled, failures, "
            "updated_at) SELECT 'fanout', 0, COALESCE((SELECT MIN(id) - 1 FROM outbox_event "
            "WHERE published_at IS NULL), (SELECT MAX(id) FROM outbox_event), 0), 0, 0, "
            "CURRENT_TIMESTAMP"
        ),
        ops.RunSQL(
            'CREATE INDEX idempotency_record_created ON idempotency_record (created_at)',
            reverse_sql='DROP INDEX idempotency_record_created',
        ),
        ops.RunSQL('DROP INDEX outbox_unpublished', reverse_sql=(
            'CREATE INDEX outbox_unpublished ON outbox_event (id) WHERE published_at IS NULL'
        )),
        ops.RemoveField(model_name='OutboxEvent', name='published_at'),
    ]
