"""A service provider's payment mode (stripe / manual / disabled), changed by the provider itself at
the version it read (marketplace database).

Marketplace invoice creation locks the provider row while it copies the mode into
`payment_mode_snapshot` (marketplace_app.services.invoices.marketplace_invoice_create); the change takes the
same lock, so an invoice gets either the old mode or the new one. Stripe mode is refused (409
`stripe_account_not_ready`) until the provider's connected account can take payments (the account
lives in the tenant database, a platform row); if Stripe disables it later, new invoices fall back
to manual (invoice creation reads it under the provider lock). Breeders' invoices follow their
tenant's mode: their provider row has no mode of its own to set (409 `breeder_uses_tenant_settings`).
Each change bumps the provider's `version` and writes a `marketplace_provider_payment_mode_audit` row.
"""

from __future__ import annotations

from django.db import transaction

from breederhq.databases import MARKETPLACE_DB
from breederhq.errors import Conflict, NotFound, ValidationFailed, VersionConflict
from marketplace_app.models import Provider, ProviderPaymentModeAudit

DB = MARKETPLACE_DB


def require_service_provider(provider: Provider) -> None:
    if provider.kind != Provider.Kind.SERVICE_PROVIDER:
        raise Conflict(
            "A breeder's payments follow its business (tenant): use /api/v1/tenants/me/payment-settings/ "
            "and /api/v1/tenants/me/stripe-account/.",
            code="breeder_uses_tenant_settings",
        )


def provider_payment_mode_set(*, provider_id: int, mode: str, expected_version: int, actor_id: int | None) -> Provider:
    """Change the provider's payment mode at `expected_version` (409 `version_conflict`); setting the
    mode it already has changes nothing."""
    from marketplace_app.services.providers import _save_provider
    from payments_app.onboarding import require_ready
    from payments_app.providers import connect_account_for

    if mode not in Provider.PaymentMode.values:
        raise ValidationFailed(
            "Unknown payment mode.", field_errors={"payment_mode": [f"not one of {Provider.PaymentMode.values}"]}
        )
    with transaction.atomic(using=DB):
        provider = Provider.objects.using(DB).select_for_update().filter(pk=provider_id).first()
        if provider is None:
            raise NotFound(f"Provider #{provider_id} does not exist")
        require_service_provider(provider)
        if expected_version != provider.version:
            raise VersionConflict(
                entity=f"Provider #{provider_id}", expected=expected_version, current=provider.version
            )
        old = provider.payment_mode
        if mode == old:
            return provider
        if mode == Provider.PaymentMode.STRIPE:
            require_ready(connect_account_for(provider_id=provider.pk), who=provider.business_name)
        provider.payment_mode = mode
        _save_provider(provider, ["payment_mode"])
        ProviderPaymentModeAudit.objects.using(DB).create(
            provider=provider, old_mode=old, new_mode=mode, version=provider.version, changed_by_id=actor_id
        )
    return provider
