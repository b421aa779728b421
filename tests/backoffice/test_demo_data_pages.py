"""`load_demo_data` (what `make run` loads) leaves at least one real row on every admin change list
of both databases, so a newcomer sees every page working. Tenant pages are read while working on
the demo tenant, Sunny Kennels."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.tenancy import system_read_context, tenant_context
from demo.data import load_demo_data
from tenant_app.models import Tenant
from tests.backoffice.conftest import work_on

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])

#: Models that cannot have a demo row, each with the reason. Keep it short.
NO_DEMO_ROWS: dict[str, str] = {
    "django_celery_beat.ClockedSchedule": "no job runs once at a fixed time (config/beat_schedule.py)",
    "django_celery_beat.SolarSchedule": "no job follows sunrise or sunset (config/beat_schedule.py)",
}

MODELS = sorted(admin.site._registry, key=lambda m: m._meta.label)


def _changelist(client, model, query: str = ""):
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist") + query
    response = client.get(url)
    assert response.status_code == 200, url
    return response.context["cl"]


def _row_counts() -> dict[str, int]:
    from breederhq.backoffice.models import StaffActionAudit
    from breederhq.models import AuthorizationAudit, IdempotencyKey, OutboundEmail, OutboxMessage
    from marketplace_app.models import MarketplaceTransaction, UserBlock
    from payments_app.models import InvoicePayment, ReconciliationRun, StripeWebhookEvent
    from tenant_app.models import Invoice

    counts = {
        model.__name__: model._base_manager.count()
        for model in (StaffActionAudit, MarketplaceTransaction, UserBlock, ReconciliationRun, StripeWebhookEvent)
    }
    with system_read_context(job="tests"):  # every owner's payment rows (row-level security)
        counts["InvoicePayment"] = InvoicePayment._base_manager.count()
    for alias in (TENANT_DB, MARKETPLACE_DB):
        for model in (AuthorizationAudit, IdempotencyKey, OutboundEmail, OutboxMessage):
            counts[f"{model.__name__} {alias}"] = model.objects.using(alias).count()
    with tenant_context(Tenant.objects.get(slug="sunny-kennels").pk):
        counts["Invoice"] = Invoice.objects.count()
    return counts


@pytest.fixture
def demo_admin(superuser_client):
    load_demo_data()
    first = _row_counts()
    load_demo_data()  # idempotent: a second run adds nothing and fails on nothing
    assert _row_counts() == first
    work_on(superuser_client, Tenant.objects.get(slug="sunny-kennels"))
    return superuser_client


def test_every_change_list_shows_demo_rows(demo_admin):
    empty = [
        model._meta.label
        for model in MODELS
        if model._meta.label not in NO_DEMO_ROWS and _changelist(demo_admin, model).result_count < 1
    ]
    assert empty == [], " ".join(empty)


#: (model, change list filter, rows): the rows the back office is for.
EXPECTED = [
    ("payments_app.StripeWebhookEvent", "?status__exact=dead", 1),  # dead-lettered: support can retry it
    ("payments_app.StripeWebhookEvent", "?status__exact=succeeded", 4),
    ("payments_app.StripeWebhookEvent", "?status__exact=ignored", 1),
    ("payments_app.InvoicePayment", "?reconciliation_status__exact=mismatch", 1),
    ("payments_app.ConnectMoneyMovement", "?kind__exact=payout", 1),
    ("tenant_app.Invoice", "?status__exact=pending_confirmation", 1),  # the manual payment to confirm
    ("tenant_app.Invoice", "?reconciliation_status__exact=mismatch", 1),
    ("breederhq.TenantDbOutboxMessage", "?stuck=yes", 1),
    ("breederhq.TenantDbOutboxMessage", "?status__exact=applied", 1),
    ("breederhq.MarketplaceDbOutboxMessage", "?status__exact=applied", 1),
    ("breederhq.TenantDbAppliedMessage", "", 1),
    ("breederhq.MarketplaceDbAppliedMessage", "", 1),
    ("breederhq.MarketplaceDbOutboundEmail", "?status__exact=failed", 1),
    # With the payment's two receipts, a hidden listing's email, a provider's suspension and reinstatement.
    ("breederhq.MarketplaceDbOutboundEmail", "?status__exact=queued", 11),
    ("marketplace_app.UserBlock", "", 1),
    ("backoffice.StaffActionAudit", "?action__exact=unblock_user", 1),
    ("token_blacklist.BlacklistedToken", "", 1),
]


def test_the_rows_the_back_office_is_for(demo_admin):
    from django.apps import apps

    found = [
        (label, query, _changelist(demo_admin, apps.get_model(label), query).result_count)
        for label, query, _ in EXPECTED
    ]
    assert found == EXPECTED


def test_the_demo_dispute_and_reconciliation_mismatch():
    from payments_app.models import InvoicePayment, ReconciliationItem

    load_demo_data()
    with tenant_context(Tenant.objects.get(slug="sunny-kennels").pk):  # the tenant's row (row-level security)
        payment = InvoicePayment.objects.get(stripe_payment_intent_id="pi_demo_card")
    assert (payment.dispute_id, payment.dispute_status, payment.reconciliation_status) == (
        "dp_demo_1",
        "needs_response",
        "mismatch",
    )
    item = ReconciliationItem.objects.get()
    assert (item.status, item.invoice_id, item.stripe_object_id) == ("mismatch", payment.invoice_id, "pi_demo_card")


def test_the_allow_list_names_registered_models_only():
    assert set(NO_DEMO_ROWS) <= {m._meta.label for m in MODELS}
