"""Property-based run of the served schema (schemathesis), positive and negative cases, with every
check schemathesis has: no 5xx; status codes, content types, headers and bodies as documented
(`response_schema_conformance`, `status_code_conformance`, `content_type_conformance`, ...); valid
input accepted and invalid input refused. Bounded: a few examples per operation (`max_examples`),
derandomized, so the run takes about a minute and a half. One test per operation, its cases (the
coverage phase's included) built when that test runs, not when pytest collects the module
(tests/api/schemathesis_lazy.py): collecting only lists the operations, so every xdist worker (and
a `-m "not slow"` run) no longer pays for building all of them.

Exemptions, each for a reason the schema cannot state:
* `cursor` is left out of positive cases: it is opaque, and only the values of a list's own
  `next` / `previous` links are valid; a generated one is refused (400 or 404), as it should be.
* A positive case gets a fresh `Idempotency-Key`: a key is single-use by design, and generated keys
  repeat across examples (the same key with another body is, rightly, a 422).
  The payment-settings changes (FRESH_KEYS) get one in negative cases too: with the same body a
  repeated key replays the first answer whatever else the repeat sends (an invalid `If-Match`
  included), which is the key's design, not an invalid request accepted.
* A positive case that sends `X-Tenant-ID` names the signed-in owner's tenant: any other well-formed
  id is a tenant the caller is not in (403), which a schema cannot say.
* A positive case that sends both `version` in the body and an `If-Match` header keeps only the
  body's: the two must agree (400 otherwise), which a schema cannot say.
* `positive_data_acceptance` is not applied to the operations in POSITIVE_EXEMPT, each for the rule
  named there: a rule across fields or on the current state, which JSON Schema does not express.
* `negative_data_rejection` is not applied to a negative case with an empty query value: an empty
  filter (`?created_before=`) means "no filter", as in django-filter, whatever its `format`.
"""

from __future__ import annotations

import uuid

import pytest
import schemathesis
from django.test.client import ClientHandler
from hypothesis import HealthCheck, settings
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.tenancy import tenant_context
from tests.api.conftest import sign_in
from tests.api.schemathesis_lazy import LazyOperations
from tests.factories.marketplace import MarketplaceUserFactory, ProviderFactory, make_listing
from tests.factories.tenant import ContactFactory, TenantFactory, make_invoice

pytestmark = pytest.mark.slow


class ClientWSGIApp:
    """The test client's request handler as a WSGI app: unlike Django's WSGIHandler it does not close
    the test's database connection (and its transaction) at the end of each request."""

    def __init__(self):
        self.handler = ClientHandler(enforce_csrf_checks=False)

    def __call__(self, environ, start_response):
        response = self.handler(environ)
        headers = [*response.items(), *(("Set-Cookie", c.output(header="").strip()) for c in response.cookies.values())]
        start_response(f"{response.status_code} {response.reason_phrase}", headers)
        return response.streaming_content if response.streaming else [response.content]  # file downloads stream


# Loaded at collection (serving the schema touches no database), and only listed there: each
# operation's cases are built when its test runs (tests/api/schemathesis_lazy.py). As JSON: the same
# document as the default YAML, parsed about four times faster, and every xdist worker loads it.
schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", ClientWSGIApp())
operations = LazyOperations(schema)


_CONTACT_NAME = "a person needs a first or last name, an organization its name (one field of several)"
_TOTAL = "the lines' sum plus tax may be at most MAX_AMOUNT_CENTS (a sum; said in the description)"
_VERSION = "the version is required in one of two places: the body or If-Match"
POSITIVE_EXEMPT = {
    ("POST", "/api/v1/contacts/"): _CONTACT_NAME,
    ("PATCH", "/api/v1/contacts/{contact_id}/"): _CONTACT_NAME,
    (
        "PATCH",
        "/api/v1/invoices/{invoice_id}/",
    ): "an action or draft fields, never both; each action needs its own fields",
    ("POST", "/api/v1/invoices/{invoice_id}/refunds/"): _VERSION,
    ("PATCH", "/api/v1/marketplace/providers/me/"): "at least one field to change, and the version (body or If-Match)",
    (
        "POST",
        "/api/v1/marketplace/transactions/",
    ): "the listing must be on sale now (its state, not the request's shape)",
    ("POST", "/api/v1/invoices/"): _TOTAL,
    ("POST", "/api/v1/marketplace/invoices/"): _TOTAL,
    ("PATCH", "/api/v1/marketplace/invoices/{invoice_id}/"): _VERSION,
    ("PATCH", "/api/v1/tenants/me/memberships/{membership_id}/"): _VERSION,
    ("PUT", "/api/v1/marketplace/providers/me/listings/{listing_id}/images/order/"): _VERSION
    + "; and every image of the listing, once",
    # A receipt must be a real PDF, PNG, JPEG or WebP (checked by content): no generator makes one.
    ("POST", "/api/v1/invoices/{invoice_id}/receipt/"): "a real receipt file",
    ("POST", "/api/v1/marketplace/invoices/{invoice_id}/receipt/"): "a real receipt file",
    ("POST", "/api/v1/marketplace/transactions/{transaction_id}/receipt/"): "a real receipt file",
    # Likewise a listing image must be a real JPEG, PNG or WebP image.
    ("POST", "/api/v1/marketplace/providers/me/listings/{listing_id}/images/"): "a real image file",
    # Passwords: the password rules (common passwords, similarity to the name) and the right current one.
    ("POST", "/api/v1/auth/sign-up/"): "a password that passes the password rules",
    ("POST", "/api/v1/auth/password/"): "the account's current password, and a new one that passes the rules",
    ("POST", "/api/v1/auth/account/delete/"): "the account's current password",
    ("PATCH", "/api/v1/tenants/me/"): _VERSION,
    ("POST", "/api/v1/tenants/"): "a `slug` no tenant has yet (generated examples repeat one)",
    # Payments setup: the state of the tenant's Stripe account, and a breeder is sent to its tenant.
    ("PATCH", "/api/v1/tenants/me/payment-settings/"): _VERSION + "; `stripe` needs an account that can take payments",
    ("POST", "/api/v1/tenants/me/stripe-account/onboarding/refresh/"): "an account made by onboarding first",
    ("POST", "/api/v1/tenants/me/stripe-account/sync/"): "an account made by onboarding first",
    **{
        (method, f"/api/v1/marketplace/providers/me/{path}"): "a service provider (the signed-in owner is a breeder)"
        for method, path in (
            ("GET", "payment-settings/"),
            ("PATCH", "payment-settings/"),
            ("GET", "stripe-account/"),
            ("POST", "stripe-account/onboarding/"),
            ("POST", "stripe-account/onboarding/refresh/"),
            ("POST", "stripe-account/sync/"),
        )
    },
    ("POST", "/api/v1/marketplace/providers/me/"): "a breeder names a tenant it owns; one profile per account",
    (
        "PATCH",
        "/api/v1/marketplace/providers/me/listings/{listing_id}/",
    ): "an action or field changes, with the version",
}


@pytest.fixture
def signed_in(db, django_db_blocker):
    tenant = TenantFactory()
    with tenant_context(tenant.pk):
        contact = ContactFactory(tenant=tenant)
        make_invoice(contact=contact)
    # The owner is also the breeder's marketplace identity: providers/me/ and the public provider
    # search have rows to work on.
    identity = MarketplaceUserFactory(kind="breeder", tenant_user_id=tenant.owner_user.pk)
    make_listing(
        ProviderFactory(user=identity, breeder=True, tenant_id=tenant.pk, description="Golden retrievers"),
        slug="goldens",
        category="puppies",
    )
    _SIGNED_IN_TENANT["id"] = tenant.pk
    return {"Authorization": f"Bearer {sign_in(tenant.owner_user)['access']}"}


FRESH_KEYS = {
    ("PATCH", "/api/v1/tenants/me/payment-settings/"),
    ("PATCH", "/api/v1/marketplace/providers/me/payment-settings/"),
}


@pytest.fixture(scope="module")
def _fake_stripe_server():
    from tests.fakes.stripe_server import FakeStripe

    server = FakeStripe().start()
    yield server
    server.stop()


@pytest.fixture
def stripe_for_schemathesis(_fake_stripe_server, settings):
    """Stripe calls (payments setup) go to the fake Stripe server, never to the real one."""
    from payments_app import stripe_gateway

    settings.STRIPE_API_BASE, settings.STRIPE_SECRET_KEY = _fake_stripe_server.url, "sk_test_fake"
    stripe_gateway.stripe_client.cache_clear()
    yield _fake_stripe_server
    stripe_gateway.stripe_client.cache_clear()


#: The signed-in owner's tenant: a positive case names it in X-Tenant-ID (a generated tenant id is
#: well-formed but, almost surely, someone else's tenant: a 403, rightly).
_SIGNED_IN_TENANT: dict[str, int] = {}


@pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])
@pytest.mark.parametrize("operation", operations.ids())
def test_no_server_errors_and_responses_match_the_schema(
    operation, request, signed_in, settings, stripe_for_schemathesis
):
    """One test per operation (so xdist spreads them), its cases built now: `check_case` is run on
    each of them, as `schema.parametrize()` would run it."""
    operations.run(
        operation,
        check_case,
        request,
        signed_in=signed_in,
        settings=settings,
        stripe_for_schemathesis=stripe_for_schemathesis,
    )


@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture],
)
def check_case(case, signed_in, settings, stripe_for_schemathesis):
    settings.MEDIA_ROOT = "/tmp/breederhq-schemathesis-media"
    excluded = []
    if case.headers and "Idempotency-Key" in case.headers and (case.method, case.path) in FRESH_KEYS:
        case.headers["Idempotency-Key"] = uuid.uuid4().hex  # see the docstring
    if case.meta is not None and case.meta.generation.mode == GenerationMode.POSITIVE:  # see the docstring
        if case.query:
            case.query.pop("cursor", None)
        if case.headers and "Idempotency-Key" in case.headers:
            case.headers["Idempotency-Key"] = uuid.uuid4().hex
        if case.headers and "X-Tenant-ID" in case.headers:
            case.headers["X-Tenant-ID"] = str(_SIGNED_IN_TENANT["id"])
        if case.headers and "If-Match" in case.headers and isinstance(case.body, dict) and "version" in case.body:
            del case.headers["If-Match"]
        if (case.method, case.path) in POSITIVE_EXEMPT:
            excluded.append(positive_data_acceptance)
    elif (
        case.meta is not None
        and case.query
        and any(value == "" or (isinstance(value, list) and "" in value) for value in case.query.values())
    ):
        excluded.append(negative_data_rejection)
    case.call_and_validate(headers=signed_in, excluded_checks=excluded)  # every other check schemathesis has


def _links(raw_schema: dict) -> list:
    return [
        link
        for operations in raw_schema.get("paths", {}).values()
        for operation in operations.values()
        if isinstance(operation, dict)
        for response in operation.get("responses", {}).values()
        for link in (response.get("links") or {})
    ]


@pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])
def test_stateful_sequences_follow_the_schemas_links(signed_in):
    """Stateful testing follows OpenAPI links between operations. drf-spectacular writes none for
    this API; when the schema gains some, this runs schemathesis' state machine over them."""
    if not _links(schema.raw_schema):
        assert schema.raw_schema["paths"], "the schema was served"
        return
    machine = schema.as_state_machine()
    machine.run(
        settings=settings(max_examples=5, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    )
