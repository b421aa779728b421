"""Factories for the tenant side. Tenant-owned rows can only be written inside a tenant context
(row-level security checks `tenant_id` on insert), so create them within `tenant_context(...)`."""

from __future__ import annotations

import factory
from django.core.files.base import ContentFile
from django.utils import timezone

from breederhq.tenancy import tenant_context
from tenant_app.models import Contact, Tenant, TenantMembership, User
from tenant_app.services import LineInput, invoice_create


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("email",)

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    username = factory.LazyAttribute(lambda o: o.email)
    first_name = "Pat"
    password = factory.django.Password("pw-for-tests-123")
    #: Test people have proved their addresses; `UserFactory(email_verified_at=None)` for one who has not.
    email_verified_at = factory.LazyFunction(timezone.now)


class TenantFactory(factory.django.DjangoModelFactory):
    """A tenant with an owner membership (written in the new tenant's own context)."""

    class Meta:
        model = Tenant
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Kennel {n}")
    slug = factory.Sequence(lambda n: f"kennel-{n}")
    marketplace_payment_mode = Tenant.PaymentMode.MANUAL

    @factory.post_generation
    def owner(tenant, create, extracted, **kwargs):
        if not create:
            return
        user = extracted or UserFactory()
        with tenant_context(tenant.pk):
            TenantMembership.objects.create(tenant=tenant, user=user, role=TenantMembership.Role.OWNER)
        tenant.owner_user = user


class ContactFactory(factory.django.DjangoModelFactory):
    """Needs the tenant's context to be active (see module docstring)."""

    class Meta:
        model = Contact

    kind = Contact.Kind.PERSON
    first_name = "Jamie"
    last_name = factory.Sequence(lambda n: f"Buyer{n}")
    email = factory.LazyAttribute(lambda o: f"{o.last_name.lower()}@example.test")


def make_invoice(*, contact: Contact, amounts=(10_000,), tax_cents: int = 0, **kwargs):
    """A draft invoice through the service (tenant row locked, payment mode snapshotted)."""
    lines = [LineInput(description=f"Line {i}", unit_price_cents=a) for i, a in enumerate(amounts)]
    return invoice_create(contact_id=contact.pk, lines=lines, tax_cents=tax_cents, **kwargs)


def receipt_file(name: str = "receipt.pdf") -> ContentFile:
    return ContentFile(b"%PDF-1.4 bank transfer receipt", name=name)
