"""A database connection lost in the middle of a write: 503 problem+json with Retry-After, nothing
half-written, and a retry with the same Idempotency-Key creates the object once."""

from __future__ import annotations

import psycopg
import pytest
from django.db import connections

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.tenancy import tenant_context
from tenant_app.models import Invoice, InvoiceLineItem
from tests.api.conftest import bearer, send_json
from tests.factories.tenant import ContactFactory, TenantFactory

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB], transaction=True)


class TerminateOnFirstWrite:
    """An execute wrapper on the request's connection: at the first INSERT into `table`, another
    session ends this one with pg_terminate_backend, then the statement runs (and fails)."""

    def __init__(self, table: str):
        self.table, self.fired = table, False

    def __call__(self, execute, sql, params, many, context):
        if not self.fired and sql.lstrip().upper().startswith("INSERT") and f'"{self.table}"' in sql:
            self.fired = True
            connection = context["connection"]
            pid = connection.connection.info.backend_pid
            settings = connection.settings_dict
            with psycopg.connect(
                host=settings["HOST"],
                port=settings["PORT"] or None,
                dbname=settings["NAME"],
                user=settings["USER"],
                password=settings["PASSWORD"],
                autocommit=True,
            ) as other:
                other.execute("SELECT pg_terminate_backend(%s, 10000)", [pid])
        return execute(sql, params, many, context)


@pytest.mark.parametrize("table", ["invoices", "invoice_line_items"])
def test_a_connection_lost_mid_write_is_a_503_and_the_retry_with_the_same_key_writes_once(table):
    kennel = TenantFactory()
    with tenant_context(kennel.pk):
        contact = ContactFactory(tenant=kennel)
    client = bearer(kennel.owner_user)
    data = {"contact_id": contact.pk, "lines": [{"description": "Deposit", "unit_price_cents": 50_000}]}

    wrapper = TerminateOnFirstWrite(table)
    with connections[TENANT_DB].execute_wrapper(wrapper):
        lost = send_json(client, "post", "/api/v1/invoices/", data, **{"Idempotency-Key": "lost-1"})
    assert wrapper.fired
    assert lost.status_code == 503, lost.content
    assert lost["Content-Type"] == "application/problem+json"
    assert lost["Retry-After"]
    assert lost.json()["code"] == "database_unavailable"
    with tenant_context(kennel.pk):
        assert (Invoice.objects.count(), InvoiceLineItem.objects.count()) == (0, 0)  # nothing half-written

    retried = send_json(client, "post", "/api/v1/invoices/", data, **{"Idempotency-Key": "lost-1"})
    assert retried.status_code == 201, retried.content
    again = send_json(client, "post", "/api/v1/invoices/", data, **{"Idempotency-Key": "lost-1"})
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    with tenant_context(kennel.pk):
        assert (Invoice.objects.count(), InvoiceLineItem.objects.count()) == (1, 1)
