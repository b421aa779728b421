"""The back office lists marketplace rows from the marketplace database and never edits money."""

import pytest
from django.urls import reverse

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from demo.data import load_marketplace_demo_data
from marketplace_app.models import MarketplaceInvoice, MarketplaceTransaction, Provider
from tenant_app.models import User
from tests.staff import staff_login

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])


@pytest.fixture
def staff_client(client):
    admin_user = User.objects.create_superuser(username="root@x.test", email="root@x.test", password="pw-123456789")
    return staff_login(client, admin_user)


@pytest.mark.parametrize(
    "model",
    [
        "marketplaceuser",
        "provider",
        "servicelisting",
        "marketplacetransaction",
        "marketplaceinvoice",
        "messagethread",
        "userblock",
    ],
)
def test_changelists_render(staff_client, model):
    load_marketplace_demo_data()
    response = staff_client.get(reverse(f"admin:marketplace_app_{model}_changelist"))
    assert response.status_code == 200


def test_financial_rows_are_read_only(staff_client):
    load_marketplace_demo_data()
    invoice = MarketplaceInvoice.objects.get()
    tx = MarketplaceTransaction.objects.get()
    assert (
        staff_client.get(reverse("admin:marketplace_app_marketplaceinvoice_change", args=[invoice.pk])).status_code
        == 200
    )
    response = staff_client.post(
        reverse("admin:marketplace_app_marketplacetransaction_change", args=[tx.pk]), {"status": "cancelled"}
    )
    assert response.status_code == 403
    tx.refresh_from_db()
    assert tx.status == "paid"


def test_soft_delete_action(staff_client):
    load_marketplace_demo_data()
    provider = Provider.objects.get()
    response = staff_client.post(
        reverse("admin:marketplace_app_provider_changelist"),
        {
            "action": "soft_delete_provider",
            "_selected_action": [provider.pk],
            "confirmed": "yes",
            "reason": "fraud report #7",
        },
    )
    assert response.status_code == 302
    assert Provider.all_objects.get(pk=provider.pk).deleted_at is not None


def test_listing_and_provider_change_pages_render(staff_client):
    from marketplace_app.models import ServiceListing

    load_marketplace_demo_data()
    listing = ServiceListing.objects.first()
    assert (
        staff_client.get(reverse("admin:marketplace_app_servicelisting_change", args=[listing.pk])).status_code == 200
    )
    assert (
        staff_client.get(reverse("admin:marketplace_app_provider_change", args=[listing.provider_id])).status_code
        == 200
    )


def test_a_staff_edit_of_a_provider_moves_its_version(staff_client):
    from tests.factories.marketplace import ProviderFactory

    provider = ProviderFactory(business_name="Old", description="", city="Austin", state="TX")
    url = reverse("admin:marketplace_app_provider_change", args=[provider.pk])
    response = staff_client.post(
        url,
        {
            "business_name": "Renamed",
            "description": "",
            "city": "Austin",
            "state": "TX",
            "country": "US",
            "currency": "USD",
            "payment_mode": "manual",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    stored = Provider.objects.get(pk=provider.pk)
    assert (stored.business_name, stored.version) == ("Renamed", 2)


def test_the_invoice_page_shows_its_timeline(staff_client):
    load_marketplace_demo_data()
    invoice = MarketplaceInvoice.objects.get()
    page = staff_client.get(reverse("admin:marketplace_app_marketplaceinvoice_change", args=[invoice.pk]))
    assert page.status_code == 200
    assert b"Timeline: changes" in page.content and b"Timeline: payment confirmations" in page.content
    shown = {
        formset.opts.model._meta.model_name: [obj for obj in formset.formset.get_queryset()]
        for formset in page.context["inline_admin_formsets"]
    }
    assert [row.action for row in shown["marketplaceinvoiceauditlog"]] == [
        "created",
        "sent",
        "buyer_marked_paid",
        "payment_confirmed",
    ]
    assert [row.event for row in shown["marketplacepaymentconfirmationaudit"]] == ["buyer_marked_paid", "confirmed"]


def test_resolving_an_invoice_that_agrees_with_stripe_is_refused_by_the_service(staff_client):
    from breederhq.backoffice.models import StaffActionAudit

    load_marketplace_demo_data()
    invoice = MarketplaceInvoice.objects.get()
    response = staff_client.post(
        reverse("admin:marketplace_app_marketplaceinvoice_changelist"),
        {
            "action": "resolve_marketplace_reconciliation",
            "_selected_action": [invoice.pk],
            "confirmed": "yes",
            "reason": "looked at it",
        },
    )
    assert response.status_code == 302
    assert MarketplaceInvoice.objects.get().reconciliation_status == "synced"
    result = StaffActionAudit.objects.get(action="resolve_marketplace_reconciliation").result
    assert result.startswith("refused:") and "no disagreement" in result
