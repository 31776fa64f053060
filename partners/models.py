"""Partner brands as the database knows them: their identity, API keys and member links."""

from __future__ import annotations

from tortoise import fields
from tortoise.migrations.constraints import UniqueConstraint
from tortoise.models import Model

from domain.models import Member


class Partner(Model):
    # A partner of the program file; the row gives it a stable id for keys and links.

    id = fields.IntField(primary_key=True)
    key = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "partner"


class PartnerApiKey(Model):
    id = fields.IntField(primary_key=True)
    partner: fields.ForeignKeyRelation[Partner] = fields.ForeignKeyField(
        "partners.Partner", related_name=False, on_delete=fields.RESTRICT
    )
    # The key itself is shown once; only its SHA-256 is kept (keys are 256-bit random, so a
    # slow hash would add latency to every call and no safety).
    key_hash = fields.CharField(max_length=64, unique=True)
    prefix = fields.CharField(max_length=16)
    created_at = fields.DatetimeField(auto_now_add=True)
    revoked_at = fields.DatetimeField(null=True)
    # Written when a worker verifies the key afresh, so to within KeyRing.CACHE_SECONDS.
    last_used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "partner_api_key"


class PartnerLink(Model):
    # The partner vouches that partner_member_id is this member at its end.

    id = fields.BigIntField(primary_key=True)
    partner: fields.ForeignKeyRelation[Partner] = fields.ForeignKeyField(
        "partners.Partner", related_name=False, on_delete=fields.RESTRICT
    )
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "domain.Member", related_name=False, on_delete=fields.RESTRICT
    )
    partner_member_id = fields.CharField(max_length=128)
    member_id: int
    linked_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "partner_link"
        constraints = (
            UniqueConstraint(fields=("partner_id", "member_id"), name="partner_link_member"),
            UniqueConstraint(
                fields=("partner_id", "partner_member_id"), name="partner_link_partner_member"
            ),
        )
