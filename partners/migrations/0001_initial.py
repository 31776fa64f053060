from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.migrations.constraints import UniqueConstraint

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='Partner',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('key', fields.CharField(unique=True, max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'partner', 'app': 'partners', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PartnerApiKey',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('partner', fields.ForeignKeyField('partners.Partner', source_field='partner_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.RESTRICT)),
                ('key_hash', fields.CharField(unique=True, max_length=64)),
                ('prefix', fields.CharField(max_length=16)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'partner_api_key', 'app': 'partners', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PartnerLink',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('partner', fields.ForeignKeyField('partners.Partner', source_field='partner_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.RESTRICT)),
                ('member', fields.ForeignKeyField('domain.Member', source_field='member_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.RESTRICT)),
                ('partner_member_id', fields.CharField(max_length=128)),
                ('linked_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'partner_link', 'app': 'partners', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AddConstraint(model_name='PartnerLink', constraint=UniqueConstraint(fields=('partner_id', 'member_id'), name='partner_link_member')),
        ops.AddConstraint(model_name='PartnerLink', constraint=UniqueConstraint(fields=('partner_id', 'partner_member_id'), name='partner_link_partner_member')),
    ]
