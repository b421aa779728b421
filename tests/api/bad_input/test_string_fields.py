"""A JSON body's value for a string field must be a JSON string (breederhq/api/strict_fields.py): a
number, `true` or `false` there is a 400 `validation_failed` naming the field, and nothing is written.
Every write operation of the served schema is walked, so a new endpoint is covered by itself."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from django.http import QueryDict
from django.test import Client
from rest_framework import serializers

from breederhq.api.params import validated
from breederhq.api.strict_fields import NOT_A_STRING, install, installed
from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.tenancy import tenant_context
from marketplace_app.api.listing_search import ListingSearchParams
from marketplace_app.models import MarketplaceTransaction, ServiceListing
from tenant_app.models import Contact, TenantMembership
from tests.api.bad_input.conftest import PROBLEM
from tests.api.conftest import body, send_json

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])


# --- The example: a contact's city -------------------------------------------------------------------


@pytest.mark.parametrize("value", [63461, 63461.0, True, False])
def test_a_number_or_boolean_for_a_contacts_city_is_a_400_and_nothing_is_written(world, value):
    client, tenant = world["client"], world["tenant"]
    with tenant_context(tenant.pk):
        before = Contact.objects.count()
    response = send_json(client, "post", "/api/v1/contacts/", {"first_name": "Ann", "city": value})
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == PROBLEM
    problem = body(response)
    assert problem["code"] == "validation_failed"
    assert problem["errors"] == {"city": [NOT_A_STRING]}
    with tenant_context(tenant.pk):
        assert Contact.objects.count() == before


def test_a_number_in_a_contact_patch_changes_nothing(world):
    client, tenant, contact = world["client"], world["tenant"], world["contact"]
    response = send_json(client, "patch", f"/api/v1/contacts/{contact.pk}/", {"postal_code": 12345, "kind": 1})
    assert response.status_code == 400, response.content
    assert body(response)["errors"] == {"postal_code": [NOT_A_STRING], "kind": [NOT_A_STRING]}
    with tenant_context(tenant.pk):
        assert Contact.objects.get(pk=contact.pk).postal_code == contact.postal_code


def test_the_same_body_with_strings_is_accepted(world):
    response = send_json(world["client"], "post", "/api/v1/contacts/", {"first_name": "Ann", "city": "63461"})
    assert response.status_code == 201, response.content
    assert body(response)["city"] == "63461"


def test_query_parameters_are_strings_and_still_read(world):
    """Query parameters arrive as text: the listing search's CharField, ChoiceField and ListField of
    CharField filters read them as before."""
    query = "city=12345&state=1&category=grooming&metadata_keys=1&metadata_keys=2&q=2&order=newest"
    response = Client().get(f"/api/v1/marketplace/listings/?{query}")
    assert response.status_code == 200, response.content
    params = QueryDict(query)  # and through the serializer itself (the search reads plain values without it)
    data = {**params.dict(), "metadata_keys": params.getlist("metadata_keys")}
    assert validated(ListingSearchParams, data) == {
        "city": "12345",
        "state": "1",
        "category": "grooming",
        "metadata_keys": ["1", "2"],
        "q": "2",
        "order": "newest",
    }


def test_numeric_fields_and_number_choices_keep_accepting_numbers():
    assert installed()
    wrapped = serializers.CharField.to_internal_value
    install()  # again: nothing changes (wrapped once)
    assert serializers.CharField.to_internal_value is wrapped

    class Numbers(serializers.Serializer):
        count = serializers.IntegerField()
        size = serializers.ChoiceField(choices=[1, 2, 3])
        words = serializers.ChoiceField(choices=["a", "b"])

    accepted = Numbers(data={"count": "7", "size": 2, "words": "a"})
    assert accepted.is_valid(), accepted.errors
    assert dict(accepted.validated_data) == {"count": 7, "size": 2, "words": "a"}
    refused = Numbers(data={"count": 7, "size": "2", "words": 1})
    assert not refused.is_valid()
    assert {field: [str(m) for m in messages] for field, messages in refused.errors.items()} == {
        "words": [NOT_A_STRING]
    }


# --- Every write operation of the served schema -------------------------------------------------------

NUMBER = 63461

#: A field the schema gives a date or time format keeps its own message (it names the format).
_TIME_FORMATS = {"date", "date-time", "time", "duration"}
#: The currency enum refuses anything but one of its codes with its own problem code
#: (breederhq/api/currency_field.py), still a 400 naming the field.
_ENUM_CODES = {"CurrencyEnum": "unsupported_currency"}


def _schema() -> dict:
    return json.loads(Client().get("/api/v1/schema/?format=json", HTTP_HOST="localhost").content)


def _string_properties(schema: dict, node: dict) -> list[tuple[str, object, str | None, str | None]]:
    """Every string property of a request body's schema: its name as problem documents write it
    (`lines[0].description`), a body that puts NUMBER there and nothing else, its `format`, and the
    component it refers to (an enum's name), if any."""
    components = schema["components"]["schemas"]

    def resolve(node):
        while "$ref" in node:
            node = components[node["$ref"].rsplit("/", 1)[-1]]
        return node

    def branches(node):
        """A nullable property's branches but its null, or the property itself (unresolved)."""
        resolved = resolve(node)
        either = resolved.get("oneOf", resolved.get("anyOf", []))
        return [b for b in either if resolve(b).get("enum") != [None]] or [node]

    found = []

    def walk(node, name, place):
        while len(node.get("allOf", ())) == 1:  # a reference with a description of its own
            node = node["allOf"][0]
        kinds = branches(node)
        if {resolve(b).get("type") for b in kinds} == {"string"}:
            ref = next((b["$ref"].rsplit("/", 1)[-1] for b in kinds if "$ref" in b), None)
            found.append((name, place(NUMBER), next((resolve(b).get("format") for b in kinds), None), ref))
            return
        node = resolve(node)
        for part in node.get("allOf", []):
            walk(part, name, place)
        if node.get("type") == "array":
            walk(node.get("items", {}), f"{name}[0]", lambda value: place([value]))
        elif node.get("type") == "object" or "properties" in node:
            for key, inner in node.get("properties", {}).items():
                if not resolve(inner).get("readOnly"):
                    walk(inner, f"{name}.{key}" if name else key, lambda value, key=key: place({key: value}))

    walk(node, "", lambda value: value)
    return found


def _json_writes() -> list[tuple[str, str, str, object, str | None, str | None]]:
    schema = _schema()
    return [
        (method.upper(), path, *found)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if method in ("post", "put", "patch")
        and "application/json" in (operation.get("requestBody") or {}).get("content", {})
        for found in _string_properties(schema, operation["requestBody"]["content"]["application/json"]["schema"])
    ]


WRITES = _json_writes()

_EVIDENCE = "needs a disputed invoice (see tests/api/test_dispute_evidence.py, which sends numbers there)"
#: Operations that refuse the signed-in breeder owner before they read the body, for the reason given;
#: the status they answer instead. Every other operation must answer the 400.
EARLIER_REFUSALS: dict[tuple[str, str], tuple[int, str]] = {
    ("POST", "/api/v1/invoices/{invoice_id}/dispute/evidence/"): (404, _EVIDENCE),
    ("POST", "/api/v1/marketplace/invoices/{invoice_id}/dispute/evidence/"): (
        403,
        _EVIDENCE + "; the owner is the buyer of this one",
    ),
}


def test_the_walk_finds_the_string_fields():
    fields = {(method, path, field) for method, path, field, *_ in WRITES}
    assert {
        ("POST", "/api/v1/contacts/", "city"),
        ("POST", "/api/v1/contacts/", "kind"),
        ("POST", "/api/v1/invoices/", "lines[0].description"),
        ("POST", "/api/v1/invoices/", "currency"),
        ("POST", "/api/v1/auth/token/", "email"),
        ("PATCH", "/api/v1/marketplace/invoices/{invoice_id}/", "receipt_url"),
        ("POST", "/api/v1/marketplace/invoices/", "due_at"),
    } <= fields
    assert not {field for _, _, field, *_ in WRITES} & {"version", "contact_id", "price_cents", "tax_cents"}
    assert set(EARLIER_REFUSALS) <= {(method, path) for method, path, *_ in WRITES}


def _ids(world) -> dict:
    tenant, provider = world["tenant"], world["provider"]
    with tenant_context(tenant.pk):
        membership = TenantMembership.objects.get(tenant=tenant, user=tenant.owner_user)
    return {
        **world["ids"],
        "contact_id": world["contact"].pk,
        "membership_id": membership.pk,
        "listing_id": ServiceListing.objects.using(MARKETPLACE_DB).filter(provider=provider).first().pk,
        "transaction_id": MarketplaceTransaction.objects.using(MARKETPLACE_DB).filter(provider=provider).first().pk,
    }


def _url(path: str, ids: dict) -> str:
    def fill(match):
        name = match.group(1)
        if name == "invoice_id" and path.startswith("/api/v1/marketplace/"):
            name = "marketplace_invoice_id"
        assert name in ids, f"a new path parameter {{{name}}}: give _ids() a row for it"
        return str(ids[name])

    return re.sub(r"\{(\w+)\}", fill, path)


@pytest.mark.parametrize(
    "method,path,field,payload,format_,ref", WRITES, ids=[f"{m} {p} {f}" for m, p, f, *_ in WRITES]
)
def test_every_json_write_refuses_a_number_for_each_string_property(world, method, path, field, payload, format_, ref):
    url = _url(path, _ids(world))
    response = send_json(world["client"], method.lower(), url, payload, **{"Idempotency-Key": uuid.uuid4().hex})
    assert response.status_code < 500, (response.status_code, response.content[:500])
    assert response["Content-Type"] == PROBLEM, response.content[:500]
    problem = body(response)
    if (method, path) in EARLIER_REFUSALS:
        assert response.status_code == EARLIER_REFUSALS[(method, path)][0], problem
        return
    assert (response.status_code, problem["code"]) == (400, _ENUM_CODES.get(ref, "validation_failed")), problem
    assert field in problem["errors"], problem["errors"]
    if format_ not in _TIME_FORMATS and ref not in _ENUM_CODES:
        assert problem["errors"][field] == [NOT_A_STRING], problem["errors"]
