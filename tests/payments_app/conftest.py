"""Helpers for the payment tests. The shared Stripe fixtures (fake_stripe, stripe_tenant) are in
tests/fixtures/stripe.py, registered for the whole suite in tests/conftest.py."""

import pytest

WEBHOOK_SECRET = "whsec_test_secret_for_breederhq"


@pytest.fixture
def webhook_secret(settings):
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    return WEBHOOK_SECRET


# --- Invoices collected through Stripe -----------------------------------------------------------

from dataclasses import dataclass  # noqa: E402

from breederhq.tenancy import tenant_context  # noqa: E402
from payments_app.models import StripeConnectAccount, StripeWebhookEvent  # noqa: E402
from tests.fakes.stripe_server import signed_delivery  # noqa: E402


@dataclass
class StripeTenant:
    tenant: object
    account: StripeConnectAccount
    contact: object


def connect_account(
    *, tenant=None, provider=None, status="enabled", allow_manual_fallback=True, stripe_account_id=None
):
    from breederhq.tenancy import owner_context

    enabled = status == "enabled"
    with owner_context(tenant.pk if tenant else None):  # the owner's row (row-level security)
        return _create_account(
            tenant=tenant,
            provider=provider,
            status=status,
            enabled=enabled,
            allow_manual_fallback=allow_manual_fallback,
            stripe_account_id=stripe_account_id,
        )


def _create_account(*, tenant, provider, status, enabled, allow_manual_fallback, stripe_account_id):
    return StripeConnectAccount.objects.create(
        stripe_account_id=stripe_account_id or f"acct_{'t' if tenant else 'p'}{(tenant or provider).pk}",
        owner_type="tenant" if tenant else "provider",
        owner_tenant=tenant,
        provider_id=provider.pk if provider else None,
        status=status,
        charges_enabled=enabled,
        payouts_enabled=enabled,
        details_submitted=True,
        allow_manual_fallback=allow_manual_fallback,
    )


def sent_tenant_invoice(st: StripeTenant, *, amount=25_000, **kwargs):
    from tenant_app import services as tenant_services
    from tests.factories.tenant import make_invoice

    with tenant_context(st.tenant.pk):
        invoice = make_invoice(contact=st.contact, amounts=(amount,), **kwargs)
        return tenant_services.invoice_send(invoice_id=invoice.pk)


def deliver_and_process(client, event, secret=WEBHOOK_SECRET):
    """Stripe POSTs the event (real signature); a worker processes it. Returns the inbox row."""
    from payments_app import services

    body, header = signed_delivery(event, secret)
    response = client.post(
        "/api/v1/payments/stripe/webhook", body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )
    assert response.status_code == 200
    pk = StripeWebhookEvent.objects.get(stripe_event_id=event["id"]).pk
    return services.stripe_event_process(event_pk=pk)


# --- The payment tables under row-level security, seen by a test ------------------------------------

from django.db.models import QuerySet  # noqa: E402

from breederhq.tenancy import owner_context, system_read_context  # noqa: E402


class _EveryOwnerQuerySet(QuerySet):
    """A test's look at every row of a table keyed by `owner_tenant_id`, whoever owns it: reads go
    through the audited system read (as the sweeps and the webhook worker do), an `update()` is
    written row owner by row owner in that owner's context. Nothing bypasses the policy."""

    def _fetch_all(self):
        if self._result_cache is None:
            with system_read_context(job="tests"):
                super()._fetch_all()

    def count(self):
        with system_read_context(job="tests"):
            return super().count()

    def exists(self):
        with system_read_context(job="tests"):
            return super().exists()

    def update(self, **fields):
        owners = set(self.values_list("owner_tenant_id", flat=True))
        updated = 0
        for owner in owners:
            with owner_context(owner):
                updated += QuerySet.update(self.filter(owner_tenant_id=owner), **fields)
        return updated


def every_row(model) -> QuerySet:
    """`model.objects.all()` across owners for assertions (see _EveryOwnerQuerySet)."""
    rows = model.objects.all()
    rows.__class__ = _EveryOwnerQuerySet
    return rows


def owner_save(obj) -> None:
    """Save a payment-table row in its owner's context."""
    with owner_context(obj.owner_tenant_id):
        obj.save()


def owner_refresh(obj) -> None:
    """Reload a payment-table row in its owner's context."""
    with owner_context(obj.owner_tenant_id):
        obj.refresh_from_db()
