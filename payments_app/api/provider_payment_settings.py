"""A service provider's payment settings and its Stripe Connect onboarding (the shared views of
payments_app/api/connect.py over payments_app/provider_payment_settings.py and payments_app/onboarding.py;
docs/api/payments-setup.md).

Only the provider itself (its marketplace user) reaches these; a breeder provider is answered 409
`breeder_uses_tenant_settings`: its payments follow its tenant (/api/v1/tenants/me/...)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view

from breederhq.api.schema import IDEMPOTENCY_KEY, READ_ERRORS, problems
from breederhq.api.versioning import IF_MATCH
from marketplace_app.api.views.common import _ProviderView
from payments_app import onboarding
from payments_app.api.connect import (
    ONBOARDING_ERRORS,
    ONBOARDING_START_DESCRIPTION,
    SETTINGS_ERRORS,
    ConnectAccountOut,
    OnboardingLinkOut,
    OwnerKind,
    PaymentSettingsOut,
    PaymentSettingsPatch,
    PaymentSettingsViewBase,
    StripeAccountSyncViewBase,
    StripeAccountViewBase,
    StripeOnboardingRefreshViewBase,
    StripeOnboardingViewBase,
)
from payments_app.provider_payment_settings import provider_payment_mode_set, require_service_provider

BREEDER_ERROR = "`breeder_uses_tenant_settings`: a breeder's payments follow its tenant"
PROVIDER_READ_ERRORS = {**READ_ERRORS, **problems(e409=BREEDER_ERROR)}


# The signed-in marketplace user's provider owns the settings; a breeder provider is refused.
class _ServiceProviderView(OwnerKind, _ProviderView):
    mode_field = "payment_mode"

    def service_provider(self, request):
        provider = self.provider(request)
        require_service_provider(provider)
        return provider

    def settings_holder(self, request):
        return self.service_provider(request)

    def holder_owner(self, holder) -> onboarding.ConnectOwner:
        return onboarding.ConnectOwner.provider(holder)

    def connect_owner(self, request) -> onboarding.ConnectOwner:
        return onboarding.ConnectOwner.provider(self.service_provider(request), email=request.user.email)

    def payment_mode_set(self, request, *, mode, expected_version):
        return provider_payment_mode_set(
            provider_id=self.provider(request).pk,
            mode=mode,
            expected_version=expected_version,
            actor_id=request.marketplace_user.pk,
        )


@extend_schema_view(
    get=extend_schema(
        operation_id="provider_payment_settings",
        tags=["payments"],
        responses={200: PaymentSettingsOut, **PROVIDER_READ_ERRORS},
        summary="Your payment mode (service providers) and your Stripe account's state",
    ),
    patch=extend_schema(
        operation_id="provider_payment_settings_update",
        tags=["payments"],
        request=PaymentSettingsPatch,
        parameters=[IF_MATCH, IDEMPOTENCY_KEY],
        responses={200: PaymentSettingsOut, **SETTINGS_ERRORS},
        summary="Change your payment mode at the version you last read",
        description="`stripe` needs a connected account that can take payments (409 "
        "`stripe_account_not_ready` until then); breeders get 409 "
        "`breeder_uses_tenant_settings`. The version is your provider profile's. Audited.",
    ),
)
class ProviderPaymentSettingsView(PaymentSettingsViewBase, _ServiceProviderView):
    pass


@extend_schema_view(
    get=extend_schema(
        operation_id="provider_stripe_account",
        tags=["payments"],
        responses={200: ConnectAccountOut, **PROVIDER_READ_ERRORS},
        summary="Onboarding state of your Stripe account (service providers)",
    )
)
class ProviderStripeAccountView(StripeAccountViewBase, _ServiceProviderView):
    pass


@extend_schema_view(
    post=extend_schema(
        operation_id="provider_stripe_onboarding_start",
        tags=["payments"],
        request=None,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: OnboardingLinkOut, 200: OnboardingLinkOut, **ONBOARDING_ERRORS},
        summary="Start Stripe onboarding: your account is made if needed; a hosted link",
        description=ONBOARDING_START_DESCRIPTION,
    )
)
class ProviderStripeOnboardingView(StripeOnboardingViewBase, _ServiceProviderView):
    pass


@extend_schema_view(
    post=extend_schema(
        operation_id="provider_stripe_onboarding_refresh",
        tags=["payments"],
        request=None,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: OnboardingLinkOut, **ONBOARDING_ERRORS},
        summary="A fresh onboarding link, when the last one expired or was used",
    )
)
class ProviderStripeOnboardingRefreshView(StripeOnboardingRefreshViewBase, _ServiceProviderView):
    pass


@extend_schema_view(
    post=extend_schema(
        operation_id="provider_stripe_account_sync",
        tags=["payments"],
        request=None,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: ConnectAccountOut, **ONBOARDING_ERRORS},
        summary="Re-read your account from Stripe now (after returning from onboarding)",
    )
)
class ProviderStripeAccountSyncView(StripeAccountSyncViewBase, _ServiceProviderView):
    pass
