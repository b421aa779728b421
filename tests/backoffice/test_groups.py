"""`support` reads and runs safe actions, `finance` runs payment actions, superusers do all;
anything else is refused (403) or, for someone not signed in as staff, sent to the login page."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from breederhq.backoffice.groups import backoffice_groups_sync
from breederhq.backoffice.models import StaffActionAudit
from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.tenancy import tenant_context
from marketplace_app.models import Provider
from tenant_app import services
from tenant_app.models import Invoice
from tests.backoffice.conftest import work_on
from tests.factories.marketplace import ProviderFactory
from tests.factories.tenant import ContactFactory, TenantFactory, make_invoice, receipt_file

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])

INVOICES = reverse("admin:tenant_app_invoice_changelist")
PROVIDERS = reverse("admin:marketplace_app_provider_changelist")


def codenames(name):
    return set(Group.objects.get(name=name).permissions.values_list("content_type__app_label", "codename"))


def test_groups_hold_exactly_their_permissions(groups):
    support, finance = codenames("support"), codenames("finance")
    assert ("backoffice", "support_actions") in support and ("backoffice", "payment_actions") not in support
    assert ("backoffice", "payment_actions") in finance and ("backoffice", "support_actions") not in finance
    assert ("backoffice", "view_dashboard") in support & finance
    assert ("tenant_app", "view_invoice") in support & finance
    assert ("breederhq", "view_marketplacedboutboundemail") in support  # per-database proxies too
    everything = support | finance
    assert not [c for c in everything if c[1].split("_")[0] in ("add", "change", "delete")]
    assert ("auth", "view_group") not in everything


def test_sync_is_idempotent_and_resets_extra_rights(groups):
    from django.contrib.auth.models import Permission

    Group.objects.get(name="support").permissions.add(
        Permission.objects.get(codename="change_invoice", content_type__app_label="tenant_app")
    )
    assert backoffice_groups_sync() == groups
    assert ("tenant_app", "change_invoice") not in codenames("support")
    assert Group.objects.filter(name__in=["support", "finance"]).count() == 2


@pytest.fixture
def claimed():
    tenant = TenantFactory()
    with tenant_context(tenant.pk):
        invoice = make_invoice(contact=ContactFactory(tenant=tenant))
        services.invoice_send(invoice_id=invoice.pk)
        services.invoice_buyer_mark_paid(invoice_id=invoice.pk, receipt=receipt_file())
    return tenant, invoice


def _action_names(client, url):
    response = client.get(url)
    assert response.status_code == 200
    form = response.context["action_form"]
    return set() if form is None else {name for name, _ in form.fields["action"].choices if name}


def test_support_reads_tenant_invoices_but_cannot_confirm_payments(support_client, claimed):
    tenant, invoice = claimed
    work_on(support_client, tenant)
    assert _action_names(support_client, INVOICES) == set()
    support_client.post(
        INVOICES,
        {
            "action": "confirm_manual_payment",
            "_selected_action": [invoice.pk],
            "confirmed": "yes",
            "reason": "trying anyway",
        },
    )
    with tenant_context(tenant.pk):
        assert Invoice.objects.get(pk=invoice.pk).status == "pending_confirmation"
    assert not StaffActionAudit.objects.exists()
    change = reverse("admin:tenant_app_invoice_change", args=[invoice.pk])
    assert support_client.get(change).status_code == 200
    assert support_client.post(change, {"status": "paid"}).status_code == 403


def test_finance_sees_payment_actions_not_support_actions(finance_client, claimed):
    tenant, _ = claimed
    work_on(finance_client, tenant)
    assert _action_names(finance_client, INVOICES) == {
        "confirm_manual_payment",
        "reject_manual_payment",
        "expire_manual_payment",
        "resolve_reconciliation",
    }
    provider = ProviderFactory()
    assert _action_names(finance_client, PROVIDERS) == set()
    finance_client.post(
        PROVIDERS,
        {
            "action": "soft_delete_provider",
            "_selected_action": [provider.pk],
            "confirmed": "yes",
            "reason": "trying anyway",
        },
    )
    assert Provider.all_objects.using(MARKETPLACE_DB).get(pk=provider.pk).deleted_at is None
    assert not StaffActionAudit.objects.exists()


def test_support_sees_support_actions(support_client):
    assert _action_names(support_client, PROVIDERS) == {
        "soft_delete_provider",
        "restore_provider",
        "suspend_provider",
        "reinstate_provider",
    }


def test_superuser_sees_every_action(superuser_client, claimed):
    work_on(superuser_client, claimed[0])
    assert "confirm_manual_payment" in _action_names(superuser_client, INVOICES)
    assert "soft_delete_provider" in _action_names(superuser_client, PROVIDERS)


@pytest.mark.parametrize(
    "url",
    [
        INVOICES,
        PROVIDERS,
        reverse("backoffice:support"),
        reverse("backoffice:dashboard"),
        reverse("admin:auth_group_changelist"),
    ],
)
def test_staff_without_a_group_is_refused(bare_staff_client, url):
    assert bare_staff_client.get(url).status_code == 403


@pytest.mark.parametrize(
    "url",
    [
        reverse("admin:auth_group_changelist"),
        reverse("admin:tenant_app_invoice_add"),
        reverse("admin:marketplace_app_provider_add"),
    ],
)
def test_support_and_finance_cannot_grant_rights_or_add_rows(support_client, finance_client, url):
    assert support_client.get(url).status_code == 403
    assert finance_client.get(url).status_code == 403


@pytest.mark.parametrize("url", [INVOICES, reverse("backoffice:support"), reverse("backoffice:dashboard")])
def test_anonymous_and_non_staff_go_to_the_login_page(client, url):
    assert client.get(url).status_code == 302
    from tests.factories.tenant import UserFactory

    client.force_login(UserFactory())
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))


def test_migrate_creates_both_groups():
    """No fixture here: the groups come from the post_migrate hook of the test database's migrate."""
    assert set(Group.objects.filter(name__in=["support", "finance"]).values_list("name", flat=True)) == {
        "support",
        "finance",
    }
    assert ("backoffice", "payment_actions") in codenames("finance")
