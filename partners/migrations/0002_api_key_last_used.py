from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [('partners', '0001_initial')]

    initial = False

    operations = [
        ops.AddField(
            model_name='PartnerApiKey',
            name='last_used_at',
            field=fields.DatetimeField(null=True),
        ),
    ]
