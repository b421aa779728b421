"""Threads and messages (participants only)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response

from breederhq.api.base import MarketplaceAPIView
from breederhq.api.keyset import Position, decode_position, encode_position
from breederhq.api.pagination import MAX_PAGE_SIZE, RecentThreadsCursor, page_size_of
from breederhq.api.params import validated
from breederhq.api.schema import IDEMPOTENCY_KEY, READ_ERRORS, WRITE_ERRORS, problems
from marketplace_app import selectors, services
from marketplace_app.api import serializers as s
from marketplace_app.models import MessageThread

#: Opening a thread with (or writing to) a provider that left the marketplace.
PROVIDER_GONE = problems(e410="The provider left the marketplace (`provider_gone`): no new messages")


class ThreadListView(MarketplaceAPIView):
    pagination_class = RecentThreadsCursor
    serializer_class = s.ThreadOut
    queryset = MessageThread.objects.none()

    @extend_schema(
        operation_id="threads_list", tags=["marketplace"], responses={200: s.ThreadOut(many=True), **READ_ERRORS}
    )
    def get(self, request):
        page = self.paginate_queryset(selectors.thread_list_for_user(user_id=request.marketplace_user.pk))
        return self.get_paginated_response(s.ThreadOut(page, many=True).data)

    @extend_schema(
        operation_id="threads_open",
        tags=["marketplace"],
        request=s.ThreadIn,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: s.ThreadOut, **WRITE_ERRORS, **PROVIDER_GONE},
    )
    def post(self, request):
        data = validated(s.ThreadIn, request.data)
        thread = services.message_thread_open(buyer_id=request.marketplace_user.pk, **data)
        thread = selectors.thread_get_for_user(thread_id=thread.pk, user_id=request.marketplace_user.pk)
        return Response(s.ThreadOut(thread).data, status=status.HTTP_201_CREATED)


class MessageListView(MarketplaceAPIView):
    """Newest first, keyset by (created_at, id) with the bound that prunes partitions."""

    serializer_class = s.MessageOut

    @extend_schema(
        operation_id="messages_list",
        tags=["marketplace"],
        parameters=[
            OpenApiParameter("cursor", {"type": "string", "maxLength": 500}, required=False),
            OpenApiParameter(
                "page_size",
                {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
                required=False,
                description="Messages per page (default 50).",
            ),
        ],
        responses={200: s.MessagePageOut, **READ_ERRORS},
    )
    def get(self, request, thread_id: int):
        raw = request.query_params.get("cursor")
        position = decode_position(raw, allow_newer=False) if raw else None
        before = (position.created_at, position.id) if position else None
        size = page_size_of(request, default=50)
        span = selectors.thread_span_for_user(thread_id=thread_id, user_id=request.marketplace_user.pk)
        rows = selectors.message_page(
            thread_id=thread_id, span=span, before=before, limit=size + 1, values=s.MESSAGE_VALUES
        )
        more, rows = len(rows) > size, rows[:size]
        return Response(
            {
                "next": encode_position(Position(rows[-1]["created_at"], rows[-1]["id"])) if more else None,
                "results": s.message_rows_out(rows),
            }
        )

    @extend_schema(
        operation_id="messages_send",
        tags=["marketplace"],
        request=s.MessageIn,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: s.MessageOut, **WRITE_ERRORS, **PROVIDER_GONE},
    )
    def post(self, request, thread_id: int):
        data = validated(s.MessageIn, request.data)
        message = services.message_send(thread_id=thread_id, sender_id=request.marketplace_user.pk, body=data["body"])
        return Response(s.MessageOut(message).data, status=status.HTTP_201_CREATED)
