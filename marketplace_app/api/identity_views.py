"""Joining the marketplace as a buyer: `/api/v1/marketplace/me/`.

A person who signed up (tenant_app.User) has no marketplace identity until they need one. Becoming a
provider makes it on the way (`POST providers/me/`); a buyer makes it here, then refreshes the
access token (the token names the identity, `mku`) before buying. The identity is made once
(`marketplace_identity_for` holds the lock): repeating the request, or sending it twice at once,
answers the same identity.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from breederhq.api.base import MarketplaceAPIView
from breederhq.api.schema import IDEMPOTENCY_KEY, READ_ERRORS, WRITE_ERRORS, problems
from breederhq.databases import MARKETPLACE_DB
from marketplace_app import services
from marketplace_app.models import MarketplaceUser
from tenant_app.accounts import require_verified_email


class MarketplaceIdentityOut(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    display_name = serializers.CharField()
    kind = serializers.ChoiceField(
        choices=MarketplaceUser.Kind.values, help_text="buyer until you become a provider (breeder or service_provider)"
    )


class MarketplaceMeView(MarketplaceAPIView):
    serializer_class = MarketplaceIdentityOut
    queryset = MarketplaceUser.objects.none()

    def get_permissions(self):
        if self.request.method == "POST":  # this is how a signed-in person gets the identity
            return [IsAuthenticated()]
        return super().get_permissions()

    @extend_schema(
        operation_id="marketplace_me",
        tags=["marketplace"],
        responses={200: MarketplaceIdentityOut, **READ_ERRORS},
        summary="Your marketplace identity (403 until you joined the marketplace)",
    )
    def get(self, request):
        return Response(MarketplaceIdentityOut(request.marketplace_user).data)

    @extend_schema(
        operation_id="marketplace_me_join",
        tags=["marketplace"],
        request=None,
        parameters=[IDEMPOTENCY_KEY],
        responses={
            201: MarketplaceIdentityOut,
            200: MarketplaceIdentityOut,
            **WRITE_ERRORS,
            **problems(
                e403="`email_unverified`: confirm your address first",
                e409="`marketplace_email_taken`: another marketplace account uses your address",
            ),
        },
        summary="Join the marketplace as a buyer: make your marketplace identity",
        description="Needs a confirmed email address. 201 when this request made the identity, 200 when you "
        "had it (or an unlinked one with your confirmed address was linked to you). Refresh your access token afterwards (POST /api/v1/auth/token/refresh/): the new "
        "token names the identity, which buying and the other marketplace endpoints need.",
    )
    def post(self, request):
        require_verified_email(request.user, to="join the marketplace")
        from django.db.models import Q

        # Yours already, or an unlinked one (a guest buyer's) with your confirmed address, linked now.
        existed = (
            MarketplaceUser.objects.using(MARKETPLACE_DB)
            .filter(
                Q(tenant_user_id=request.user.pk) | Q(email__iexact=request.user.email, tenant_user_id__isnull=True)
            )
            .exists()
        )
        identity = services.marketplace_identity_for(
            tenant_user_id=request.user.pk,
            email=request.user.email,
            display_name=request.user.get_full_name() or request.user.email.split("@")[0],
        )
        return Response(
            MarketplaceIdentityOut(identity).data, status=status.HTTP_200_OK if existed else status.HTTP_201_CREATED
        )
