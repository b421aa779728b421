"""The tenant's payment settings and its Stripe Connect onboarding (the shared views of
payments_app/api/connect.py over payments_app/tenant_payment_settings.py and payments_app/onboarding.py;
docs/api/payments-setup.md)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view

from breederhq.api.base import MANAGER_ROLES, READ_ROLES, TenantAPIView, refuse
from breederhq.api.schema import IDEMPOTENCY_KEY, READ_ERRORS
from breederhq.api.versioning import IF_MATCH
from breederhq.errors import PermissionDenied
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
from payments_app.tenant_payment_settings import tenant_payment_mode_set
from tenant_app.models import Tenant

OWNER_ONLY = frozenset({"owner"})


# The request's tenant (X-Tenant-ID) owns the settings.
class _TenantKind(OwnerKind, TenantAPIView):
    mode_field = "marketplace_payment_mode"
    resource_type = "stripe_account"

    def settings_holder(self, request):
        return Tenant.objects.get(pk=request.tenant_id)

    def holder_owner(self, holder) -> onboarding.ConnectOwner:
        return onboarding.ConnectOwner.tenant(holder)

    def payment_mode_set(self, request, *, mode, expected_version):
        try:
            return tenant_payment_mode_set(actor=request.user, mode=mode, expected_version=expected_version)
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


@extend_schema_view(
    get=extend_schema(
        operation_id="tenant_payment_settings",
        tags=["payments"],
        responses={200: PaymentSettingsOut, **READ_ERRORS},
        summary="The tenant's marketplace payment mode and its Stripe account's state",
    ),
    patch=extend_schema(
        operation_id="tenant_payment_settings_update",
        tags=["payments"],
        request=PaymentSettingsPatch,
        parameters=[IF_MATCH, IDEMPOTENCY_KEY],
        responses={200: PaymentSettingsOut, **SETTINGS_ERRORS},
        summary="Change the payment mode (owners and admins), at the version you last read",
        description="`stripe` needs a connected account that can take payments (409 "
        "`stripe_account_not_ready` until then). Invoices keep the mode they were created "
        "in. The version is the tenant's (the same as GET /tenants/me/). Audited.",
    ),
)
class TenantPaymentSettingsView(PaymentSettingsViewBase, _TenantKind):
    resource_type = "payment_settings"
    read_roles = READ_ROLES
    write_roles = MANAGER_ROLES


@extend_schema_view(
    get=extend_schema(
        operation_id="tenant_stripe_account",
        tags=["payments"],
        responses={200: ConnectAccountOut, **READ_ERRORS},
        summary="Onboarding state of the tenant's Stripe account (owners and admins)",
        description="`status` is `not_started` before onboarding. Kept current from Stripe's `account.updated` events.",
    )
)
class TenantStripeAccountView(StripeAccountViewBase, _TenantKind):
    read_roles = MANAGER_ROLES


@extend_schema_view(
    post=extend_schema(
        operation_id="tenant_stripe_onboarding_start",
        tags=["payments"],
        request=None,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: OnboardingLinkOut, 200: OnboardingLinkOut, **ONBOARDING_ERRORS},
        summary="Start Stripe onboarding (owners): the account is made if needed; a hosted link",
        description=ONBOARDING_START_DESCRIPTION,
    )
)
class TenantStripeOnboardingView(StripeOnboardingViewBase, _TenantKind):
    write_roles = OWNER_ONLY


@extend_schema_view(
    post=extend_schema(
        operation_id="tenant_stripe_onboarding_refresh",
        tags=["payments"],
        request=None,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: OnboardingLinkOut, **ONBOARDING_ERRORS},
        summary="A fresh onboarding link (owners), when the last one expired or was used",
    )
)
class TenantStripeOnboardingRefreshView(StripeOnboardingRefreshViewBase, _TenantKind):
    write_roles = OWNER_ONLY


@extend_schema_view(
    post=extend_schema(
        operation_id="tenant_stripe_account_sync",
        tags=["payments"],
        request=None,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: ConnectAccountOut, **ONBOARDING_ERRORS},
        summary="Re-read the account from Stripe now (after returning from onboarding)",
    )
)
class TenantStripeAccountSyncView(StripeAccountSyncViewBase, _TenantKind):
    write_roles = MANAGER_ROLES


__all__ = [
    "TenantPaymentSettingsView",
    "TenantStripeAccountSyncView",
    "TenantStripeAccountView",
    "TenantStripeOnboardingRefreshView",
    "TenantStripeOnboardingView",
]
