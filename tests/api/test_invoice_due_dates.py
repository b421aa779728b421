"""An invoice's due date through the API, for both kinds: one name (`due_date`, a calendar date),
the marketplace's deprecated `due_at` alias, bad and out-of-range dates refused with a 400
problem+json (never a 5xx, nothing written), and the one overdue rule (breederhq/invoicing/due_dates.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.invoicing.due_dates import today
from breederhq.models import OutboundEmail
from breederhq.tenancy import tenant_context
from marketplace_app.models import MarketplaceInvoice
from tenant_app.models import Invoice
from tests.api.conftest import bearer, body, send_json
from tests.api.test_marketplace_endpoints import person, provider_with_login
from tests.api.test_marketplace_invoices import LINES, M
from tests.api.test_tenant_endpoints import INVOICES, invoice_url, new_invoice, patch
from tests.factories.marketplace import make_transaction
from tests.factories.tenant import ContactFactory

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])

#: Each is refused as `due_date` by both kinds: not a date, not a calendar date, or out of range.
BAD_DATES = [
    "2030-02-30",
    "31/01/2030",
    "2030-1-311",
    "tomorrow",
    "",
    "2030-01-31T10:00:00Z",
    20300131,
    ["2030-01-31"],
    {"date": "2030-01-31"},
    True,
    "2030-01-31\x00",
    "9" * 10_000,
    "99999-01-01",
    "0000-01-01",
    "-2030-01-01",
    "10000-01-01",
    "9999-12-31",
    "1999-12-31",
    "2200-01-01",
    "0001-01-01",
]
LAST_WEEK = (today() - timedelta(days=7)).isoformat()


@pytest.fixture
def breeder(two_tenants):
    """(tenant, its owner's client, a contact)."""
    tenant, _ = two_tenants
    with tenant_context(tenant.pk):
        contact = ContactFactory(tenant=tenant)
    return tenant, bearer(tenant.owner_user), contact


@pytest.fixture
def sale():
    """(the provider's client, the buyer's client, the buyer, an unbilled sale between them)."""
    provider_login, provider = provider_with_login()
    buyer_login, buyer = person()
    return bearer(provider_login), bearer(buyer_login), buyer, make_transaction(provider, buyer, amount_cents=8000)


def _problem(response, field: str) -> dict:
    assert response.status_code == 400, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    problem = body(response)
    assert problem["code"] == "validation_failed" and field in problem["errors"], problem
    return problem


def _marketplace_create(client, tx, **extra):
    return send_json(client, "post", f"{M}invoices/", {"transaction_id": tx.pk, "line_items": LINES, **extra})


class TestTenantInvoices:
    def test_create_with_a_due_date_read_it_back_and_edit_it(self, breeder):
        a, client, contact = breeder
        created = new_invoice(client, contact.pk, due_date="2030-01-31")
        assert created.status_code == 201, created.content
        invoice = body(created)
        assert (invoice["due_date"], invoice["is_overdue"]) == ("2030-01-31", False)
        assert body(client.get(invoice_url(invoice["id"])))["due_date"] == "2030-01-31"
        edited = patch(client, invoice["id"], {"version": 1, "due_date": "2031-02-28"})
        assert (edited.status_code, body(edited)["due_date"]) == (200, "2031-02-28")
        listed = body(client.get(INVOICES))["results"]
        assert [(i["id"], i["due_date"]) for i in listed] == [(invoice["id"], "2031-02-28")]
        with tenant_context(a.pk):
            assert Invoice.objects.get(pk=invoice["id"]).due_date == date(2031, 2, 28)

    @pytest.mark.parametrize("value", BAD_DATES)
    def test_a_bad_due_date_is_400_and_writes_nothing(self, breeder, value):
        a, client, contact = breeder
        _problem(new_invoice(client, contact.pk, due_date=value), "due_date")
        invoice_id = body(new_invoice(client, contact.pk, due_date="2030-01-31"))["id"]
        _problem(patch(client, invoice_id, {"version": 1, "due_date": value}), "due_date")
        with tenant_context(a.pk):
            assert list(Invoice.objects.values_list("id", "due_date", "version")) == [
                (invoice_id, date(2030, 1, 31), 1)
            ]

    def test_overdue_once_sent_with_a_past_due_date(self, breeder):
        _, client, contact = breeder
        past = body(new_invoice(client, contact.pk, due_date=LAST_WEEK))
        future = body(new_invoice(client, contact.pk, due_date="2030-01-31"))
        assert past["is_overdue"] is False  # a draft is not owed yet
        sent = patch(client, past["id"], {"action": "send", "version": 1})
        assert (body(sent)["due_date"], body(sent)["is_overdue"]) == (LAST_WEEK, True)
        patch(client, future["id"], {"action": "send", "version": 1})
        listed = {i["id"]: i["is_overdue"] for i in body(client.get(INVOICES))["results"]}
        assert listed == {past["id"]: True, future["id"]: False}
        voided = patch(client, past["id"], {"action": "void", "version": 2, "reason": "sent twice"})
        assert (voided.status_code, body(voided)["is_overdue"]) == (200, False)


class TestMarketplaceInvoices:
    def test_create_with_a_due_date_read_it_back_with_the_deprecated_alias(self, sale):
        provider_client, buyer_client, _, tx = sale
        created = _marketplace_create(provider_client, tx, due_date="2030-01-31")
        assert created.status_code == 201, created.content
        invoice = body(created)
        assert (invoice["due_date"], invoice["due_at"], invoice["is_overdue"]) == (
            "2030-01-31",
            "2030-01-31T00:00:00Z",
            False,
        )
        read = body(buyer_client.get(f"{M}invoices/{invoice['id']}/"))
        assert (read["due_date"], read["due_at"]) == ("2030-01-31", "2030-01-31T00:00:00Z")
        stored = MarketplaceInvoice.objects.using(MARKETPLACE_DB).get(pk=invoice["id"])
        assert (stored.due_date, stored.due_at) == (date(2030, 1, 31), datetime(2030, 1, 31, tzinfo=UTC))

    def test_the_deprecated_due_at_input_means_its_utc_date(self, sale):
        provider_client, _, _, tx = sale
        created = _marketplace_create(provider_client, tx, due_at="2030-01-31T23:30:00-05:00")
        assert created.status_code == 201, created.content
        assert (body(created)["due_date"], body(created)["due_at"]) == ("2030-02-01", "2030-02-01T00:00:00Z")

    @pytest.mark.parametrize(
        "extra, field",
        [
            ({"due_date": "2030-01-31", "due_at": "2030-02-05T12:00:00Z"}, "due_at"),
            ({"due_at": "9999-12-31T23:59:59-05:00"}, "due_at"),  # past year 9999 in UTC
            ({"due_at": "0001-01-01T00:00:00+05:00"}, "due_at"),  # before year 1 in UTC
            ({"due_at": "31/01/2030"}, "due_at"),
            ({"due_at": "1999-06-01T12:00:00Z"}, "due_date"),  # parses, but its date is out of range
            ({"due_at": "2299-06-01T12:00:00Z"}, "due_date"),
        ],
    )
    def test_a_bad_due_at_is_400_and_writes_nothing(self, sale, extra, field):
        provider_client, _, _, tx = sale
        _problem(_marketplace_create(provider_client, tx, **extra), field)
        assert not MarketplaceInvoice.objects.using(MARKETPLACE_DB).filter(transaction=tx).exists()

    @pytest.mark.parametrize("value", BAD_DATES)
    def test_a_bad_due_date_is_400_and_writes_nothing(self, sale, value):
        provider_client, _, _, tx = sale
        _problem(_marketplace_create(provider_client, tx, due_date=value), "due_date")
        assert not MarketplaceInvoice.objects.using(MARKETPLACE_DB).filter(transaction=tx).exists()
        tx.refresh_from_db(using=MARKETPLACE_DB)
        assert (tx.status, tx.invoice_id) == ("pending_invoice", None)

    def test_overdue_once_sent_and_the_email_names_the_due_date(self, sale):
        provider_client, buyer_client, buyer, tx = sale
        invoice = body(_marketplace_create(provider_client, tx, due_date=LAST_WEEK))
        assert invoice["is_overdue"] is False
        url = f"{M}invoices/{invoice['id']}/"
        sent = send_json(provider_client, "patch", url, {"action": "send", "version": 1})
        assert (sent.status_code, body(sent)["is_overdue"]) == (200, True)
        assert [i["is_overdue"] for i in body(buyer_client.get(f"{M}invoices/"))["results"]] == [True]
        email = OutboundEmail.objects.using(MARKETPLACE_DB).get(template="invoice_sent", to=[buyer.email])
        assert f"It is due on {LAST_WEEK}." in email.text_body and LAST_WEEK in email.html_body
        claimed = send_json(
            buyer_client, "patch", url, {"action": "mark_paid", "version": 2, "receipt_url": "https://files.test/r.pdf"}
        )
        assert (body(claimed)["status"], body(claimed)["is_overdue"]) == ("pending_confirmation", False)
