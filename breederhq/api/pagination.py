"""Pagination: page numbers for short lists, cursors (keyset) for the high-volume ones."""

from __future__ import annotations

from django.core.paginator import InvalidPage, Paginator
from django.db.models import Count, Window
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination, PageNumberPagination

#: The name the window count travels under in each row (removed before the rows are rendered).
_TOTAL = "_page_total_count"


class PageNumber(PageNumberPagination):
    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100


class PageNumberCountedInPage(PageNumber):
    """`PageNumber`'s answer (count, next, previous, results) in one query instead of two: the page
    is read with `COUNT(*) OVER ()`, which PostgreSQL computes over every match while it reads them
    for the ORDER BY anyway (a ranked search sorts them all). Only a page with no rows (past the end,
    or nothing matches) needs the separate COUNT, to tell "empty" from "no such page".

    For `values()` querysets (the hot lists render dict rows), or a written-out search with
    `page(offset=, limit=) -> (rows, count)` and `count()` (`marketplace_app.selectors.ListingSearch`)."""

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        page_size = self.get_page_size(request)
        if not page_size:
            return None
        raw = request.query_params.get(self.page_query_param) or 1
        written_out = hasattr(queryset, "page")
        # A written-out search cannot be sliced lazily: the paginator gets only its count.
        paginator = Paginator([] if written_out else queryset, page_size)

        def invalid(message: str):
            return NotFound(self.invalid_page_message.format(page_number=raw, message=message))

        if raw in self.last_page_strings:
            if written_out:
                paginator.count = queryset.count()
            number = paginator.num_pages  # the last page's number needs the COUNT first
        else:
            try:
                number = int(raw)
            except (TypeError, ValueError):
                raise invalid("That page number is not an integer") from None
            if number < 1:
                raise invalid("That page number is less than 1")
        offset = (number - 1) * page_size
        if written_out:
            rows, paginator.count = queryset.page(offset=offset, limit=page_size)
        else:
            rows = list(queryset.annotate(**{_TOTAL: Window(Count("*"))})[offset:offset + page_size])
            paginator.count = rows[0][_TOTAL] if rows else queryset.count()  # cached_property: set, not computed
            for row in rows:
                del row[_TOTAL]
        try:
            self.page = paginator.page(number)  # validates against the count; slices lazily (no query)
        except InvalidPage as exc:
            raise invalid(str(exc)) from exc
        self.page.object_list = rows
        if paginator.num_pages > 1 and self.template is not None:
            self.display_page_controls = True
        return rows


class NewestFirstCursor(CursorPagination):
    """Keyset on (created_at, id) newest first: stable under inserts, no OFFSET scans."""

    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100
    ordering = ("-created_at", "-id")


class RecentThreadsCursor(NewestFirstCursor):
    """Threads by latest activity (every thread has a first message, so never NULL)."""

    ordering = ("-last_message_at", "-id")
