"""The small demo data set `make run` loads: enough for every page to show something real.

Idempotent: every row is looked up by a natural key before it is created.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction

DEMO_PASSWORD = "demo-password-123"


def _user(*, email: str, **fields):
    User = get_user_model()
    user, created = User.objects.get_or_create(email=email, defaults={"username": email, **fields})
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])
    return user


SUNNY_CONTACTS = [
    {"kind": "person", "first_name": "Maya", "last_name": "Lopez", "email": "maya.lopez@example.test",
     "phone": "+1 555 0101", "city": "Austin", "region": "TX", "country": "US"},
    {"kind": "person", "first_name": "Tom", "last_name": "Becker", "email": "tom.becker@example.test",
     "city": "Denver", "region": "CO", "country": "US"},
    {"kind": "organization", "organization_name": "Happy Paws Rescue", "email": "hello@happypaws.example.test",
     "country": "US", "notes": "Takes retired breeding dogs."},
]

#: (natural key kept in the invoice notes, contact email, lines, the state to bring it to)
SUNNY_INVOICES = [
    ("demo:deposit-draft", "maya.lopez@example.test", [("Puppy deposit (Golden Retriever, litter B)", 50_000)], "draft"),
    ("demo:balance-sent", "maya.lopez@example.test", [("Puppy balance", 200_000), ("Microchip", 4_500)], "sent"),
    ("demo:transfer-claimed", "tom.becker@example.test", [("Stud service", 80_000)], "pending_confirmation"),
    ("demo:paid", "tom.becker@example.test", [("Puppy (Labrador)", 180_000), ("Starter kit", 6_000)], "paid"),
    ("demo:refunded-part", "hello@happypaws.example.test", [("Grooming x4", 4_000, 4)], "partially_refunded"),
    ("demo:voided", "tom.becker@example.test", [("Duplicate entry", 10_000)], "void"),
]


def _sunny_kennels() -> None:
    from django.core.files.base import ContentFile

    from breederhq.tenancy import tenant_context
    from tenant_app import services
    from tenant_app.models import Contact, Invoice, Tenant

    owner = _user(email="owner@sunny-kennels.test", first_name="Sunny", last_name="Owner")
    tenant = Tenant.all_objects.filter(slug="sunny-kennels").first()
    if tenant is None:
        tenant = services.tenant_create(name="Sunny Kennels", slug="sunny-kennels", owner=owner, payment_mode="manual")
    with tenant_context(tenant.pk):
        contacts = {}
        for fields in SUNNY_CONTACTS:
            contact = Contact.objects.filter(tenant_id=tenant.pk, email=fields["email"]).first()
            contacts[fields["email"]] = contact or services.contact_create(**fields)
        for key, email, lines, state in SUNNY_INVOICES:
            if Invoice.all_objects.filter(tenant_id=tenant.pk, notes=key).exists():
                continue
            invoice = services.invoice_create(
                contact_id=contacts[email].pk, notes=key, actor=owner,
                lines=[services.LineInput(line[0], line[1], *(line[2:])) for line in lines],
            )
            if state == "void":
                services.invoice_void(invoice_id=invoice.pk, actor=owner, reason="entered twice")
                continue
            if state == "draft":
                continue
            services.invoice_send(invoice_id=invoice.pk, actor=owner)
            if state in ("pending_confirmation", "paid", "partially_refunded"):
                services.invoice_buyer_mark_paid(
                    invoice_id=invoice.pk, reference=f"transfer {key}",
                    receipt=ContentFile(b"Demo bank transfer receipt", name="receipt.txt"),
                )
            if state in ("paid", "partially_refunded"):
                services.invoice_confirm_payment(invoice_id=invoice.pk, actor=owner, reference=f"transfer {key}")
            if state == "partially_refunded":
                services.invoice_refund(invoice_id=invoice.pk, amount_cents=4_000, reason="one session cancelled",
                                        idempotency_key=f"{key}:refund", actor=owner)


def load_demo_data() -> list[tuple[str, str]]:
    """Create the demo rows if missing; return (login, description) pairs to print."""
    with transaction.atomic(using="default"):
        _user(email="admin@breederhq.test", is_staff=True, is_superuser=True, first_name="Ada")
        _sunny_kennels()
    return [
        ("admin@breederhq.test", "superuser: the back office at /admin/"),
        ("owner@sunny-kennels.test", "owner of the demo tenant Sunny Kennels (contacts, invoices)"),
    ]
