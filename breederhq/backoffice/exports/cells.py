"""One exported value as a cell: integers kept, datetimes ISO 8601 UTC, text neutralised against
spreadsheet formula injection, money formatted with its currency."""

from __future__ import annotations

import re
from datetime import date, datetime

from breederhq.backoffice.ranges import iso_utc
from breederhq.money import Money

#: Control characters XML (hence XLSX) cannot hold and spreadsheets do not show; tab, LF, CR stay.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
#: A cell starting with one of these is read as a formula (or a DDE call) by spreadsheet programs.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: str) -> str:
    """Text safe for a spreadsheet: control characters (NUL included) removed, and a leading
    formula character escaped with an apostrophe, the mark spreadsheets read as "this is text"."""
    text = _CONTROL.sub("", text)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def cell(value):
    """One exported value: integers stay integers (amounts in minor units), datetimes become
    ISO 8601 UTC, dates ISO 8601, everything else neutralised text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return value
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, date):
        return value.isoformat()
    return neutralise(str(value))


def formatted(cents: int | None, currency: str) -> str:
    return "" if cents is None else Money(int(cents), currency).format()
