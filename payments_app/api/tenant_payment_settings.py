"""The tenant's payment settings and its Stripe Connect onboarding (thin views over
payments_app/tenant_payment_settings.py and payments_app/onboarding.py; docs/api/payments-setup.md)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema

from breederhq.api.base import MANAGER_ROLES, READ_ROLES, TenantAPIView, refuse
from breederhq.api.schema import IDEMPOTENCY_KEY, READ_ERRORS
from breederhq.api.versioning import IF_MATCH, expected_version_from_request
from breederhq.errors import PermissionDenied
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
from payments_app.tenant_payment_settings import tenant_payment_mode_set
from tenant_app.models import Tenant

OWNER_ONLY = frozenset({"owner"})


def _owner(request) -> onboarding.ConnectOwner:
    return onboarding.ConnectOwner.tenant(Tenant.objects.get(pk=request.tenant_id))


class TenantPaymentSettingsView(TenantAPIView):
    serializer_class = PaymentSettingsOut  # also what OPTIONS describes
    resource_type = "payment_settings"
    read_roles = READ_ROLES
    write_roles = MANAGER_ROLES

    @extend_schema(
        operation_id="tenant_payment_settings",
        tags=["payments"],
        responses={200: PaymentSettingsOut, **READ_ERRORS},
        summary="The tenant's marketplace payment mode and its Stripe account's state",
    )
    def get(self, request):
        tenant = Tenant.objects.get(pk=request.tenant_id)
        account = onboarding.connect_account_of(onboarding.ConnectOwner.tenant(tenant))
        return settings_response(mode=tenant.marketplace_payment_mode, version=tenant.version, account=account)

    @extend_schema(
        operation_id="tenant_payment_settings_update",
        tags=["payments"],
        request=PaymentSettingsPatch,
        parameters=[IF_MATCH, IDEMPOTENCY_KEY],
        responses={200: PaymentSettingsOut, **SETTINGS_ERRORS},
        summary="Change the payment mode (owners and admins), at the version you last read",
        description="`stripe` needs a connected account that can take payments (409 "
        "`stripe_account_not_ready` until then). Invoices keep the mode they were created "
        "in. The version is the tenant's (the same as GET /tenants/me/). Audited.",
    )
    def patch(self, request):
        serializer = PaymentSettingsPatch(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        version = expected_version_from_request(request, data.get("version"))
        try:
            tenant = tenant_payment_mode_set(actor=request.user, mode=data["payment_mode"], expected_version=version)
        except PermissionDenied as exc:
            refuse(
                request,
                resource_type=self.resource_type,
                resource_id=request.tenant_id,
                action="update",
                reason=exc.detail,
                code=exc.code,
                detail=exc.detail,
            )
        account = onboarding.connect_account_of(onboarding.ConnectOwner.tenant(tenant))
        return settings_response(mode=tenant.marketplace_payment_mode, version=tenant.version, account=account)


class TenantStripeAccountView(TenantAPIView):
    serializer_class = ConnectAccountOut  # also what OPTIONS describes
    resource_type = "stripe_account"
    read_roles = MANAGER_ROLES

    @extend_schema(
        operation_id="tenant_stripe_account",
        tags=["payments"],
        responses={200: ConnectAccountOut, **READ_ERRORS},
        summary="Onboarding state of the tenant's Stripe account (owners and admins)",
        description="`status` is `not_started` before onboarding. Kept current from Stripe's `account.updated` events.",
    )
    def get(self, request):
        return state_response(onboarding.connect_account_of(_owner(request)))


class TenantStripeOnboardingView(TenantAPIView):
    serializer_class = OnboardingLinkOut  # also what OPTIONS describes
    resource_type = "stripe_account"
    write_roles = OWNER_ONLY

    @extend_schema(
        operation_id="tenant_stripe_onboarding_start",
        tags=["payments"],
        request=None,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: OnboardingLinkOut, 200: OnboardingLinkOut, **ONBOARDING_ERRORS},
        summary="Start Stripe onboarding (owners): the account is made if needed; a hosted link",
        description="201 when this request made the Stripe (Express) account, 200 when it existed. "
        "Simultaneous requests make one account. Open `url` at once: it expires.",
    )
    def post(self, request):
        link, created = onboarding.onboarding_start(_owner(request))
        return link_response(link, created=created)


class TenantStripeOnboardingRefreshView(TenantAPIView):
    serializer_class = OnboardingLinkOut  # also what OPTIONS describes
    resource_type = "stripe_account"
    write_roles = OWNER_ONLY

    @extend_schema(
        operation_id="tenant_stripe_onboarding_refresh",
        tags=["payments"],
        request=None,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: OnboardingLinkOut, **ONBOARDING_ERRORS},
        summary="A fresh onboarding link (owners), when the last one expired or was used",
    )
    def post(self, request):
        return link_response(onboarding.onboarding_refresh(_owner(request)))


class TenantStripeAccountSyncView(TenantAPIView):
    serializer_class = ConnectAccountOut  # also what OPTIONS describes
    resource_type = "stripe_account"
    write_roles = MANAGER_ROLES

    @extend_schema(
        operation_id="tenant_stripe_account_sync",
        tags=["payments"],
        request=None,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: ConnectAccountOut, **ONBOARDING_ERRORS},
        summary="Re-read the account from Stripe now (after returning from onboarding)",
    )
    def post(self, request):
        return state_response(onboarding.connect_account_sync(_owner(request)))


__all__ = [
    "TenantPaymentSettingsView",
    "TenantStripeAccountSyncView",
    "TenantStripeAccountView",
    "TenantStripeOnboardingRefreshView",
    "TenantStripeOnboardingView",
]
