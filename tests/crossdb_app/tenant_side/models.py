from django.db import models

from breederhq.crossdb import (
    CrossDatabaseReference,
    CrossDatabaseReferencesManager,
    CrossDatabaseReferencesMixin,
    SoftDeleteModel,
)


class Invoice(SoftDeleteModel):
    """Stands in for tenant_app.Invoice: a marketplace transaction may point at it."""

    class Status(models.TextChoices):
        SENT = "sent", "Sent"
        PAID = "paid", "Paid"
        VOID = "void", "Void"

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SENT)
    total_cents = models.BigIntegerField(default=0)

    class Meta:
        db_table = "crossdb_test_invoices"


class Contact(CrossDatabaseReferencesMixin):
    """Stands in for tenant_app.Contact: points at a marketplace member. Not soft-deleted itself,
    so it shows the plain-manager form of the declaration and hard deletes of source rows."""

    name = models.CharField(max_length=100)
    marketplace_member_id = CrossDatabaseReference("crossdb_marketplace.Member", null=True, blank=True)

    objects = CrossDatabaseReferencesManager()

    class Meta:
        db_table = "crossdb_test_contacts"


class Effect(models.Model):
    """One row each time an outbox handler changes something here: exactly-once made countable."""

    kind = models.CharField(max_length=50)
    object_id = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "crossdb_test_tenant_effects"
