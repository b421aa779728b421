"""One overdue rule for both invoice kinds (breederhq/invoicing/due_dates.py): the same invoices, run
through each kind's services, are overdue or not alike; the rule as a row test (the API's
`is_overdue`) and as a queryset filter (both admins' "overdue" filter) pick the same rows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.urls import reverse

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.errors import ValidationFailed
from breederhq.invoicing.due_dates import (
    check_due_date,
    due_date_of_instant,
    instant_of_due_date,
    is_overdue,
    overdue_q,
    today,
)
from tenant_app.models import User
from tests.backoffice.conftest import work_on
from tests.invoicing.test_lifecycle_both_kinds import DRIVERS
from tests.staff import staff_login

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])

CHANGELISTS = {
    "tenant_invoice": "admin:tenant_app_invoice_changelist",
    "marketplace_invoice": "admin:marketplace_app_marketplaceinvoice_changelist",
}


def _invoice(driver, *, due: date | None, steps=("send",)) -> int:
    pk = driver.create(5000)
    driver.kind.queryset().filter(pk=pk).update(due_date=due)  # a draft: as its API would set it
    for step in steps:
        getattr(driver, step)(pk)
    return pk


@pytest.mark.parametrize("driver_class", DRIVERS)
def test_the_same_invoices_are_overdue_in_both_kinds(driver_class, client):
    driver = driver_class()
    past, now = today() - timedelta(days=3), today()
    try:
        cases = {
            "draft, past due": (_invoice(driver, due=past, steps=()), False),
            "sent, past due": (_invoice(driver, due=past), True),
            "sent, due today": (_invoice(driver, due=now), False),
            "sent, due later": (_invoice(driver, due=now + timedelta(days=1)), False),
            "sent, no due date": (_invoice(driver, due=None), False),
            "payment claimed": (_invoice(driver, due=past, steps=("send", "claim")), False),
            "claim rejected": (_invoice(driver, due=past, steps=("send", "claim", "reject")), True),
            "paid": (_invoice(driver, due=past, steps=("send", "claim", "confirm")), False),
            "void": (_invoice(driver, due=past, steps=("send", "void")), False),
        }
        rows = {i.pk: i for i in driver.kind.queryset().filter(pk__in=[pk for pk, _ in cases.values()])}
        by_rule = {
            name: is_overdue(status=rows[pk].status, due_date=rows[pk].due_date) for name, (pk, _) in cases.items()
        }
        assert by_rule == {name: expected for name, (_, expected) in cases.items()}
        filtered = set(driver.kind.queryset().filter(overdue_q()).values_list("pk", flat=True))
        assert filtered == {pk for pk, expected in cases.values() if expected}
        # The back office's filter is the same rule.
        staff = User.objects.create_superuser(username="root@x.test", email="root@x.test", password="pw-123456789")
        staff_client = staff_login(client, staff)
        if hasattr(driver, "contact"):  # tenant rows: through the audited "work on tenant" path
            work_on(staff_client, driver.contact.tenant, reason="overdue invoices")
        for value, expected in (("yes", filtered), ("no", {pk for pk, _ in cases.values()} - filtered)):
            page = staff_client.get(reverse(CHANGELISTS[driver.kind.name]), {"overdue": value})
            assert page.status_code == 200
            assert {row.pk for row in page.context["cl"].result_list} == expected
    finally:
        driver.close()


def test_the_conversions_between_the_old_instant_and_the_date_agree():
    assert due_date_of_instant(datetime(2030, 1, 31, 23, 30, tzinfo=UTC) + timedelta(hours=1)) == date(2030, 2, 1)
    assert instant_of_due_date(date(2030, 1, 31)) == datetime(2030, 1, 31, tzinfo=UTC)
    for day in (date(2000, 1, 1), date(2030, 6, 15), date(2199, 12, 31)):
        assert due_date_of_instant(instant_of_due_date(day)) == day == check_due_date(day)
    assert due_date_of_instant(None) is None and instant_of_due_date(None) is None and check_due_date(None) is None
    for bad in (date(1999, 12, 31), date(2200, 1, 1), datetime(2030, 1, 1, tzinfo=UTC), "2030-01-01"):
        with pytest.raises(ValidationFailed) as refused:
            check_due_date(bad)
        assert refused.value.field_errors.keys() == {"due_date"}
