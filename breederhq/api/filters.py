"""Query-string filters that refuse what they cannot read (400), instead of ignoring it."""

from __future__ import annotations

from datetime import UTC

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema_field

from breederhq.money import BIGINT_MAX


class StrictBooleanField(forms.NullBooleanField):
    """`true`/`false` (or `1`/`0`); absent or empty: no filter; anything else is invalid."""

    widget = forms.TextInput

    def to_python(self, value):
        if value in (None, ""):
            return None
        text = str(value).strip().lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        raise ValidationError("must be true or false", code="invalid")

    def validate(self, value):
        pass


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


class UTCIsoDateTimeField(django_filters.fields.IsoDateTimeField):
    """An ISO 8601 time, sent to the database in UTC. PostgreSQL refuses an offset past +-15:59 that
    Python accepts (up to +-23:59); a time that leaves the calendar in UTC is invalid, not a 500."""

    def to_python(self, value):
        parsed = super().to_python(value)
        if parsed is None or parsed.tzinfo is None:
            return parsed
        try:
            return parsed.astimezone(UTC)
        except (OverflowError, ValueError):
            raise ValidationError("outside the range of times", code="invalid") from None


class UTCIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UTCIsoDateTimeField


class IdField(forms.IntegerField):
    """A row id: a whole number from 1 to the largest BIGINT. `1.5`, `1e308`, `-1` or a number past
    the column's range are invalid (400), not a float compared with a BIGINT column."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", BIGINT_MAX)
        super().__init__(*args, **kwargs)


@extend_schema_field({"type": "integer", "format": "int64", "minimum": 1, "maximum": BIGINT_MAX})
class IdFilter(django_filters.NumberFilter):
    """Filter by a related row's id (`?contact=12`)."""

    field_class = IdField
