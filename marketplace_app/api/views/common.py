"""What the marketplace views share: the public base view, the provider base view. (Input is validated
with breederhq/api/params.py `validated`.)"""

from __future__ import annotations

from rest_framework.permissions import AllowAny

from breederhq.api.base import MarketplaceAPIView
from breederhq.api.throttling import PublicReadIPThrottle
from breederhq.errors import PermissionDenied
from breederhq.read_replica import ReplicaReadsMixin


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
