"""Shapes and responses shared by the tenant and provider endpoints of Connect onboarding and payment
settings (payments_app/api/tenant_payment_settings.py, payments_app/api/provider_payment_settings.py)."""

from __future__ import annotations

from rest_framework import serializers, status
from rest_framework.response import Response

from breederhq.api.schema import WRITE_ERRORS, problems
from breederhq.api.versioning import version_etag
from payments_app.models import StripeConnectAccount
from payments_app.onboarding import NOT_STARTED, OnboardingLink, onboarding_state
from tenant_app.api.serializers import StrictSerializer
from tenant_app.models import PaymentMode

ACCOUNT_STATUSES = [(NOT_STARTED, "No account yet"), *StripeConnectAccount.Status.choices]


class ConnectAccountOut(serializers.Serializer):
    stripe_account_id = serializers.CharField(allow_null=True, help_text="acct_...; null before onboarding starts.")
    account_type = serializers.CharField(allow_null=True, help_text='"express" for accounts made through the API.')
    status = serializers.ChoiceField(choices=ACCOUNT_STATUSES)
    ready = serializers.BooleanField(
        help_text="Whether Stripe payment mode may be chosen (charges and payouts enabled, not disabled)."
    )
    charges_enabled = serializers.BooleanField()
    payouts_enabled = serializers.BooleanField()
    details_submitted = serializers.BooleanField()
    requirements_currently_due = serializers.ListField(
        child=serializers.CharField(), help_text="What Stripe needs now (field names)."
    )
    requirements_past_due = serializers.ListField(
        child=serializers.CharField(), help_text="What is overdue: the account is restricted until given."
    )
    requirements_current_deadline = serializers.DateTimeField(allow_null=True)
    disabled_reason = serializers.CharField(allow_blank=True, help_text="Stripe's reason, e.g. requirements.past_due.")
    updated_at = serializers.DateTimeField(allow_null=True)


class OnboardingLinkOut(serializers.Serializer):
    object = serializers.CharField(default="onboarding_link")
    url = serializers.URLField(help_text="Stripe's hosted onboarding: send the account holder there at once.")
    expires_at = serializers.DateTimeField(help_text="The link works once and until then (minutes).")
    created = serializers.DateTimeField()
    stripe_account = ConnectAccountOut()


class PaymentSettingsOut(serializers.Serializer):
    payment_mode = serializers.ChoiceField(choices=PaymentMode.choices)
    version = serializers.IntegerField(help_text="Send it back (or its ETag as If-Match) with a change.")
    stripe_account = ConnectAccountOut()


class PaymentSettingsPatch(StrictSerializer):
    payment_mode = serializers.ChoiceField(choices=PaymentMode.choices)
    version = serializers.IntegerField(
        min_value=1, max_value=2**31 - 1, required=False, help_text="The version you read, or send it as If-Match."
    )


def state_response(account: StripeConnectAccount | None) -> Response:
    return Response(ConnectAccountOut(onboarding_state(account)).data)


def link_response(link: OnboardingLink, *, created: bool = False) -> Response:
    data = OnboardingLinkOut(
        {
            "object": "onboarding_link",
            "url": link.url,
            "expires_at": link.expires_at,
            "created": link.created,
            "stripe_account": onboarding_state(link.account),
        }
    ).data
    return Response(data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


def settings_response(*, mode: str, version: int, account: StripeConnectAccount | None) -> Response:
    data = PaymentSettingsOut(
        {"payment_mode": mode, "version": version, "stripe_account": onboarding_state(account)}
    ).data
    return Response(data, headers={"ETag": version_etag(version)})


STRIPE_ERRORS = problems(
    e409="`stripe_refused` (Stripe turned the request down: see `detail`), `stripe_account_missing` (start "
    "onboarding first), or an Idempotency-Key in flight",
    e503="`stripe_unavailable`: Stripe cannot be reached; nothing was changed, retry later",
)
ONBOARDING_ERRORS = {**WRITE_ERRORS, **STRIPE_ERRORS}
SETTINGS_ERRORS = {
    **WRITE_ERRORS,
    **problems(
        e409="`stripe_account_not_ready` (Stripe mode needs a connected account that can take payments: finish "
        "onboarding; `account_status` says where it is), `version_conflict` (`current_version`), or an "
        "Idempotency-Key in flight"
    ),
}
