"""Shapes, responses and views shared by the tenant and provider endpoints of Connect onboarding and
payment settings (payments_app/api/tenant_payment_settings.py, payments_app/api/provider_payment_settings.py).

The views are written once here; each owner kind supplies the `OwnerKind` hooks (whose settings a request
names, how its mode is changed) and documents its endpoints in its own module."""

from __future__ import annotations

from rest_framework import serializers, status
from rest_framework.response import Response

from breederhq.api.params import validated
from breederhq.api.schema import WRITE_ERRORS, problems
from breederhq.api.versioning import expected_version_from_request, version_etag
from payments_app import onboarding
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
ONBOARDING_START_DESCRIPTION = (
    "201 when this request made the Stripe (Express) account, 200 when it existed. "
    "Simultaneous requests make one account. Open `url` at once: it expires."
)
SETTINGS_ERRORS = {
    **WRITE_ERRORS,
    **problems(
        e409="`stripe_account_not_ready` (Stripe mode needs a connected account that can take payments: finish "
        "onboarding; `account_status` says where it is), `version_conflict` (`current_version`), or an "
        "Idempotency-Key in flight"
    ),
}


# What an owner kind (tenant, service provider) tells the views below. (Comments, not docstrings, on these
# classes: the API schema would take a class docstring for the endpoints' description.)
class OwnerKind:
    #: The holder's field with its payment mode.
    mode_field: str

    def settings_holder(self, request):
        """The tenant or provider whose payment settings the request names (its `version` is theirs)."""
        raise NotImplementedError

    def holder_owner(self, holder) -> onboarding.ConnectOwner:
        raise NotImplementedError

    def connect_owner(self, request) -> onboarding.ConnectOwner:
        """Whose connected account onboarding works on."""
        return self.holder_owner(self.settings_holder(request))

    def payment_mode_set(self, request, *, mode: str, expected_version: int | None):
        """Change the mode through the owner kind's service; returns the holder as saved."""
        raise NotImplementedError


class PaymentSettingsViewBase(OwnerKind):
    serializer_class = PaymentSettingsOut  # also what OPTIONS describes

    def get(self, request):
        return self.settings_answer(self.settings_holder(request))

    def patch(self, request):
        data = validated(PaymentSettingsPatch, request.data)
        version = expected_version_from_request(request, data.get("version"))
        return self.settings_answer(self.payment_mode_set(request, mode=data["payment_mode"], expected_version=version))

    def settings_answer(self, holder) -> Response:
        account = onboarding.connect_account_of(self.holder_owner(holder))
        return settings_response(mode=getattr(holder, self.mode_field), version=holder.version, account=account)


class StripeAccountViewBase(OwnerKind):
    serializer_class = ConnectAccountOut  # also what OPTIONS describes

    def get(self, request):
        return state_response(onboarding.connect_account_of(self.connect_owner(request)))


class StripeOnboardingViewBase(OwnerKind):
    serializer_class = OnboardingLinkOut  # also what OPTIONS describes

    def post(self, request):
        link, created = onboarding.onboarding_start(self.connect_owner(request))
        return link_response(link, created=created)


class StripeOnboardingRefreshViewBase(OwnerKind):
    serializer_class = OnboardingLinkOut  # also what OPTIONS describes

    def post(self, request):
        return link_response(onboarding.onboarding_refresh(self.connect_owner(request)))


class StripeAccountSyncViewBase(OwnerKind):
    serializer_class = ConnectAccountOut  # also what OPTIONS describes

    def post(self, request):
        return state_response(onboarding.connect_account_sync(self.connect_owner(request)))
