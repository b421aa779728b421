"""Pagination: page numbers for short lists, cursors (keyset) for the high-volume ones.

Every list checks its paging parameters before it reads anything: `page` is a whole number from 1 to
MAX_PAGE (or `last`), `page_size` one from 1 to MAX_PAGE_SIZE; anything else (not a number, zero,
negative, too large, too long) is a 400 `validation_failed` naming the parameter. A page past the end
of the list is a 404 `not_found`. The schema states both bounds.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.core.paginator import InvalidPage, Paginator
from django.db.models import Count, Window
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination, PageNumberPagination

from breederhq.errors import ValidationFailed

#: The name the window count travels under in each row (removed before the rows are rendered).
_TOTAL = "_page_total_count"

#: The largest page number a list accepts (page x page_size stays far inside BIGINT for OFFSET).
MAX_PAGE = 1_000_000
#: The largest `page_size` any list accepts, and the default one.
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 25


def bounded_int(name: str, raw, *, low: int, high: int) -> int:
    """`raw` (a query parameter's text) as an int in [low, high], else ValidationFailed naming `name`."""
    text = str(raw).strip()
    # Digits only (no sign, spaces, underscores or other scripts' digits), and never a long string.
    if not (0 < len(text) <= len(str(high)) + 2 and text.isascii() and text.isdigit()):
        if text.startswith("-") and text[1:].isascii() and text[1:].isdigit() and len(text) <= 22:
            problem = f"must be at least {low}"
        else:
            problem = f"must be a whole number from {low} to {high}"
        raise ValidationFailed(f"{name}: {problem}.", field_errors={name: [problem]})
    value = int(text)
    if not low <= value <= high:
        problem = f"must be from {low} to {high}"
        raise ValidationFailed(f"{name}: {problem}.", field_errors={name: [problem]})
    return value


def page_size_of(
    request, *, param: str = "page_size", default: int = DEFAULT_PAGE_SIZE, maximum: int = MAX_PAGE_SIZE
) -> int:
    raw = request.query_params.get(param)
    if raw is None or raw == "":
        return default
    return bounded_int(param, raw, low=1, high=maximum)


class BoundedParameters:
    """The paging parameters' checks and their bounds in the schema, for every paginator."""

    page_size = DEFAULT_PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE

    def get_page_size(self, request):
        return page_size_of(
            request, param=self.page_size_query_param, default=self.page_size, maximum=self.max_page_size
        )

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            schema = parameter.setdefault("schema", {})
            if parameter["name"] == self.page_size_query_param:
                schema.update(minimum=1, maximum=self.max_page_size)
            elif parameter["name"] == getattr(self, "page_query_param", None):
                schema.update(minimum=1, maximum=MAX_PAGE)
            elif parameter["name"] == getattr(self, "cursor_query_param", None):
                schema.update(maxLength=500)
        return parameters


class PageNumber(BoundedParameters, PageNumberPagination):
    def get_page_number(self, request, paginator):
        raw = request.query_params.get(self.page_query_param) or 1
        if raw in self.last_page_strings:
            return paginator.num_pages
        return bounded_int(self.page_query_param, raw, low=1, high=MAX_PAGE)


class PageNumberCountedInPage(PageNumber):
    """`PageNumber`'s answer (count, next, previous, results) in one query instead of two: the page
    is read with `COUNT(*) OVER ()`, which PostgreSQL computes over every match while it reads them
    for the ORDER BY anyway (a ranked search sorts them all). Only a page with no rows (past the end,
    or nothing matches) needs the separate COUNT, to tell "empty" from "no such page".

    For `values()` querysets (the hot lists render dict rows), or a written-out search with
    `page(offset=, limit=) -> (rows, count)` and `count()` (`marketplace_app.listing_search.ListingSearch`)."""

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

        cap = getattr(queryset, "count_cap", None)
        self.count_capped = None if cap is None else False

        def capped(count: int) -> int:  # a search counted up to cap + 1: "cap+" (`count_capped`)
            if cap is not None and count > cap:
                self.count_capped = True
                return cap
            return count

        if raw in self.last_page_strings:
            if written_out:
                paginator.count = capped(queryset.count())
            number = paginator.num_pages  # the last page's number needs the COUNT first
        else:
            number = raw if raw == 1 else bounded_int(self.page_query_param, raw, low=1, high=MAX_PAGE)
        offset = (number - 1) * page_size
        if written_out:
            rows, count = queryset.page(offset=offset, limit=page_size)
            paginator.count = capped(count)
        else:
            rows = list(queryset.annotate(**{_TOTAL: Window(Count("*"))})[offset : offset + page_size])
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

    def get_paginated_response(self, data):
        response = super().get_paginated_response(data)
        if getattr(self, "count_capped", None) is not None:
            response.data["count_capped"] = self.count_capped
        return response


class PageNumberCappedCount(PageNumberCountedInPage):
    """`PageNumberCountedInPage` for a search whose count stops at a cap (`count_cap`): `count` is
    exact up to the cap; past it `count` is the cap and `count_capped` is true ("200+"), and pages
    end at the cap (a later page is a 404 like any page past the end). The schema states the cap this
    deployment runs with (LISTING_SEARCH_COUNT_CAP)."""

    def get_paginated_response_schema(self, schema):
        answer = super().get_paginated_response_schema(schema)
        cap = settings.LISTING_SEARCH_COUNT_CAP
        answer["properties"]["count"]["description"] = (
            f"The number of matches, exact up to the cap ({cap:,}); the cap itself when count_capped is true."
        )
        answer["properties"]["count"]["maximum"] = cap
        answer["properties"]["count_capped"] = {
            "type": "boolean",
            "example": False,
            "description": f'True when there are more than {cap:,} matches (show the count as "{cap:,}+"); the '
            "pages end at the cap: narrow the search to reach the others.",
        }
        answer["required"] = [*answer.get("required", []), "count_capped"]
        return answer


class NewestFirstCursor(BoundedParameters, CursorPagination):
    """Keyset on (created_at, id) newest first: stable under inserts, no OFFSET scans."""

    ordering = ("-created_at", "-id")

    def decode_cursor(self, request):
        cursor = super().decode_cursor(request)  # 404 for a cursor that is not DRF's
        if cursor is not None and cursor.position is not None:
            # The position is compared with a timestamp column: it must be one.
            try:
                when = datetime.fromisoformat(cursor.position)
            except ValueError:
                raise NotFound(self.invalid_cursor_message) from None
            if when.tzinfo is None:
                raise NotFound(self.invalid_cursor_message)
        return cursor


class RecentThreadsCursor(NewestFirstCursor):
    """Threads by latest activity (every thread has a first message, so never NULL)."""

    ordering = ("-last_message_at", "-id")
