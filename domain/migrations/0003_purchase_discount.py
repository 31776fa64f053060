from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [('domain', '0002_program_rules')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Purchase',
            name='discount',
            field=fields.DecimalField(default=0, db_default=0, max_digits=20, decimal_places=4),
        ),
    ]
