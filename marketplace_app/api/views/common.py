"""What the marketplace views share: input validation, the public base view, the provider base view."""

from __future__ import annotations

from rest_framework.permissions import AllowAny

from breederhq.api.base import MarketplaceAPIView
from breederhq.api.throttling import PublicReadIPThrottle
from breederhq.errors import PermissionDenied
from breederhq.read_replica import ReplicaReadsMixin


def _valid(serializer_class, data):
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class PublicAPIView(ReplicaReadsMixin, MarketplaceAPIView):
    # Anonymous reads of the public marketplace, throttled per client IP; from the marketplace
    # replica when there is one (breederhq/read_replica.py).
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [PublicReadIPThrottle]


class _ProviderView(MarketplaceAPIView):
    def provider(self, request):
        provider = getattr(request.marketplace_user, "provider", None)
        if provider is None or provider.deleted_at is not None:
            raise PermissionDenied("You are not a provider.", code="not_a_provider")
        return provider
