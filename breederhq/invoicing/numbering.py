"""Document numbers (`<prefix><6 digits>`) that never collide with numbers already taken.

A counter alone is not enough: imported invoices, a restored backup or a counter reset leave numbers
in the table the counter has not reached yet, and the next document would then hit the unique
constraint. Callers hold the lock that serialises numbering for the owner (the tenant's sequence
row, the provider row), take the counter's next value, and pass it here: it is used when free, and
otherwise the first free number after it is (the caller moves its counter there).
"""

from __future__ import annotations

from django.db.models import QuerySet


def format_number(prefix: str, value: int) -> str:
    return f"{prefix}{value:06d}"


def first_free_number(taken: QuerySet, field: str, *, prefix: str, start: int) -> int:
    """The smallest number >= `start` whose formatted form is not a value of `field` in `taken`
    (the owner's documents, deleted ones included). One indexed lookup when `start` is free; one
    read of the owner's numbers with this prefix otherwise (rare: only after an import)."""
    if not taken.filter(**{field: format_number(prefix, start)}).exists():
        return start
    used = set()
    for number in taken.filter(**{f"{field}__startswith": prefix}).values_list(field, flat=True):
        suffix = number[len(prefix) :]
        if suffix.isdigit():
            used.add(int(suffix))
    value = start
    while value in used:
        value += 1
    return value
