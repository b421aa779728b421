"""The OpenAPI schema: generated without a single warning, served, and documenting what clients need."""

from __future__ import annotations

import pytest
import yaml
from django.core.management import call_command
from django.test import Client


def test_the_schema_generates_without_warnings(tmp_path):
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--fail-on-warn", "--file", str(target))  # raises on any warning
    schema = yaml.safe_load(target.read_text())
    paths = schema["paths"]
    for path in ("/api/v1/auth/token/", "/api/v1/auth/token/refresh/", "/api/v1/auth/token/revoke/",
                 "/api/v1/contacts/", "/api/v1/contacts/{contact_id}/", "/api/v1/invoices/",
                 "/api/v1/invoices/{invoice_id}/", "/api/v1/invoices/{invoice_id}/receipt/", "/api/v1/payments/",
                 "/api/v1/marketplace/listings/", "/api/v1/marketplace/transactions/",
                 "/api/v1/marketplace/threads/{thread_id}/messages/", "/api/v1/marketplace/blocks/",
                 "/api/v1/marketplace/providers/", "/api/v1/marketplace/invoices/{invoice_id}/receipt/"):
        assert path in paths, path
    patch = paths["/api/v1/invoices/{invoice_id}/"]["patch"]
    assert {p["name"] for p in patch["parameters"]} >= {"If-Match", "Idempotency-Key", "invoice_id"}
    assert set(patch["responses"]) >= {"200", "400", "403", "404", "409", "422"}
    assert patch["responses"]["409"]["content"]["application/problem+json"]["schema"]["$ref"].endswith("/Problem")
    assert schema["components"]["schemas"]["PatchedInvoicePatch"]["properties"]["action"]["$ref"].endswith("ActionEnum")
    providers = paths["/api/v1/marketplace/providers/"]["get"]
    assert {p["name"] for p in providers["parameters"]} >= {"q", "kind", "category", "city", "state", "order", "page"}
    assert providers["security"] == [{}]  # anonymous
    receipt = paths["/api/v1/marketplace/invoices/{invoice_id}/receipt/"]["post"]
    assert set(receipt["requestBody"]["content"]) == {"multipart/form-data"}
    assert set(receipt["responses"]) >= {"200", "400", "404", "409", "413", "422"}
    mark_paid = schema["components"]["schemas"]["PatchedMarketplaceInvoicePatch"]["properties"]["receipt_url"]
    assert mark_paid["deprecated"] is True  # kept working for older clients; new ones upload the file
    me = paths["/api/v1/marketplace/providers/me/"]["patch"]
    assert {p["name"] for p in me["parameters"]} >= {"If-Match", "Idempotency-Key"}
    assert "jwtAuth" in schema["components"]["securitySchemes"]
    assert {"InvoiceStatusEnum", "TransactionStatusEnum", "ContactKindEnum"} <= set(schema["components"]["schemas"])


@pytest.mark.django_db(databases=["default", "marketplace"])
def test_the_schema_is_served():
    response = Client().get("/api/v1/schema/")
    assert response.status_code == 200
    assert b"/api/v1/invoices/" in response.content
