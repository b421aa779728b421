"""Sign-in for client apps: JWTs (djangorestframework-simplejwt) that say what the holder may reach.

A person signs in as the global `tenant_app.User`. Their tokens carry:

* `tenants` — the ids of the tenants they are a member of when the token was issued;
* `mku` / `mkk` — the id and kind of their `MarketplaceUser` (linked by `tenant_user_id`), if any;
* `fam` / `rev` — the sign-in (refresh-token family) and the user's revocation stamp at issue
  (breederhq.api.sessions).

The tenant claims only ever *narrow* access: a tenant request also needs a live membership (read
under RLS at request time), so a membership removed after sign-in stops working at once, and one
added later needs a refresh. Refreshing recomputes the claims and rotates the refresh token: each one
is good exactly once, and presenting a used one revokes its whole sign-in. Every authenticated request
checks the revocation stamp, so signing out everywhere, a password change or a deactivation voids
access tokens too, within API_REVOCATION_CACHE_SECONDS (1). Details: docs/api/sessions.md.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import RefreshToken

TENANTS_CLAIM = "tenants"
MARKETPLACE_USER_CLAIM = "mku"
MARKETPLACE_KIND_CLAIM = "mkk"


def identity_claims(user) -> dict:
    """What the token says the user may reach: two queries, one per database (the identity port,
    breederhq/identity.py)."""
    from breederhq.identity import marketplace_identity, tenant_identity

    tenants = tenant_identity().tenant_ids(user.pk)
    marketplace_user_id, kind = marketplace_identity().identity_of(user.pk)
    return {
        TENANTS_CLAIM: tenants,
        MARKETPLACE_USER_CLAIM: marketplace_user_id,
        MARKETPLACE_KIND_CLAIM: kind,
    }


def token_pair_for(user, *, family_id=None) -> RefreshToken:
    """A new refresh token (and `.access_token`) for `user`: a new sign-in unless `family_id` names
    the family a rotation continues."""
    from breederhq.api.sessions import family_start, session_claims

    if family_id is None:
        family_id = family_start(user_id=user.pk)
    refresh = RefreshToken.for_user(user)
    for name, value in {**identity_claims(user), **session_claims(user, family_id)}.items():
        refresh[name] = value
    return refresh


class TokenPairResponse(serializers.Serializer):
    access = serializers.CharField(help_text="Bearer token for `Authorization: Bearer ...`; short-lived.")
    refresh = serializers.CharField(help_text="Exchange at /api/v1/auth/token/refresh/; one use (rotates).")


class TokenObtainSerializer(serializers.Serializer):
    """Email and password -> an access and a refresh token (Django's authentication backends,
    so inactive users and wrong passwords are refused the same way as everywhere else)."""

    email = serializers.EmailField(write_only=True)
    password = serializers.CharField(write_only=True, style={"input_type": "password"}, trim_whitespace=False)

    def validate(self, attrs):
        from django.contrib.auth import authenticate

        User = get_user_model()
        account = User.objects.filter(email__iexact=attrs["email"]).first()
        if account is None:
            # Hash the password anyway, as Django's ModelBackend does for an unknown username: an
            # unknown email must cost the same time as a wrong password, or timing tells who has an
            # account.
            User().set_password(attrs["password"])
            user = None
        else:
            user = authenticate(
                self.context.get("request"), username=account.get_username(), password=attrs["password"]
            )
        if not user or not api_settings.USER_AUTHENTICATION_RULE(user):
            raise AuthenticationFailed("No active account found with the given credentials.", code="no_active_account")
        refresh = token_pair_for(user)
        return {"access": str(refresh.access_token), "refresh": str(refresh)}


class TokenRefreshSerializer(serializers.Serializer):
    """A refresh token -> a new pair with freshly computed claims; the refresh token sent is used up
    (exactly once, even under simultaneous requests) and a used one revokes its sign-in."""

    refresh = serializers.CharField(write_only=True)

    def validate(self, attrs):
        from breederhq.api.sessions import refresh_rotate

        new = refresh_rotate(raw=attrs["refresh"], request=self.context.get("request"))
        return {"access": str(new.access_token), "refresh": str(new)}


class TokenRevokeSerializer(serializers.Serializer):
    refresh = serializers.CharField(write_only=True)

    def validate(self, attrs):
        from breederhq.api.sessions import refresh_revoke

        refresh_revoke(raw=attrs["refresh"], request=self.context.get("request"))
        return {}


# --- Views ------------------------------------------------------------------------------------------
# Not idempotent-key views on purpose: storing a token response to replay it would keep live
# credentials in the idempotency table. Signing in twice is harmless anyway.

from drf_spectacular.utils import extend_schema  # noqa: E402
from rest_framework.permissions import AllowAny, IsAuthenticated  # noqa: E402
from rest_framework.response import Response  # noqa: E402
from rest_framework.views import APIView  # noqa: E402
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError  # noqa: E402

from breederhq.api.limits import check_body_size  # noqa: E402
from breederhq.api.schema import problems  # noqa: E402
from breederhq.api.throttling import AuthIPThrottle  # noqa: E402


class _TokenView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [AuthIPThrottle]
    serializer_class: type[serializers.Serializer]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        check_body_size(request)

    def get_authenticate_header(self, request):
        # A refused credential is a 401 with a challenge, even though this view authenticates nobody.
        return 'Bearer realm="api"'

    def post(self, request):
        serializer = self.serializer_class(data=request.data, context={"request": request})
        try:
            serializer.is_valid(raise_exception=True)
        except TokenError as exc:
            raise InvalidToken(exc.args[0]) from exc
        return Response(serializer.validated_data or None, status=200 if serializer.validated_data else 204)


class TokenObtainRequest(serializers.Serializer):
    email = serializers.EmailField()
    password = serializers.CharField(style={"input_type": "password"})


class TokenRefreshRequest(serializers.Serializer):
    refresh = serializers.CharField()


_AUTH_ERRORS = problems(e400="Invalid input", e401="Wrong credentials or token", e429="Throttled")


class TokenObtainView(_TokenView):
    serializer_class = TokenObtainSerializer

    @extend_schema(
        operation_id="auth_token_obtain",
        tags=["auth"],
        request=TokenObtainRequest,
        responses={200: TokenPairResponse, **_AUTH_ERRORS},
        summary="Sign in: email and password -> access and refresh tokens",
    )
    def post(self, request):
        return super().post(request)


class TokenRefreshView(_TokenView):
    serializer_class = TokenRefreshSerializer

    @extend_schema(
        operation_id="auth_token_refresh",
        tags=["auth"],
        request=TokenRefreshRequest,
        responses={200: TokenPairResponse, **_AUTH_ERRORS},
        summary="A new token pair (claims recomputed); the refresh token sent is used up, "
        "and a used one revokes its whole sign-in",
    )
    def post(self, request):
        return super().post(request)


class TokenRevokeView(_TokenView):
    serializer_class = TokenRevokeSerializer

    @extend_schema(
        operation_id="auth_token_revoke",
        tags=["auth"],
        request=TokenRefreshRequest,
        responses={204: None, **_AUTH_ERRORS},
        summary="Sign out: revoke a refresh token and every token of its sign-in",
    )
    def post(self, request):
        return super().post(request)


class SignOutEverywhereView(APIView):
    """Void every token of the signed-in user (every device, this one included)."""

    permission_classes = [IsAuthenticated]
    throttle_classes = [AuthIPThrottle]

    @extend_schema(
        operation_id="auth_sign_out_everywhere",
        tags=["auth"],
        request=None,
        responses={
            204: None,
            **problems(
                e401="Not signed in or token revoked", e403="Session sign-in without a CSRF token", e429="Throttled"
            ),
        },
        summary="Sign out everywhere: every access and refresh token issued so far is void",
    )
    def post(self, request):
        from breederhq.api.sessions import user_sign_out_everywhere

        user_sign_out_everywhere(user_id=request.user.pk)
        return Response(status=204)


class MembershipOut(serializers.Serializer):
    tenant_id = serializers.IntegerField()
    tenant_name = serializers.CharField()
    role = serializers.ChoiceField(choices=["owner", "admin", "staff", "viewer"])


class MeOut(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    email_verified_at = serializers.DateTimeField(
        allow_null=True, help_text="null until the address is confirmed: until then no buying, selling or inviting"
    )
    memberships = MembershipOut(many=True)
    marketplace_user_id = serializers.IntegerField(allow_null=True)
    marketplace_kind = serializers.CharField(allow_null=True)


class MeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="auth_me",
        tags=["auth"],
        responses={200: MeOut, **problems(e401="Not signed in")},
        summary="Who am I: memberships (tenants and roles) and marketplace identity",
    )
    def get(self, request):
        from breederhq.tenancy import set_connection_context, user_memberships

        # The middleware clears the user setting at the end of the request.
        set_connection_context(tenant_id=getattr(request._request, "tenant_id", None), user_id=request.user.pk)
        memberships = user_memberships(request.user.pk)
        claims = identity_claims(request.user)
        return Response(
            MeOut(
                {
                    "id": request.user.pk,
                    "email": request.user.email,
                    # Live, not the cached user: a verification shows at once.
                    "email_verified_at": get_user_model()
                    .objects.filter(pk=request.user.pk)
                    .values_list("email_verified_at", flat=True)
                    .first(),
                    "memberships": [
                        {"tenant_id": m.tenant_id, "tenant_name": m.tenant.name, "role": m.role} for m in memberships
                    ],
                    "marketplace_user_id": claims[MARKETPLACE_USER_CLAIM],
                    "marketplace_kind": claims[MARKETPLACE_KIND_CLAIM],
                }
            ).data
        )
