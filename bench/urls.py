"""The platform's URLs plus what only the benchmark needs: the calibration baseline through the
whole stack (bench/baseline.py: one indexed SELECT, plain JSON), an OFFSET variant of the message
page, to compare with the API's cursor, and a per-row variant of the contact list, to compare with
its batched cross-database resolution. None of them is part of the product API."""

from django.urls import path
from rest_framework.response import Response

from bench.baseline import baseline
from breederhq.api.base import MarketplaceAPIView
from breederhq.databases import MARKETPLACE_DB
from config.urls import urlpatterns as platform_urlpatterns
from marketplace_app import selectors
from marketplace_app.api import serializers as s
from marketplace_app.models import MarketplaceUser
from tenant_app.api import serializers as tenant_serializers
from tenant_app.api.views.contacts import ContactListView


class MessagePageByOffset(MarketplaceAPIView):
    """The message page as a naive API would serve it: `?offset=N`, the same checks, columns and
    rendering as `MessageListView`, only OFFSET instead of the keyset cursor."""

    def get(self, request, thread_id: int):
        offset = int(request.query_params.get("offset", 0))
        selectors.thread_check_participant(thread_id=thread_id, user_id=request.marketplace_user.pk)
        rows = list(
            selectors.message_page_queryset_unbounded(thread_id=thread_id).values(*s.MESSAGE_VALUES)[
                offset : offset + 51
            ]
        )
        return Response({"more": len(rows) > 50, "results": s.message_rows_out(rows[:50])})


class ContactListPerRow(ContactListView):
    """The contact list as a naive API would serve it: the same tenant checks, page, columns and
    rendering as `ContactListView`, but each linked marketplace person read by its own query on the
    marketplace database (what `breederhq.crossdb.resolve` does in one query for the page)."""

    def get(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        for contact in page:
            person = (
                MarketplaceUser._base_manager.using(MARKETPLACE_DB).filter(pk=contact.marketplace_user_id).first()
                if contact.marketplace_user_id is not None
                else None
            )
            contact.marketplace_user = (
                None
                if contact.marketplace_user_id is None
                else {
                    "id": contact.marketplace_user_id,
                    "display_name": getattr(person, "display_name", None),
                    "is_deleted": person is None or person.deleted_at is not None,
                }
            )
        return self.get_paginated_response(tenant_serializers.contact_rows_out(page))


urlpatterns = [
    path("bench/baseline", baseline),
    path("bench/threads/<int:thread_id>/messages-by-offset", MessagePageByOffset.as_view()),
    path("bench/contacts-per-row", ContactListPerRow.as_view()),
    *platform_urlpatterns,
]
