"""Property-based run of the served schema (schemathesis): no 5xx, and every documented response
matches its schema. Bounded: a few examples per operation, no shrinking time limit surprises."""

from __future__ import annotations

import pytest
import schemathesis
from django.test.client import ClientHandler
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from breederhq.tenancy import tenant_context
from tests.api.conftest import sign_in
from tests.factories.marketplace import MarketplaceUserFactory, ProviderFactory, make_listing
from tests.factories.tenant import ContactFactory, TenantFactory, make_invoice


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


# Loaded at collection: serving the schema touches no database.
schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", ClientWSGIApp())


@pytest.fixture
def signed_in(db, django_db_blocker):
    tenant = TenantFactory()
    with tenant_context(tenant.pk):
        contact = ContactFactory(tenant=tenant)
        make_invoice(contact=contact)
    # The owner is also the breeder's marketplace identity: providers/me/ and the public provider
    # search have rows to work on.
    identity = MarketplaceUserFactory(kind="breeder", tenant_user_id=tenant.owner_user.pk)
    make_listing(ProviderFactory(user=identity, breeder=True, tenant_id=tenant.pk, description="Golden retrievers"),
                 slug="goldens", category="puppies")
    return {"Authorization": f"Bearer {sign_in(tenant.owner_user)['access']}"}


@pytest.mark.django_db(databases=["default", "marketplace"])
@schema.parametrize()
@settings(max_examples=8, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                 HealthCheck.function_scoped_fixture])
def test_no_server_errors_and_responses_match_the_schema(case, signed_in, settings):
    settings.MEDIA_ROOT = "/tmp/breederhq-schemathesis-media"
    case.call_and_validate(
        headers=signed_in,
        checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
    )
