"""Contacts: the people and organisations a tenant deals with, never looked up across tenants."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from breederhq.crossdb import CrossDatabaseReference, CrossDatabaseReferencesMixin, SoftDeleteModel, SoftDeleteQuerySet
from breederhq.tenancy import UnscopedTenantLookup
from tenant_app.models.tenants import TenantOwned


def _mentions(node, names: tuple[str, ...]) -> bool:
    if isinstance(node, Q):
        return any(_mentions(child, names) for child in node.children)
    if isinstance(node, tuple):
        return node[0].split("__")[0] in names
    return False


class ContactQuerySet(SoftDeleteQuerySet):
    """Refuses to look contacts up by `marketplace_user_id` unless the same query names the tenant:
    the classic leak is `filter(marketplace_user_id=42)` across every tenant. RLS
    already confines the result to the current tenant; this makes the mistake loud in code too."""

    _tenant_scoped = False

    def _clone(self):
        clone = super()._clone()
        clone._tenant_scoped = self._tenant_scoped
        return clone

    def _filter_or_exclude(self, negate, args, kwargs):
        conditions = [*args, *kwargs.items()]
        names_tenant = any(_mentions(c, ("tenant", "tenant_id")) for c in conditions)
        if (
            not self._tenant_scoped
            and not names_tenant
            and any(_mentions(c, ("marketplace_user_id", "marketplace_user")) for c in conditions)
        ):
            raise UnscopedTenantLookup(
                "Contacts are never looked up by marketplace_user_id without a tenant: add "
                "tenant_id=... to the same filter, or use "
                "tenant_app.selectors.contact_get_by_marketplace_user."
            )
        clone = super()._filter_or_exclude(negate, args, kwargs)
        clone._tenant_scoped = self._tenant_scoped or names_tenant
        return clone


class ContactManager(models.Manager.from_queryset(ContactQuerySet)):
    def get_queryset(self):
        return super().get_queryset().filter(deleted_at__isnull=True)


class Contact(CrossDatabaseReferencesMixin, TenantOwned, SoftDeleteModel):
    """A party the tenant deals with: a person or an organisation (the Party pattern)."""

    class Kind(models.TextChoices):
        PERSON = "person", "Person"
        ORGANIZATION = "organization", "Organisation"

    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.PERSON)
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    organization_name = models.CharField(max_length=200, blank=True)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=40, blank=True)
    address_line1 = models.CharField(max_length=200, blank=True)
    address_line2 = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    region = models.CharField(max_length=100, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2")
    notes = models.TextField(blank=True)
    # No single-column index: the only lookups allowed name the tenant too, which the partial
    # unique index below serves.
    marketplace_user_id = CrossDatabaseReference(
        "marketplace_app.MarketplaceUser", null=True, blank=True, db_index=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ContactManager()
    all_objects = models.Manager.from_queryset(ContactQuerySet)()

    class Meta:
        db_table = "contacts"
        base_manager_name = "all_objects"
        constraints = [
            models.UniqueConstraint(
                fields=["marketplace_user_id", "tenant"],
                condition=Q(marketplace_user_id__isnull=False),
                name="contacts_marketplace_user_tenant_unique",
            ),
            models.UniqueConstraint(fields=["id", "tenant"], name="contacts_id_tenant_unique"),
            models.CheckConstraint(condition=Q(kind__in=["person", "organization"]), name="contacts_kind_valid"),
            models.CheckConstraint(
                condition=(Q(kind="person") & ~(Q(first_name="") & Q(last_name="")))
                | (Q(kind="organization") & ~Q(organization_name="")),
                name="contacts_has_a_name",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "last_name", "first_name"], name="contacts_tenant_name_idx")]

    @property
    def display_name(self) -> str:
        if self.kind == self.Kind.ORGANIZATION:
            return self.organization_name
        return " ".join(p for p in (self.first_name, self.last_name) if p)

    def __str__(self) -> str:
        return self.display_name
