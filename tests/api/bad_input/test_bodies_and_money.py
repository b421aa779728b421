"""Bodies that are not JSON, malformed JSON, NUL and lone surrogates in JSON strings, and money past its
bounds (in the API and in the database's CHECK constraints)."""

from __future__ import annotations

import pytest

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.money import MAX_AMOUNT_CENTS, MAX_QUANTITY
from breederhq.tenancy import tenant_context
from tenant_app.models import Invoice
from tests.api.bad_input.conftest import PROBLEM
from tests.api.conftest import bearer, body, send_json
from tests.factories.marketplace import make_transaction

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])


# --- Bodies --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type,payload",
    [
        ("text/plain", "first_name=Ann"),
        ("application/x-www-form-urlencoded", "first_name=Ann"),
        (
            "multipart/form-data; boundary=xx",
            '--xx\r\nContent-Disposition: form-data; name="first_name"\r\n\r\nAnn\r\n--xx--\r\n',
        ),
        ("application/xml", "<contact/>"),
    ],
)
def test_a_body_that_is_not_json_is_a_415(world, content_type, payload):
    response = world["client"].post("/api/v1/contacts/", payload, content_type=content_type)
    assert response.status_code == 415, response.content
    assert response["Content-Type"] == PROBLEM
    assert body(response)["code"] == "unsupported_media_type"


@pytest.mark.parametrize("payload", ['{"first_name": ', "[1, 2", '{"a": NaN}', "[" * 100_000 + "]" * 100_000])
def test_malformed_json_is_a_400(world, payload):
    response = world["client"].post("/api/v1/contacts/", payload, content_type="application/json")
    assert response.status_code == 400, response.content[:300]
    assert response["Content-Type"] == PROBLEM


def test_nul_in_a_json_string_is_a_400_naming_the_field(world):
    client, contact = world["client"], world["contact"]
    response = send_json(
        client,
        "post",
        "/api/v1/invoices/",
        {
            "contact_id": contact.pk,
            "lines": [
                {"description": "ok", "unit_price_cents": 1},
                {"description": "bad\u0000", "unit_price_cents": 1},
            ],
        },
    )
    assert response.status_code == 400 and response["Content-Type"] == PROBLEM
    assert "lines[1].description" in body(response)["errors"]
    response = send_json(client, "post", "/api/v1/contacts/", {"first_name": "A", "notes": "x\u0000y"})
    assert response.status_code == 400 and "notes" in body(response)["errors"]


def test_a_lone_surrogate_in_a_json_string_or_key_is_a_400_naming_the_field(world):
    """JSON's \\ud800 escape decodes to a string no database encoding takes: 400, never a 500."""
    client = world["client"]
    response = send_json(client, "post", "/api/v1/contacts/", '{"first_name": "A", "notes": "x\\ud800y"}')
    assert response.status_code == 400 and response["Content-Type"] == PROBLEM
    assert "notes" in body(response)["errors"]
    response = send_json(client, "post", "/api/v1/contacts/", '{"first_name": "A", "n\\udc00": 1}')
    assert response.status_code == 400 and response["Content-Type"] == PROBLEM
    assert list(body(response)["errors"]) == ["n\\udc00"]


# --- Money bounds -------------------------------------------------------------------------------


def test_a_line_whose_total_passes_the_bound_is_a_400_not_a_bigint_overflow(world):
    client, contact = world["client"], world["contact"]
    response = send_json(
        client,
        "post",
        "/api/v1/invoices/",
        {
            "contact_id": contact.pk,
            "lines": [{"description": "x", "unit_price_cents": MAX_AMOUNT_CENTS, "quantity": MAX_QUANTITY}],
        },
    )
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == PROBLEM
    assert "lines[0].quantity" in body(response)["errors"]
    with tenant_context(world["tenant"].pk):
        assert not Invoice.objects.exists() or Invoice.objects.count() == 1  # the fixture's only


def test_lines_whose_sum_passes_the_bound_are_a_400(world):
    client, contact = world["client"], world["contact"]
    line = {"description": "x", "unit_price_cents": MAX_AMOUNT_CENTS // 2 + 1, "quantity": 1}
    response = send_json(client, "post", "/api/v1/invoices/", {"contact_id": contact.pk, "lines": [line, line]})
    assert response.status_code == 400 and "lines" in body(response)["errors"]
    # Each field inside the schema's bounds, the line totals and their sum past BIGINT.
    big = {"description": "x", "unit_price_cents": MAX_AMOUNT_CENTS, "quantity": MAX_QUANTITY}
    response = send_json(client, "post", "/api/v1/invoices/", {"contact_id": contact.pk, "lines": [big] * 2})
    assert response.status_code == 400
    at_bound = {"description": "x", "unit_price_cents": MAX_AMOUNT_CENTS, "quantity": 1}
    response = send_json(
        client, "post", "/api/v1/invoices/", {"contact_id": contact.pk, "lines": [at_bound], "tax_cents": 1}
    )
    assert response.status_code == 400 and "tax_cents" in body(response)["errors"]
    response = send_json(client, "post", "/api/v1/invoices/", {"contact_id": contact.pk, "lines": [at_bound]})
    assert response.status_code == 201, response.content
    assert body(response)["total_cents"] == MAX_AMOUNT_CENTS


def test_a_draft_update_past_the_bound_is_a_400(world):
    client = world["client"]
    invoice_id = world["ids"]["invoice_id"]
    current = body(client.get(f"/api/v1/invoices/{invoice_id}/"))
    response = send_json(
        client,
        "patch",
        f"/api/v1/invoices/{invoice_id}/",
        {"version": current["version"], "lines": [{"description": "x", "unit_price_cents": 10**13, "quantity": 10**6}]},
    )
    assert response.status_code == 400 and "lines[0].quantity" in body(response)["errors"]
    response = send_json(
        client,
        "patch",
        f"/api/v1/invoices/{invoice_id}/",
        {"version": current["version"], "tax_cents": MAX_AMOUNT_CENTS},
    )
    assert response.status_code == 400 and "tax_cents" in body(response)["errors"]


def test_a_marketplace_invoice_past_the_bound_is_a_400():
    from tests.api.test_marketplace_endpoints import provider_with_login

    login, provider = provider_with_login()
    tx = make_transaction(provider)
    client = bearer(login)
    big = {"description": "x", "unit_price_cents": MAX_AMOUNT_CENTS, "quantity": MAX_QUANTITY}
    response = send_json(
        client, "post", "/api/v1/marketplace/invoices/", {"transaction_id": tx.pk, "line_items": [big]}
    )
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == PROBLEM
    assert "line_items[0].quantity" in body(response)["errors"]
    half = {"description": "x", "unit_price_cents": MAX_AMOUNT_CENTS // 2 + 1}
    response = send_json(
        client, "post", "/api/v1/marketplace/invoices/", {"transaction_id": tx.pk, "line_items": [half, half]}
    )
    assert response.status_code == 400 and "line_items" in body(response)["errors"]


#: Each line's total fits BIGINT (4.7 * 10**18), their sum does not (9.4 * 10**18 > 2**63 - 1).
_NEAR_BIGINT_LINE = {"description": "x", "unit_price_cents": MAX_AMOUNT_CENTS, "quantity": 470_000}


def test_two_tenant_invoice_lines_that_fit_bigint_but_whose_sum_does_not_are_a_400_naming_the_field(world):
    client, contact = world["client"], world["contact"]
    with tenant_context(world["tenant"].pk):
        before = Invoice.objects.count()
    response = send_json(
        client, "post", "/api/v1/invoices/", {"contact_id": contact.pk, "lines": [_NEAR_BIGINT_LINE, _NEAR_BIGINT_LINE]}
    )
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == PROBLEM
    assert set(body(response)["errors"]) & {"lines", "lines[0].quantity", "lines[1].quantity"}
    with tenant_context(world["tenant"].pk):
        assert Invoice.objects.count() == before


def test_two_marketplace_invoice_lines_that_fit_bigint_but_whose_sum_does_not_are_a_400_naming_the_field():
    from marketplace_app.models import MarketplaceInvoice
    from tests.api.test_marketplace_endpoints import provider_with_login

    login, provider = provider_with_login()
    tx = make_transaction(provider)
    response = send_json(
        bearer(login),
        "post",
        "/api/v1/marketplace/invoices/",
        {"transaction_id": tx.pk, "line_items": [_NEAR_BIGINT_LINE, _NEAR_BIGINT_LINE]},
    )
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == PROBLEM
    assert set(body(response)["errors"]) & {"line_items", "line_items[0].quantity", "line_items[1].quantity"}
    assert not MarketplaceInvoice.objects.using(MARKETPLACE_DB).filter(transaction_id=tx.pk).exists()


def test_the_database_refuses_an_amount_past_the_bound_too(world):
    """The CHECK constraints (added NOT VALID: new writes checked, old rows not scanned)."""
    from django.db import IntegrityError, transaction

    from marketplace_app.models import ServiceListing

    with tenant_context(world["tenant"].pk), pytest.raises(IntegrityError, match="invoices_total_within_bound"):
        with transaction.atomic(using=TENANT_DB):
            Invoice.objects.filter(pk=world["ids"]["invoice_id"]).update(
                subtotal_cents=MAX_AMOUNT_CENTS + 1, total_cents=MAX_AMOUNT_CENTS + 1
            )
    with pytest.raises(IntegrityError, match="service_listings_price_within_bound"):
        with transaction.atomic(using=MARKETPLACE_DB):
            ServiceListing.objects.using(MARKETPLACE_DB).update(price_cents=MAX_AMOUNT_CENTS + 1)
