"""The OpenAPI schema: generated without a single warning, served, and documenting what clients need."""

from __future__ import annotations

import pytest
import yaml
from django.core.management import call_command
from django.test import Client

from breederhq.databases import MARKETPLACE_DB, TENANT_DB


def test_the_schema_generates_without_warnings(tmp_path):
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--fail-on-warn", "--file", str(target))  # raises on any warning
    schema = yaml.safe_load(target.read_text())
    paths = schema["paths"]
    for path in (
        "/api/v1/auth/token/",
        "/api/v1/auth/token/refresh/",
        "/api/v1/auth/token/revoke/",
        "/api/v1/contacts/",
        "/api/v1/contacts/{contact_id}/",
        "/api/v1/invoices/",
        "/api/v1/invoices/{invoice_id}/",
        "/api/v1/invoices/{invoice_id}/receipt/",
        "/api/v1/payments/",
        "/api/v1/marketplace/listings/",
        "/api/v1/marketplace/transactions/",
        "/api/v1/marketplace/threads/{thread_id}/messages/",
        "/api/v1/marketplace/blocks/",
        "/api/v1/marketplace/providers/",
        "/api/v1/marketplace/invoices/{invoice_id}/receipt/",
    ):
        assert path in paths, path
    for receipt_path in (
        "/api/v1/invoices/{invoice_id}/receipt/",
        "/api/v1/marketplace/invoices/{invoice_id}/receipt/",
        "/api/v1/marketplace/transactions/{transaction_id}/receipt/",
    ):
        download = paths[receipt_path]["get"]["responses"]
        assert set(download["200"]["content"]) == {"application/pdf", "image/png", "image/jpeg", "image/webp"}
        assert set(download["404"]["content"]) == {"application/problem+json"}
    patch = paths["/api/v1/invoices/{invoice_id}/"]["patch"]
    assert {p["name"] for p in patch["parameters"]} >= {"If-Match", "Idempotency-Key", "invoice_id"}
    assert set(patch["responses"]) >= {"200", "400", "403", "404", "409", "422"}
    assert patch["responses"]["409"]["content"]["application/problem+json"]["schema"]["$ref"].endswith("/Problem")
    assert schema["components"]["schemas"]["InvoicePatch"]["properties"]["action"]["$ref"].endswith("ActionEnum")
    purchase = paths["/api/v1/marketplace/transactions/"]["post"]
    assert {(p["name"], p["required"]) for p in purchase["parameters"]} == {("Idempotency-Key", True)}
    assert set(purchase["responses"]) >= {"201", "400", "401", "403", "409", "410", "422"}
    assert "results" not in str(purchase["responses"]["201"])  # one purchase, not a page
    providers = paths["/api/v1/marketplace/providers/"]["get"]
    assert {p["name"] for p in providers["parameters"]} >= {"q", "kind", "category", "city", "state", "order", "page"}
    assert providers["security"] == [{}]  # anonymous
    receipt = paths["/api/v1/marketplace/invoices/{invoice_id}/receipt/"]["post"]
    assert set(receipt["requestBody"]["content"]) == {"multipart/form-data"}
    assert set(receipt["responses"]) >= {"200", "400", "404", "409", "413", "422"}
    mark_paid = schema["components"]["schemas"]["MarketplaceInvoicePatch"]["properties"]["receipt_url"]
    assert mark_paid["deprecated"] is True  # kept working for older clients; new ones upload the file
    me = paths["/api/v1/marketplace/providers/me/"]["patch"]
    assert {p["name"] for p in me["parameters"]} >= {"If-Match", "Idempotency-Key"}
    for card_path in (
        "/api/v1/marketplace/invoices/{invoice_id}/card-payment/",
        "/api/v1/marketplace/transactions/{transaction_id}/card-payment/",
    ):
        card = paths[card_path]["post"]
        assert set(card["responses"]) >= {"200", "401", "403", "404", "409", "503"}, card_path
        assert "client_secret" in str(card["responses"]["200"])
    billing = paths["/api/v1/invoices/from-marketplace-transaction/"]["post"]
    assert set(billing["responses"]) >= {"201", "400", "403", "404", "409"}
    assert "already_invoiced" in billing["responses"]["409"]["description"]
    assert "jwtAuth" in schema["components"]["securitySchemes"]
    assert {"InvoiceStatusEnum", "TransactionStatusEnum", "ContactKindEnum"} <= set(schema["components"]["schemas"])


@pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])
def test_the_schema_is_served():
    response = Client().get("/api/v1/schema/")
    assert response.status_code == 200
    assert b"/api/v1/invoices/" in response.content


#: GETs of one object whose path does not end in an id.
SINGLE_OBJECT_PATHS = {
    "/api/v1/auth/me/",
    "/api/v1/tenants/me/",
    "/api/v1/marketplace/providers/me/",
    "/api/v1/marketplace/me/",
    "/api/v1/invoices/{invoice_id}/dispute/",
    "/api/v1/marketplace/invoices/{invoice_id}/dispute/",
    # A listing's image set: one object, at most LISTING_IMAGES_PER_LISTING images.
    "/api/v1/marketplace/providers/me/listings/{listing_id}/images/",
    "/api/v1/tenants/me/payment-settings/",
    "/api/v1/tenants/me/stripe-account/",
    "/api/v1/marketplace/providers/me/payment-settings/",
    "/api/v1/marketplace/providers/me/stripe-account/",
}


def _generated():
    """The schema as served, and the view behind each (path, method)."""
    from drf_spectacular.generators import SchemaGenerator

    generator = SchemaGenerator(api_version="v1")
    schema = generator.get_schema(request=None, public=True)
    views = {(path, method.lower()): view for path, _regex, method, view in generator._get_paths_and_endpoints()}
    return schema, views


def _resolve(schema, node):
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def test_every_list_operation_documents_its_filters_pages_and_envelope():
    """A GET not ending in an id is a list: its filterset, ordering and page/cursor parameters are in the
    schema, its 200 is the paginated envelope, and its errors stay problem+json (a generated client
    needs all three). Covers list endpoints added later without naming them."""
    schema, views = _generated()
    lists = [
        path
        for path, item in schema["paths"].items()
        if "get" in item
        and not path.rstrip("/").rsplit("/", 1)[-1].startswith("{")
        and path not in SINGLE_OBJECT_PATHS
        and "application/json" in item["get"]["responses"]["200"]["content"]
    ]  # not a file download
    assert {
        "/api/v1/contacts/",
        "/api/v1/invoices/",
        "/api/v1/payments/",
        "/api/v1/marketplace/transactions/",
        "/api/v1/marketplace/threads/",
        "/api/v1/marketplace/blocks/",
        "/api/v1/marketplace/invoices/",
        "/api/v1/marketplace/listings/",
        "/api/v1/marketplace/providers/",
        "/api/v1/tenants/me/money-movements/",
        "/api/v1/marketplace/providers/me/money-movements/",
    } <= set(lists)
    for path in lists:
        operation, view = schema["paths"][path]["get"], views[(path, "get")]
        query = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        paginator = view.pagination_class() if view.pagination_class else None
        expected = {"page_size"} | (
            {"cursor"} if paginator is None or hasattr(paginator, "cursor_query_param") else {"page"}
        )
        filterset = getattr(view, "filterset_class", None)
        if filterset is not None:
            expected |= set(filterset.base_filters)
        assert expected <= query, (path, sorted(expected - query))
        envelope = _resolve(schema, operation["responses"]["200"]["content"]["application/json"]["schema"])
        properties = envelope["properties"]
        assert properties["results"]["type"] == "array", path
        assert {"next"} | ({"previous"} if paginator else set()) <= set(properties), path
        errors = [status for status in operation["responses"] if status.startswith("4")]
        assert errors, path
        for status in errors:
            assert set(operation["responses"][status]["content"]) == {"application/problem+json"}, (path, status)
    for path in SINGLE_OBJECT_PATHS:  # and the singletons stay single objects, without list parameters
        operation = schema["paths"][path]["get"]
        assert not {p["name"] for p in operation.get("parameters", [])} & {"page", "cursor", "page_size"}, path
        assert "results" not in _resolve(
            schema, operation["responses"]["200"]["content"]["application/json"]["schema"]
        ).get("properties", {}), path


def test_list_parameters_are_typed_from_their_filters():
    schema, _views = _generated()
    invoices = {p["name"]: p for p in schema["paths"]["/api/v1/invoices/"]["get"]["parameters"]}
    assert invoices["created_after"]["schema"] == {"type": "string", "format": "date-time"}
    assert invoices["page"]["schema"]["type"] == "integer"
    assert {"created_at", "-total_cents"} <= set(invoices["ordering"]["schema"]["items"]["enum"])
    providers = {p["name"]: p for p in schema["paths"]["/api/v1/marketplace/providers/"]["get"]["parameters"]}
    assert set(providers["kind"]["schema"]["enum"]) == {"breeder", "service_provider"}
    assert "popular" in providers["order"]["schema"]["enum"]
