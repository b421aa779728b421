"""An invoice's due date, for both kinds: one name (`due_date`), one meaning and one overdue rule.

The due date is a calendar date with no time of day (a DATE column, `AbstractInvoice.due_date`).
Marketplace invoices used to store an instant instead (`due_at`, a timestamp); while that column is
still there (expand/contract: docs/architecture/invoices-and-payments.md) it is derived from the
date, and the date of an old instant is its date in UTC, the platform's time zone
(config/settings/base.py). Both conversions live here, so the backfill, the services and the API's
deprecated `due_at` alias agree.

An invoice is overdue when it is sent, nobody has claimed a payment for it yet (a claim waiting for
the seller's confirmation is not overdue), and its due date is before today (UTC): the whole due date
is the buyer's to pay in.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from django.db.models import Q
from django.utils import timezone

from breederhq.errors import ValidationFailed
from breederhq.invoicing.status import InvoiceStatus

#: The range a due date may be set in (inclusive); anything else is a typo or a probe, refused with a 400.
EARLIEST_DUE_DATE = date(2000, 1, 1)
LATEST_DUE_DATE = date(2199, 12, 31)
DUE_DATE_HELP = (
    f"A calendar date (YYYY-MM-DD), from {EARLIEST_DUE_DATE.isoformat()} to "
    f"{LATEST_DUE_DATE.isoformat()}. The invoice is overdue from the next day (UTC) while unpaid."
)

OVERDUE_HELP = "Sent, no payment claimed or taken, and the due date is before today (UTC)."

#: The statuses an invoice can be overdue in: issued, and no payment claimed or taken.
OVERDUE_STATUSES = frozenset({InvoiceStatus.SENT})


def check_due_date(value: date | None, *, field: str = "due_date") -> date | None:
    """`value` if it is None or in range; else ValidationFailed (400 `validation_failed`) naming `field`."""
    if value is None:
        return None
    if isinstance(value, datetime) or not isinstance(value, date):
        raise ValidationFailed(f"{field}: a calendar date is expected.", field_errors={field: ["not a date"]})
    if not EARLIEST_DUE_DATE <= value <= LATEST_DUE_DATE:
        raise ValidationFailed(
            f"{field}: {value.isoformat()} is outside {EARLIEST_DUE_DATE.isoformat()}..{LATEST_DUE_DATE.isoformat()}.",
            field_errors={field: [f"must be from {EARLIEST_DUE_DATE.isoformat()} to {LATEST_DUE_DATE.isoformat()}"]},
        )
    return value


def due_date_of_instant(value: datetime | None) -> date | None:
    """The due date an old `due_at` instant means: its date in UTC (what the backfill writes)."""
    if value is None:
        return None
    if timezone.is_naive(value):
        value = timezone.make_aware(value, UTC)
    return value.astimezone(UTC).date()


def instant_of_due_date(value: date | None) -> datetime | None:
    """The `due_at` written alongside a due date while both columns exist: the date's midnight UTC,
    whose UTC date is the due date again."""
    if value is None:
        return None
    return datetime.combine(value, time.min, tzinfo=UTC)


def today() -> date:
    """Today in UTC, the day the overdue rule compares with."""
    return timezone.now().astimezone(UTC).date()


def is_overdue(*, status: str, due_date: date | None, on: date | None = None) -> bool:
    """The overdue rule for one invoice of either kind, `on` a day (default: today, UTC)."""
    if due_date is None or status not in OVERDUE_STATUSES:
        return False
    return due_date < (on or today())


def overdue_q(*, on: date | None = None) -> Q:
    """The same rule as a queryset filter, for either kind's model."""
    return Q(status__in=OVERDUE_STATUSES, due_date__lt=on or today())
