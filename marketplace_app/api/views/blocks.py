"""A provider's blocks of marketplace users."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from breederhq.api.pagination import PageNumber
from breederhq.api.params import validated
from breederhq.api.schema import IDEMPOTENCY_KEY, READ_ERRORS, WRITE_ERRORS
from breederhq.databases import MARKETPLACE_DB
from breederhq.errors import NotFound
from marketplace_app import services
from marketplace_app.api import serializers as s
from marketplace_app.api.views.common import _ProviderView
from marketplace_app.models import MarketplaceUser, UserBlock


class BlockListView(_ProviderView):
    pagination_class = PageNumber
    serializer_class = s.BlockOut
    queryset = UserBlock.objects.none()

    @extend_schema(
        operation_id="blocks_list", tags=["marketplace"], responses={200: s.BlockOut(many=True), **READ_ERRORS}
    )
    def get(self, request):
        blocks = (
            UserBlock.objects.using(MARKETPLACE_DB)
            .filter(provider=self.provider(request))
            .select_related("blocked_user")
            .order_by("-created_at", "-id")
        )
        page = self.paginate_queryset(blocks)
        return self.get_paginated_response(s.BlockOut(page, many=True).data)

    @extend_schema(
        operation_id="blocks_create",
        tags=["marketplace"],
        request=s.BlockIn,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: s.BlockOut, **WRITE_ERRORS},
    )
    def post(self, request):
        data = validated(s.BlockIn, request.data)
        if not MarketplaceUser.objects.using(MARKETPLACE_DB).filter(pk=data["user_id"]).exists():
            raise NotFound(f"Marketplace user {data['user_id']} not found.")
        block = services.user_block_create(
            provider_id=self.provider(request).pk, user_id=data["user_id"], reason=data["reason"]
        )
        block = UserBlock.objects.using(MARKETPLACE_DB).select_related("blocked_user").get(pk=block.pk)
        return Response(s.BlockOut(block).data, status=status.HTTP_201_CREATED)


class BlockDetailView(_ProviderView):
    serializer_class = s.BlockOut

    @extend_schema(operation_id="blocks_delete", tags=["marketplace"], responses={204: None, **READ_ERRORS})
    def delete(self, request, user_id: int):
        if not services.user_block_delete(provider_id=self.provider(request).pk, user_id=user_id):
            raise NotFound(f"User {user_id} is not blocked.")
        return Response(status=status.HTTP_204_NO_CONTENT)
