"""The one set of reconciliation states, shared by tenant invoices, marketplace invoices and the
payment rows (`invoice_payments`, reconciliation items) that collect them.

What a webhook or the reconciliation with Stripe concluded about one invoice:
- pending: not compared with Stripe yet (nothing writes it today; kept so "not checked" is sayable);
- synced: Stripe and we agree (the default: nothing known to disagree);
- mismatch: both sides exist but disagree (amount, currency, fee, paid or not);
- missing_remote: we hold a Stripe object id that Stripe does not know;
- missing_local: Stripe holds an object for one of our invoices that we have no record of;
- resolved: a disagreement that support staff looked at and closed (admin action, audited).
"""

from django.db import models


class ReconciliationStatus(models.TextChoices):
    PENDING = "pending", "Not checked yet"
    SYNCED = "synced", "Agrees with Stripe"
    MISMATCH = "mismatch", "Disagrees with Stripe"
    MISSING_REMOTE = "missing_remote", "Not found in Stripe"
    MISSING_LOCAL = "missing_local", "In Stripe, not here"
    RESOLVED = "resolved", "Disagreement resolved by staff"


#: The states that ask staff to look (and that the "resolve" admin action closes).
DISAGREEMENTS = frozenset(
    {ReconciliationStatus.MISMATCH, ReconciliationStatus.MISSING_REMOTE, ReconciliationStatus.MISSING_LOCAL}
)


def reconciliation_status_check(field: str = "reconciliation_status", *, name: str) -> models.CheckConstraint:
    """The CHECK constraint every table with a reconciliation state carries: the same values."""
    return models.CheckConstraint(condition=models.Q(**{f"{field}__in": ReconciliationStatus.values}), name=name)
