"""Keyset pages over (created_at, id), newest first, read by a selector's own SQL.

DRF's `CursorPagination` pages a queryset: it builds and compiles the ORM query on every request
(for a hot list, more CPU than the rest of the request) and keys on `created_at` alone with an
OFFSET for ties. `KeysetPagination` keeps DRF's envelope (`next`, `previous`, `results`), its
`cursor` and `page_size` parameters and their schema, but leaves the reading to a selector that
gets the position and the limit and runs one statement:

    rows = self.paginate_queryset(lambda position, limit: selectors.x_page(..., position=position, limit=limit))
    return self.get_paginated_response(render(rows))

The cursor is opaque to clients: url-safe base64 of `<created_at ISO>|<id>` (the rows after it,
older), or `<created_at ISO>|<id>|r` (the rows before it, newer: a `previous` link). A cursor that
is not one of ours is a 400 `validation_failed` naming `cursor`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from breederhq.api.pagination import BoundedParameters
from breederhq.errors import ValidationFailed
from breederhq.money import BIGINT_MAX


@dataclass(frozen=True)
class Position:
    """A place in a newest-first (created_at, id) list. `newer=False`: the rows after it (older
    ones, `(created_at, id) < (at, id)`); `newer=True`: the rows before it (newer ones, `>`)."""

    created_at: datetime
    id: int
    newer: bool = False


def encode_position(position: Position) -> str:
    text = f"{position.created_at.isoformat()}|{position.id}" + ("|r" if position.newer else "")
    return base64.urlsafe_b64encode(text.encode()).decode()


def decode_position(raw: str, *, allow_newer: bool = True) -> Position:
    """The position in `raw`; ValidationFailed (400) for anything this API did not write."""
    try:
        if len(raw) > 500:
            raise ValueError("too long")
        parts = base64.urlsafe_b64decode(raw.encode()).decode().split("|")
        if len(parts) not in (2, 3) or (len(parts) == 3 and (parts[2] != "r" or not allow_newer)):
            raise ValueError(raw)
        when = datetime.fromisoformat(parts[0])
        if when.tzinfo is None:  # a naive time would be read in some other zone
            raise ValueError(parts[0])
        row_id = int(parts[1])
        if not 0 < row_id <= BIGINT_MAX:  # compared with a BIGINT column
            raise ValueError(parts[1])
        return Position(created_at=when, id=row_id, newer=len(parts) == 3)
    except (ValueError, binascii.Error, UnicodeError):
        raise ValidationFailed("Invalid cursor.", field_errors={"cursor": ["not a cursor from this API"]}) from None


#: What a view hands to `paginate_queryset`: reads up to `limit` rows from `position` (None: the
#: newest), newest first when `position.newer` is false, oldest first when it is true. Rows are dicts
#: with `created_at` and `id`.
PageReader = Callable[[Position | None, int], list[dict]]


class KeysetPagination(BoundedParameters, CursorPagination):
    """Newest first by (created_at, id); pages are read by a `PageReader`, not from a queryset."""

    ordering = ("-created_at", "-id")  # documentation only (the reader orders)

    def paginate_queryset(self, queryset: PageReader, request, view=None) -> list[dict]:  # type: ignore[override]
        if not callable(queryset):
            raise TypeError("KeysetPagination reads pages through a PageReader(position, limit), not a queryset")
        self.request = request
        self.base_url = request.build_absolute_uri()
        self.page_size = self.get_page_size(request)
        raw = request.query_params.get(self.cursor_query_param)
        position = decode_position(raw) if raw else None
        rows = queryset(position, self.page_size + 1)
        if position is not None and position.newer and not rows:
            position, rows = None, queryset(None, self.page_size + 1)  # nothing newer left: the first page
        more = len(rows) > self.page_size
        rows = rows[: self.page_size]
        if position is not None and position.newer:
            rows.reverse()  # read oldest first from the position; served newest first
            # Back towards the newest: the older rows are where we came from; newer ones only if `more`.
            self.next_position = self._after(rows[-1])
            self.previous_position = self._before(rows[0]) if more else None
        else:
            self.next_position = self._after(rows[-1]) if more else None
            self.previous_position = self._before(rows[0]) if position is not None and rows else None
        self.has_next = self.next_position is not None  # for DRF's browsable-API template
        self.has_previous = self.previous_position is not None
        return rows

    @staticmethod
    def _after(row: dict) -> Position:
        return Position(row["created_at"], row["id"], newer=False)

    @staticmethod
    def _before(row: dict) -> Position:
        return Position(row["created_at"], row["id"], newer=True)

    def _link(self, position: Position | None) -> str | None:
        if position is None:
            return None
        return replace_query_param(self.base_url, self.cursor_query_param, encode_position(position))

    def get_next_link(self) -> str | None:
        return self._link(self.next_position)

    def get_previous_link(self) -> str | None:
        return self._link(self.previous_position)

    def get_paginated_response(self, data) -> Response:
        return Response({"next": self.get_next_link(), "previous": self.get_previous_link(), "results": data})
