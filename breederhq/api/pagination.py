"""Pagination: page numbers for short lists, cursors (keyset) for the high-volume ones."""

from __future__ import annotations

from rest_framework.pagination import CursorPagination, PageNumberPagination


class PageNumber(PageNumberPagination):
    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100


class NewestFirstCursor(CursorPagination):
    """Keyset on (created_at, id) newest first: stable under inserts, no OFFSET scans."""

    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100
    ordering = ("-created_at", "-id")


class RecentThreadsCursor(NewestFirstCursor):
    """Threads by latest activity (every thread has a first message, so never NULL)."""

    ordering = ("-last_message_at", "-id")
