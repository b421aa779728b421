"""Soft-deleted rows are purged only when the policy allows: old enough, no history, unreferenced."""

from datetime import timedelta

import pytest
from django.utils import timezone

from breederhq.databases import DATABASE_ALIASES, MARKETPLACE_DB, TENANT_DB
from breederhq.models import CrossDbReference
from breederhq.tenancy import tenant_context
from marketplace_app.lifecycle import provider_purge_deleted
from marketplace_app.models import Provider
from tenant_app.lifecycle import contact_purge_deleted
from tenant_app.models import Contact
from tests.factories.marketplace import ProviderFactory, make_listing, make_transaction
from tests.factories.tenant import ContactFactory, TenantFactory, make_invoice

pytestmark = pytest.mark.django_db(databases=list(DATABASE_ALIASES))
LONG_AGO = timezone.now() - timedelta(days=3 * 365)


def test_only_old_unused_unreferenced_providers_are_purged():
    idle, seller, recent, pointed_at = (ProviderFactory() for _ in range(4))
    make_listing(idle)
    make_transaction(seller)
    for provider in (idle, seller, pointed_at):
        Provider.all_objects.using(MARKETPLACE_DB).filter(pk=provider.pk).update(deleted_at=LONG_AGO)
    recent.delete()
    CrossDbReference.objects.using(TENANT_DB).create(
        source_table="stripe_connect_accounts",
        source_id=1,
        source_column="provider_id",
        target_db=MARKETPLACE_DB,
        target_table="marketplace_providers",
        target_id=pointed_at.pk,
    )
    assert provider_purge_deleted() == [idle.pk]
    remaining = set(Provider.all_objects.using(MARKETPLACE_DB).values_list("pk", flat=True))
    assert remaining == {seller.pk, recent.pk, pointed_at.pk}


def test_only_old_uninvoiced_contacts_are_purged_in_every_tenant():
    a, b = TenantFactory(), TenantFactory()
    with tenant_context(a.pk):
        idle_a, invoiced = ContactFactory(tenant=a), ContactFactory(tenant=a)
        make_invoice(contact=invoiced)
        fresh = ContactFactory(tenant=a)
    with tenant_context(b.pk):
        idle_b = ContactFactory(tenant=b)
    for tenant, contacts in ((a, [idle_a, invoiced]), (b, [idle_b])):
        with tenant_context(tenant.pk):
            Contact.all_objects.filter(pk__in=[c.pk for c in contacts]).update(deleted_at=LONG_AGO)
    with tenant_context(a.pk):
        fresh.delete()
    assert sorted(contact_purge_deleted()) == sorted([idle_a.pk, idle_b.pk])
    with tenant_context(a.pk):
        assert set(Contact.all_objects.values_list("pk", flat=True)) == {invoiced.pk, fresh.pk}
