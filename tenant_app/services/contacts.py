"""Contact writes of the current tenant."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from breederhq.errors import NotFound, ValidationFailed
from breederhq.tenancy import require_tenant_id
from tenant_app.models import Contact
from tenant_app.services.common import DB

CONTACT_FIELDS = {
    "kind",
    "first_name",
    "last_name",
    "organization_name",
    "email",
    "phone",
    "address_line1",
    "address_line2",
    "city",
    "region",
    "postal_code",
    "country",
    "notes",
    "marketplace_user_id",
}


def _validate_contact(contact: Contact) -> None:
    errors = {}
    if contact.kind not in Contact.Kind.values:
        errors["kind"] = [f"not one of {Contact.Kind.values}"]
    elif contact.kind == Contact.Kind.PERSON and not (contact.first_name or contact.last_name):
        errors["last_name"] = ["a person needs a first or last name"]
    elif contact.kind == Contact.Kind.ORGANIZATION and not contact.organization_name:
        errors["organization_name"] = ["an organisation needs a name"]
    if errors:
        raise ValidationFailed("Invalid contact.", field_errors=errors)


def _save_contact(contact: Contact) -> Contact:
    try:
        with transaction.atomic(using=DB):
            contact.save()
    except IntegrityError as exc:
        if "contacts_marketplace_user_tenant_unique" in str(exc):
            raise ValidationFailed(
                "That marketplace user is already linked to another contact.",
                field_errors={"marketplace_user_id": ["already linked to a contact of this tenant"]},
            ) from exc
        raise
    return contact


def contact_create(*, kind: str = Contact.Kind.PERSON, **fields) -> Contact:
    unknown = set(fields) - CONTACT_FIELDS
    if unknown:
        raise ValidationFailed(f"Unknown contact fields: {', '.join(sorted(unknown))}.")
    with transaction.atomic(using=DB):
        contact = Contact(tenant_id=require_tenant_id(using=DB), kind=kind, **fields)
        _validate_contact(contact)
        return _save_contact(contact)


def contact_update(*, contact_id: int, **fields) -> Contact:
    unknown = set(fields) - CONTACT_FIELDS
    if unknown:
        raise ValidationFailed(f"Unknown contact fields: {', '.join(sorted(unknown))}.")
    with transaction.atomic(using=DB):
        tenant_id = require_tenant_id(using=DB)
        contact = Contact.objects.select_for_update().filter(tenant_id=tenant_id, pk=contact_id).first()
        if contact is None:
            raise NotFound(f"Contact {contact_id} not found.")
        for name, value in fields.items():
            setattr(contact, name, value)
        _validate_contact(contact)
        return _save_contact(contact)


def contact_delete(*, contact_id: int) -> None:
    with transaction.atomic(using=DB):
        tenant_id = require_tenant_id(using=DB)
        contact = Contact.objects.filter(tenant_id=tenant_id, pk=contact_id).first()
        if contact is None:
            raise NotFound(f"Contact {contact_id} not found.")
        contact.delete()
