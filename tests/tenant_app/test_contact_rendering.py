"""The contact list renders its rows by hand (tenant_app.api.serializers.contact_rows_out); the JSON
must be exactly what ContactOut (the schema's serializer) gives for the same contacts, key order
included."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from django.utils import timezone

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.tenancy import tenant_context
from tenant_app.api import serializers as s
from tenant_app.models import Contact
from tests.factories.tenant import ContactFactory, TenantFactory

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])


def contacts_with_every_shape() -> list[Contact]:
    tenant = TenantFactory()
    with tenant_context(tenant.pk):
        person = ContactFactory(
            tenant=tenant,
            first_name="Ada",
            last_name="",
            email="ada@example.test",
            notes='Line one\nline "two"',
            country="GB",
        )
        organization = ContactFactory(tenant=tenant, kind=Contact.Kind.ORGANIZATION, organization_name="Happy Paws")
        linked = ContactFactory(tenant=tenant, first_name="Bea", last_name="Lee", marketplace_user_id=7)
        gone = ContactFactory(tenant=tenant, first_name="Cy", last_name="", marketplace_user_id=8)
        Contact.objects.filter(pk=person.pk).update(updated_at=datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC))
        contacts = list(Contact.objects.filter(pk__in=[person.pk, organization.pk, linked.pk, gone.pk]).order_by("id"))
    # As the view sets it from the cross-database resolution: none, a live person, a deleted one.
    for contact, ref in zip(
        contacts,
        [
            None,
            None,
            {"id": 7, "display_name": "Bea L.", "is_deleted": False},
            {"id": 8, "display_name": None, "is_deleted": True},
        ],
        strict=True,
    ):
        contact.marketplace_user = ref
    return contacts


def test_contact_rows_render_as_contact_out():
    contacts = contacts_with_every_shape()
    rows = s.contact_rows_out(contacts)
    assert [r["display_name"] for r in rows] == ["Ada", "Happy Paws", "Bea Lee", "Cy"]
    assert rows[0]["updated_at"] == "2026-01-02T03:04:05.678901Z"
    assert json.dumps(rows) == json.dumps(s.ContactOut(contacts, many=True).data)


def test_contact_rows_render_in_the_active_time_zone_like_drf():
    contacts = contacts_with_every_shape()
    with timezone.override("America/Chicago"):
        rows = s.contact_rows_out(contacts)
        assert rows[0]["updated_at"] == "2026-01-01T21:04:05.678901-06:00"
        assert json.dumps(rows) == json.dumps(s.ContactOut(contacts, many=True).data)
