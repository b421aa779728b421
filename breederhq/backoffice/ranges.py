"""Date ranges chosen by staff (finance exports, dashboard periods): whole UTC days, `from` and `to`
inclusive, turned into a half-open interval of aware datetimes `[start, end)`.

Bad input (unparseable dates, `from` after `to`, years the arithmetic cannot reach) is a form
error with a clear message, never an exception out of the view.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django import forms

#: Dates outside these years are refused: they name nothing the platform holds, and a previous
#: period (or the end of the last day) computed from them must stay a valid datetime.
FIRST_YEAR, LAST_YEAR = 2000, 9000


@dataclass(frozen=True)
class DateRange:
    start: datetime  # inclusive, UTC
    end: datetime  # exclusive, UTC

    @classmethod
    def from_days(cls, first: date, last: date) -> DateRange:
        return cls(
            datetime.combine(first, time.min, tzinfo=UTC),
            datetime.combine(last, time.min, tzinfo=UTC) + timedelta(days=1),
        )

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def first_day(self) -> date:
        return self.start.date()

    @property
    def last_day(self) -> date:
        return (self.end - timedelta(days=1)).date()

    def previous(self) -> DateRange:
        """The period of the same length just before this one."""
        return DateRange(self.start - (self.end - self.start), self.start)

    def describe(self) -> str:
        return f"{self.first_day.isoformat()}..{self.last_day.isoformat()} (UTC)"


def clean_range(first: date | None, last: date | None) -> DateRange:
    """The range of two validated dates, or forms.ValidationError saying what is wrong."""
    if first is None or last is None:
        raise forms.ValidationError("Give both dates (from and to).", code="range_incomplete")
    for day in (first, last):
        if not FIRST_YEAR <= day.year <= LAST_YEAR:
            raise forms.ValidationError(
                f"Dates must lie between the years {FIRST_YEAR} and {LAST_YEAR}.", code="range_out_of_bounds"
            )
    if first > last:
        raise forms.ValidationError("The start date is after the end date.", code="range_reversed")
    return DateRange.from_days(first, last)


def iso_utc(value: datetime | None) -> str:
    """ISO 8601 in UTC, to the second, with a Z (empty for no value)."""
    if value is None:
        return ""
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
