"""The demo tenant Sunny Kennels: its owner, contacts and invoices in every state, its team, and the contact
who is also a marketplace buyer."""

from __future__ import annotations

from breederhq.databases import TENANT_DB
from demo.base import demo_user

SUNNY_CONTACTS = [
    {
        "kind": "person",
        "first_name": "Maya",
        "last_name": "Lopez",
        "email": "maya.lopez@example.test",
        "phone": "+1 555 0101",
        "city": "Austin",
        "region": "TX",
        "country": "US",
    },
    {
        "kind": "person",
        "first_name": "Tom",
        "last_name": "Becker",
        "email": "tom.becker@example.test",
        "city": "Denver",
        "region": "CO",
        "country": "US",
    },
    {
        "kind": "organization",
        "organization_name": "Happy Paws Rescue",
        "email": "hello@happypaws.example.test",
        "country": "US",
        "notes": "Takes retired breeding dogs.",
    },
]

#: (natural key kept in the invoice notes, contact email, lines, the state to bring it to)
SUNNY_INVOICES = [
    (
        "demo:deposit-draft",
        "maya.lopez@example.test",
        [("Puppy deposit (Golden Retriever, litter B)", 50_000)],
        "draft",
    ),
    ("demo:balance-sent", "maya.lopez@example.test", [("Puppy balance", 200_000), ("Microchip", 4_500)], "sent"),
    ("demo:transfer-claimed", "tom.becker@example.test", [("Stud service", 80_000)], "pending_confirmation"),
    ("demo:paid", "tom.becker@example.test", [("Puppy (Labrador)", 180_000), ("Starter kit", 6_000)], "paid"),
    ("demo:refunded-part", "hello@happypaws.example.test", [("Grooming x4", 4_000, 4)], "partially_refunded"),
    ("demo:voided", "tom.becker@example.test", [("Duplicate entry", 10_000)], "void"),
]


def sunny_kennels() -> None:
    from django.core.files.base import ContentFile

    from breederhq.tenancy import tenant_context
    from tenant_app import services
    from tenant_app.models import Contact, Invoice, Tenant

    owner = demo_user(email="owner@sunny-kennels.test", first_name="Sunny", last_name="Owner")
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
                contact_id=contacts[email].pk,
                notes=key,
                actor=owner,
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
                    invoice_id=invoice.pk,
                    reference=f"transfer {key}",
                    receipt=ContentFile(b"Demo bank transfer receipt", name="receipt.txt"),
                )
            if state in ("paid", "partially_refunded"):
                services.invoice_confirm_payment(invoice_id=invoice.pk, actor=owner, reference=f"transfer {key}")
            if state == "partially_refunded":
                services.invoice_refund(
                    invoice_id=invoice.pk,
                    amount_cents=4_000,
                    reason="one session cancelled",
                    idempotency_key=f"{key}:refund",
                    actor=owner,
                )


def sunny_team(tenant, owner) -> None:
    """The owner invited a kennel assistant as staff and she accepted (the invitation email is in the
    queue; the membership audit log records the invitation and the acceptance)."""
    from breederhq.tenancy import tenant_context
    from tenant_app import services
    from tenant_app.models import TenantMembership

    assistant = demo_user(email="assistant@sunny-kennels.test", first_name="Kim", last_name="Assistant")
    with tenant_context(tenant.pk):
        if TenantMembership.objects.filter(tenant_id=tenant.pk, user=assistant).exists():
            return
        services.invitation_create(email=assistant.email, role=TenantMembership.Role.STAFF, actor=owner)
    services.invitation_accept(token=_invitation_token(assistant.email), user=assistant)


def _invitation_token(email: str) -> str:
    """The token the invitation email carries (demo only: it is stored nowhere but in the email)."""
    import re

    from breederhq.models import OutboundEmail

    body = (
        OutboundEmail.objects.using(TENANT_DB)
        .filter(template="tenant_invitation", to=[email])
        .order_by("-id")
        .values_list("text_body", flat=True)
        .first()
    )
    return re.search(r"invitation code, if the app asks for it: (\S+)", body).group(1)


def link_contact(tenant, contact, buyer) -> None:
    """Maya is also the marketplace buyer: a reference from the tenant database to the marketplace."""
    from breederhq.tenancy import tenant_context
    from tenant_app import services

    if contact.marketplace_user_id is None:
        with tenant_context(tenant.pk):
            services.contact_update(contact_id=contact.pk, marketplace_user_id=buyer.pk)
