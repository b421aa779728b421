"""Marketplace users: buyers, breeders and service providers, each linked to its tenant-side user if any."""

from __future__ import annotations

from django.db import models

from breederhq.crossdb import (
    CrossDatabaseReference,
    CrossDatabaseReferencesMixin,
    SoftDeleteModel,
)


class MarketplaceUser(CrossDatabaseReferencesMixin, SoftDeleteModel):
    """Someone on the public marketplace: a buyer, a breeder or a service provider.

    A breeder's marketplace identity links to its tenant-side user across databases.
    """

    class Kind(models.TextChoices):
        BUYER = "buyer", "Buyer"
        BREEDER = "breeder", "Breeder"
        SERVICE_PROVIDER = "service_provider", "Service provider"

    email = models.EmailField(unique=True)
    display_name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.BUYER)
    tenant_user_id = CrossDatabaseReference("tenant_app.User", null=True, blank=True)
    phone = models.CharField(max_length=40, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "marketplace_users"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=["buyer", "breeder", "service_provider"]),
                name="marketplace_users_kind_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.display_name
