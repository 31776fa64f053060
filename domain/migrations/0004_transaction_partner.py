from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [('domain', '0003_purchase_discount')]

    initial = False

    operations = [
        ops.AddField(
            model_name='LedgerTransaction',
            name='partner',
            field=fields.CharField(null=True, max_length=64),
        ),
        # What a partner recorded is its own. Redemptions of partner rewards written before
        # this column stay unattributed: no partner sees them, which errs on the safe side.
        ops.RunSQL(
            "UPDATE ledger_transaction SET partner = substr(source, 9) "
            "WHERE source LIKE 'partner:%'"
        ),
    ]
