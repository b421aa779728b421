"""Walks every model registered in the admin, with the demo data loaded (once for the module,
tests/fixtures/demo.py): its changelist (and the
change page of one of its rows, and the add page where adding is allowed) answer 200 to a
superuser and to the support group, 403 to staff without a group, and send anyone else to log in.
Tenant-owned models are walked while working on the demo tenant (the audited path)."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.routing import database_for_model
from breederhq.tenancy import tenant_context
from tests.backoffice.conftest import work_on

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])

MODELS = sorted(admin.site._registry, key=lambda m: m._meta.label)


def _pages(model, model_admin, tenant):
    info = (model._meta.app_label, model._meta.model_name)
    pages = [reverse("admin:{}_{}_changelist".format(*info))]
    alias = database_for_model(model)
    queryset = model_admin.get_queryset(_FakeRequest()).using(alias if alias != "*" else TENANT_DB)
    with tenant_context(tenant.pk):
        row = queryset.order_by("pk").first()
    if row is not None:
        pages.append(reverse("admin:{}_{}_change".format(*info), args=[row.pk]))
    return pages


class _FakeRequest:
    """ModelAdmin.get_queryset only needs something to hand to ordering/permission hooks."""

    class user:  # noqa: N801
        is_superuser = True


@pytest.mark.parametrize("model", MODELS, ids=[m._meta.label for m in MODELS])
def test_every_model_page(demo_tenant, superuser_client, support_client, bare_staff_client, client, model):
    from tests.factories.tenant import UserFactory

    model_admin = admin.site._registry[model]
    work_on(superuser_client, demo_tenant)
    work_on(support_client, demo_tenant)
    pages = _pages(model, model_admin, demo_tenant)
    for url in pages:
        assert superuser_client.get(url).status_code == 200, url
        restricted_to_superusers = model._meta.app_label == "auth"
        assert support_client.get(url).status_code == (403 if restricted_to_superusers else 200), url
        assert bare_staff_client.get(url).status_code == 403, url
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login")), url
    client.force_login(UserFactory())  # signed in, not staff
    assert client.get(pages[0]).status_code == 302


def test_the_walk_covers_both_databases_and_the_tenant_tables():
    labels = {m._meta.label for m in MODELS}
    assert {
        "tenant_app.Invoice",
        "tenant_app.Contact",
        "tenant_app.TenantMembership",
        "tenant_app.Payment",
        "tenant_app.CreditNote",
        "marketplace_app.MarketplaceTransaction",
        "marketplace_app.Provider",
        "breederhq.MarketplaceDbOutboundEmail",
    } <= labels
