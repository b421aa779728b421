"""Account endpoints under /api/v1/auth/: sign-up, email verification, password reset and change,
account deletion. Thin views over tenant_app/accounts.py; described in docs/api/accounts.md.

Every request that makes the platform send an email (sign-up, resend, reset) is throttled per client IP
and per target address (`AccountEmailThrottle`), and the anonymous ones answer the same whether or not
the address has an account.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from breederhq.api.auth import TokenPairResponse, token_pair_for
from breederhq.api.idempotency import IdempotentAPIView
from breederhq.api.limits import check_body_size
from breederhq.api.params import validated
from breederhq.api.schema import IDEMPOTENCY_KEY, problems
from breederhq.api.throttling import AccountEmailThrottle, AuthIPThrottle
from tenant_app import accounts
from tenant_app.api.serializers import StrictSerializer

PASSWORD_MAX = 128
TOKEN_MAX = 128


def _ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def _local_part_fits(value: str) -> None:
    if len(value.rpartition("@")[0]) > 64:  # RFC 5321: a mailbox's local part is at most 64 octets
        raise serializers.ValidationError("The part before @ may be at most 64 characters.")


def _email():
    return serializers.EmailField(max_length=254, validators=[_local_part_fits])


def _password(**kwargs):
    return serializers.CharField(
        max_length=PASSWORD_MAX, trim_whitespace=False, style={"input_type": "password"}, **kwargs
    )


class SignUpIn(StrictSerializer):
    email = _email()
    password = _password(help_text="Checked against the password rules (length, common passwords, similarity).")
    first_name = serializers.CharField(max_length=150, required=False, default="", allow_blank=True)
    last_name = serializers.CharField(max_length=150, required=False, default="", allow_blank=True)


class EmailIn(StrictSerializer):
    email = _email()


class TokenIn(StrictSerializer):
    token = serializers.CharField(max_length=TOKEN_MAX, help_text="The code from the email (also in its link).")


class ResetConfirmIn(TokenIn):
    new_password = _password()


class PasswordChangeIn(StrictSerializer):
    current_password = _password()
    new_password = _password()


class PasswordIn(StrictSerializer):
    password = _password(help_text="The current password: deleting an account needs it.")


class AcceptedOut(serializers.Serializer):
    detail = serializers.CharField()


class VerifiedOut(serializers.Serializer):
    email = serializers.EmailField()
    email_verified_at = serializers.DateTimeField()


SIGN_UP_ACCEPTED = (
    "If {email} can be used, we have sent it an email: follow its link to confirm the address, then sign in."
)
RESET_ACCEPTED = "If an account uses {email}, we have sent it a link to choose a new password."


class _AnonymousView(APIView):
    """No sign-in: the body is all there is. The size check comes before the throttles read the body."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [AuthIPThrottle]

    def initial(self, request, *args, **kwargs):
        check_body_size(request)
        super().initial(request, *args, **kwargs)


class SignUpView(IdempotentAPIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [AuthIPThrottle, AccountEmailThrottle]

    def initial(self, request, *args, **kwargs):
        check_body_size(request)
        super().initial(request, *args, **kwargs)

    @extend_schema(
        operation_id="auth_sign_up",
        tags=["accounts"],
        request=SignUpIn,
        parameters=[IDEMPOTENCY_KEY],
        responses={
            202: AcceptedOut,
            **problems(
                e400="Invalid input (field errors in `errors`); `password_too_weak` with the rules broken",
                e413="Request body over the limit",
                e415="Not JSON",
                e422="Idempotency-Key reused with another body",
                e429="Throttled (per client IP, and per address)",
            ),
        },
        summary="Sign up: an unverified account and an emailed confirmation link",
        description="The answer is the same whether or not the address already has an account (its owner "
        "is emailed instead). The new account can sign in at once, but cannot buy, sell or invite "
        "until the address is confirmed (POST /api/v1/auth/verify-email/).",
    )
    def post(self, request):
        data = validated(SignUpIn, request.data)
        accounts.account_sign_up(
            email=data["email"],
            password=data["password"],
            first_name=data["first_name"],
            last_name=data["last_name"],
            ip=_ip(request),
        )
        return Response({"detail": SIGN_UP_ACCEPTED.format(email=accounts.normalize_email(data["email"]))}, status=202)


TOKEN_ERRORS = problems(
    e400="Invalid input (field errors in `errors`)",
    e404="`account_token_not_found`: no open link has this token",
    e409="`account_token_used` (used already) or `account_token_replaced` (a newer email replaced it)",
    e410="`account_token_expired`: ask for a new one",
    e413="Request body over the limit",
    e415="Not JSON",
    e429="Throttled",
)


class EmailVerifyView(_AnonymousView):
    @extend_schema(
        operation_id="auth_verify_email",
        tags=["accounts"],
        request=TokenIn,
        responses={200: VerifiedOut, **TOKEN_ERRORS},
        summary="Confirm an email address with the emailed token (works once; no sign-in needed)",
    )
    def post(self, request):
        data = validated(TokenIn, request.data)
        user = accounts.email_verify(token=data["token"], ip=_ip(request))
        return Response(VerifiedOut(user).data)


class EmailVerifyResendView(APIView):
    permission_classes = [IsAuthenticated]
    throttle_classes = [AuthIPThrottle, AccountEmailThrottle]

    @extend_schema(
        operation_id="auth_verify_email_resend",
        tags=["accounts"],
        request=None,
        responses={
            202: AcceptedOut,
            **problems(
                e401="Not signed in", e409="`email_already_verified`", e429="Throttled (per client IP, and per address)"
            ),
        },
        summary="Email a new confirmation link to the signed-in account (the previous one stops working)",
    )
    def post(self, request):
        accounts.verification_resend(user=request.user)
        return Response({"detail": f"We have sent a new link to {request.user.email}."}, status=202)


class PasswordResetView(_AnonymousView):
    throttle_classes = [AuthIPThrottle, AccountEmailThrottle]

    @extend_schema(
        operation_id="auth_password_reset",
        tags=["accounts"],
        request=EmailIn,
        responses={
            202: AcceptedOut,
            **problems(
                e400="Invalid input (field errors in `errors`)",
                e413="Request body over the limit",
                e415="Not JSON",
                e429="Throttled (per client IP, and per address)",
            ),
        },
        summary="Ask for a password reset link by email",
        description="The answer is the same whether or not an account uses the address.",
    )
    def post(self, request):
        data = validated(EmailIn, request.data)
        accounts.password_reset_request(email=data["email"])
        return Response({"detail": RESET_ACCEPTED.format(email=accounts.normalize_email(data["email"]))}, status=202)


class PasswordResetConfirmView(_AnonymousView):
    @extend_schema(
        operation_id="auth_password_reset_confirm",
        tags=["accounts"],
        request=ResetConfirmIn,
        responses={204: None, **TOKEN_ERRORS},
        summary="Set a new password with the emailed reset token: every sign-in of the account ends",
        description="Weak passwords are 400 `password_too_weak` (the token stays usable). Every "
        "access and refresh token of the account, and every other emailed link, is void.",
    )
    def post(self, request):
        data = validated(ResetConfirmIn, request.data)
        accounts.password_reset_confirm(token=data["token"], new_password=data["new_password"], ip=_ip(request))
        return Response(status=204)


class PasswordChangeView(APIView):
    permission_classes = [IsAuthenticated]
    throttle_classes = [AuthIPThrottle]

    def initial(self, request, *args, **kwargs):
        check_body_size(request)
        super().initial(request, *args, **kwargs)

    @extend_schema(
        operation_id="auth_password_change",
        tags=["accounts"],
        request=PasswordChangeIn,
        responses={
            200: TokenPairResponse,
            **problems(
                e400="`wrong_password` (current_password), `password_too_weak`, `password_unchanged`",
                e401="Not signed in",
                e413="Request body over the limit",
                e415="Not JSON",
                e429="Throttled",
            ),
        },
        summary="Change the password (the current one required): every other sign-in ends, and "
        "this one continues with the new token pair in the answer",
    )
    def post(self, request):
        data = validated(PasswordChangeIn, request.data)
        user = accounts.password_change(
            user=request.user,
            current_password=data["current_password"],
            new_password=data["new_password"],
            ip=_ip(request),
        )
        refresh = token_pair_for(user)
        return Response({"access": str(refresh.access_token), "refresh": str(refresh)})


class AccountDeleteView(APIView):
    permission_classes = [IsAuthenticated]
    throttle_classes = [AuthIPThrottle]

    def initial(self, request, *args, **kwargs):
        check_body_size(request)
        super().initial(request, *args, **kwargs)

    @extend_schema(
        operation_id="auth_account_delete",
        tags=["accounts"],
        request=PasswordIn,
        responses={
            204: None,
            **problems(
                e400="`wrong_password`, or invalid input",
                e401="Not signed in",
                e409="`last_owner`: you are the only owner of the tenants in `tenant_ids`",
                e413="Request body over the limit",
                e415="Not JSON",
                e429="Throttled",
            ),
        },
        summary="Delete your account: your personal data is erased and every sign-in ends",
        description="Erases your marketplace identity (a provider profile is withdrawn, its listings "
        "archived), removes your memberships and anonymises the account. Invoices and "
        "payments of others keep their amounts. The only owner of a tenant must hand "
        "ownership over first.",
    )
    def post(self, request):
        data = validated(PasswordIn, request.data)
        accounts.account_delete(user=request.user, password=data["password"], ip=_ip(request))
        return Response(status=204)
