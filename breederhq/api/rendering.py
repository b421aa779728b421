"""Rendering the hot lists' rows by hand: the pieces shared by the apps' `*_rows_out` functions,
which build exactly what their schema serializers (ListingOut, TransactionOut, MessageOut, ContactOut)
would give, without walking DRF's fields per row and per value."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from django.utils import timezone
from rest_framework import serializers

_DATETIME = serializers.DateTimeField()


def datetime_renderer() -> Callable[[datetime | None], str | None]:
    """DRF's DateTimeField.to_representation for aware values (what the database returns), with the
    current time zone looked up once per list instead of once per value."""
    zone = timezone.get_current_timezone()

    def render(value):
        if value is None:
            return None
        if value.tzinfo is None:
            return _DATETIME.to_representation(value)
        text = value.astimezone(zone).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return render
