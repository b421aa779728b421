"""A service provider's payment settings and its Stripe Connect onboarding (thin views over
payments_app/provider_payment_settings.py and payments_app/onboarding.py; docs/api/payments-setup.md).

Only the provider itself (its marketplace user) reaches these; a breeder provider is answered 409
`breeder_uses_tenant_settings`: its payments follow its tenant (/api/v1/tenants/me/...)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema

from breederhq.api.schema import IDEMPOTENCY_KEY, READ_ERRORS, problems
from breederhq.api.versioning import IF_MATCH, expected_version_from_request
from marketplace_app.api.views.common import _ProviderView
from payments_app import onboarding
from payments_app.api.connect import (
    ONBOARDING_ERRORS,
    SETTINGS_ERRORS,
    ConnectAccountOut,
    OnboardingLinkOut,
    PaymentSettingsOut,
    PaymentSettingsPatch,
    link_response,
    settings_response,
    state_response,
)
from payments_app.provider_payment_settings import provider_payment_mode_set, require_service_provider

BREEDER_ERROR = "`breeder_uses_tenant_settings`: a breeder's payments follow its tenant"
PROVIDER_READ_ERRORS = {**READ_ERRORS, **problems(e409=BREEDER_ERROR)}


class _ServiceProviderView(_ProviderView):
    def service_provider(self, request):
        provider = self.provider(request)
        require_service_provider(provider)
        return provider

    def owner(self, request) -> onboarding.ConnectOwner:
        return onboarding.ConnectOwner.provider(self.service_provider(request), email=request.user.email)


class ProviderPaymentSettingsView(_ServiceProviderView):
    serializer_class = PaymentSettingsOut  # also what OPTIONS describes

    @extend_schema(
        operation_id="provider_payment_settings",
        tags=["payments"],
        responses={200: PaymentSettingsOut, **PROVIDER_READ_ERRORS},
        summary="Your payment mode (service providers) and your Stripe account's state",
    )
    def get(self, request):
        provider = self.service_provider(request)
        account = onboarding.connect_account_of(onboarding.ConnectOwner.provider(provider))
        return settings_response(mode=provider.payment_mode, version=provider.version, account=account)

    @extend_schema(
        operation_id="provider_payment_settings_update",
        tags=["payments"],
        request=PaymentSettingsPatch,
        parameters=[IF_MATCH, IDEMPOTENCY_KEY],
        responses={200: PaymentSettingsOut, **SETTINGS_ERRORS},
        summary="Change your payment mode at the version you last read",
        description="`stripe` needs a connected account that can take payments (409 "
        "`stripe_account_not_ready` until then); breeders get 409 "
        "`breeder_uses_tenant_settings`. The version is your provider profile's. Audited.",
    )
    def patch(self, request):
        serializer = PaymentSettingsPatch(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        version = expected_version_from_request(request, data.get("version"))
        provider = provider_payment_mode_set(
            provider_id=self.provider(request).pk,
            mode=data["payment_mode"],
            expected_version=version,
            actor_id=request.marketplace_user.pk,
        )
        account = onboarding.connect_account_of(onboarding.ConnectOwner.provider(provider))
        return settings_response(mode=provider.payment_mode, version=provider.version, account=account)


class ProviderStripeAccountView(_ServiceProviderView):
    serializer_class = ConnectAccountOut  # also what OPTIONS describes

    @extend_schema(
        operation_id="provider_stripe_account",
        tags=["payments"],
        responses={200: ConnectAccountOut, **PROVIDER_READ_ERRORS},
        summary="Onboarding state of your Stripe account (service providers)",
    )
    def get(self, request):
        return state_response(onboarding.connect_account_of(self.owner(request)))


class ProviderStripeOnboardingView(_ServiceProviderView):
    serializer_class = OnboardingLinkOut  # also what OPTIONS describes

    @extend_schema(
        operation_id="provider_stripe_onboarding_start",
        tags=["payments"],
        request=None,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: OnboardingLinkOut, 200: OnboardingLinkOut, **ONBOARDING_ERRORS},
        summary="Start Stripe onboarding: your account is made if needed; a hosted link",
        description="201 when this request made the Stripe (Express) account, 200 when it existed. "
        "Simultaneous requests make one account. Open `url` at once: it expires.",
    )
    def post(self, request):
        link, created = onboarding.onboarding_start(self.owner(request))
        return link_response(link, created=created)


class ProviderStripeOnboardingRefreshView(_ServiceProviderView):
    serializer_class = OnboardingLinkOut  # also what OPTIONS describes

    @extend_schema(
        operation_id="provider_stripe_onboarding_refresh",
        tags=["payments"],
        request=None,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: OnboardingLinkOut, **ONBOARDING_ERRORS},
        summary="A fresh onboarding link, when the last one expired or was used",
    )
    def post(self, request):
        return link_response(onboarding.onboarding_refresh(self.owner(request)))


class ProviderStripeAccountSyncView(_ServiceProviderView):
    serializer_class = ConnectAccountOut  # also what OPTIONS describes

    @extend_schema(
        operation_id="provider_stripe_account_sync",
        tags=["payments"],
        request=None,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: ConnectAccountOut, **ONBOARDING_ERRORS},
        summary="Re-read your account from Stripe now (after returning from onboarding)",
    )
    def post(self, request):
        return state_response(onboarding.connect_account_sync(self.owner(request)))
