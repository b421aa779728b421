"""The request's tenant context: from the membership, for that request only."""

from __future__ import annotations

import json

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection, connections
from django.test import Client, RequestFactory, override_settings
from django.test.utils import CaptureQueriesContext

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.models import AuthorizationAudit
from breederhq.tenancy import reset_connection_context, set_connection_context, tenant_context, user_memberships
from tenant_app.models import TenantMembership
from tests.factories.tenant import ContactFactory, TenantFactory, UserFactory

CONTACTS_URL = "/api/v1/contacts/"


def seed_two_tenants():
    a, b = TenantFactory(name="A"), TenantFactory(name="B")
    with tenant_context(a.pk):
        ContactFactory(tenant=a, first_name="Ann", last_name="Alpha")
    with tenant_context(b.pk):
        ContactFactory(tenant=b, first_name="Bob", last_name="Beta")
        ContactFactory(tenant=b, first_name="Bea", last_name="Beta")
    return a, b


def settings_on(conn) -> tuple[str, str]:
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('app.current_tenant_id', true), current_setting('app.current_user_id', true)"
        )
        return tuple(value or "" for value in cursor.fetchone())


@pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])
class TestContactList:
    def test_a_member_sees_only_their_tenants_contacts(self):
        a, b = seed_two_tenants()
        client = Client()
        client.force_login(a.owner_user)
        response = client.get(CONTACTS_URL)
        assert response.status_code == 200
        assert [c["display_name"] for c in response.json()["results"]] == ["Ann Alpha"]
        assert settings_on(connection) == ("", "")

    def test_a_member_of_two_tenants_chooses_one_with_the_header(self):
        a, b = seed_two_tenants()
        person = UserFactory()
        for tenant in (a, b):
            with tenant_context(tenant.pk):
                TenantMembership.objects.create(tenant=tenant, user=person, role="staff")
        client = Client()
        client.force_login(person)
        response = client.get(CONTACTS_URL)
        assert response.status_code == 403
        assert response.json()["code"] == "no_tenant"
        response = client.get(CONTACTS_URL, HTTP_X_TENANT_ID=str(b.pk))
        assert [c["display_name"] for c in response.json()["results"]] == ["Bea Beta", "Bob Beta"]
        audit = AuthorizationAudit.objects.using(TENANT_DB).get()
        assert (audit.user_id, audit.resource_type, audit.action, audit.allowed) == (
            person.pk,
            "contacts",
            "list",
            False,
        )

    def test_naming_a_tenant_without_membership_is_403_and_audited(self):
        a, b = seed_two_tenants()
        client = Client()
        client.force_login(a.owner_user)
        response = client.get(CONTACTS_URL, HTTP_X_TENANT_ID=str(b.pk), HTTP_USER_AGENT="curl/8")
        assert response.status_code == 403
        assert response["Content-Type"] == "application/problem+json"
        audit = AuthorizationAudit.objects.using(TENANT_DB).get()
        assert (audit.user_id, audit.resource_type, audit.resource_id, audit.allowed, audit.user_agent) == (
            a.owner_user.pk,
            "tenant",
            str(b.pk),
            False,
            "curl/8",
        )
        assert settings_on(connection) == ("", "")

    def test_the_list_runs_a_constant_number_of_queries(self):
        a, _ = seed_two_tenants()
        client = Client()
        client.force_login(a.owner_user)

        def count() -> int:
            with CaptureQueriesContext(connections[TENANT_DB]) as captured:
                assert client.get(CONTACTS_URL).status_code == 200
            return len(captured)

        one = count()
        with tenant_context(a.pk):
            ContactFactory.create_batch(5, tenant=a)
        assert count() == one

    def test_a_user_without_membership_gets_403_and_anonymous_is_refused(self):
        seed_two_tenants()
        client = Client()
        assert client.get(CONTACTS_URL).status_code == 401  # not signed in: a bearer challenge
        client.force_login(UserFactory())
        assert client.get(CONTACTS_URL).status_code == 403
        assert AuthorizationAudit.objects.using(TENANT_DB).count() == 1


@pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])
def test_user_memberships_are_the_orms_instances_with_their_tenant_loaded():
    """The written-out statement returns what the ORM query it replaced returned: the user's own
    memberships in tenants not deleted, by tenant id, every field, the tenant loaded with it."""
    person, other = UserFactory(), UserFactory()
    tenants = [TenantFactory(name=f"T{i}") for i in range(3)]
    for tenant in reversed(tenants):
        for user, role in ((person, "staff"), (other, "viewer")):
            with tenant_context(tenant.pk):
                TenantMembership.objects.create(tenant=tenant, user=user, role=role)
    tenants[1].delete()  # soft delete: the membership stays, the tenant is gone
    set_connection_context(tenant_id=None, user_id=person.pk)
    try:
        expected = list(
            TenantMembership.objects.filter(user_id=person.pk, tenant__deleted_at__isnull=True)
            .select_related("tenant")
            .order_by("tenant_id")
        )
        with CaptureQueriesContext(connection) as captured:
            memberships = user_memberships(person.pk)
            tenant_names = [m.tenant.name for m in memberships]  # loaded: no query
    finally:
        reset_connection_context()
    assert len(captured) == 1
    assert [m.tenant_id for m in memberships] == sorted(t.pk for t in (tenants[0], tenants[2]))
    assert tenant_names == ["T0", "T2"]

    def fields(instance):
        return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}

    assert [fields(m) for m in memberships] == [fields(m) for m in expected]
    assert [fields(m.tenant) for m in memberships] == [fields(m.tenant) for m in expected]
    assert all(not m._state.adding and m._state.db == TENANT_DB for m in memberships)


@pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB], transaction=True)
@override_settings(ROOT_URLCONF="tests.tenant_app.urls", DEBUG_PROPAGATE_EXCEPTIONS=False)
def test_alternating_requests_on_one_persistent_connection_never_see_the_other_tenant(caplog):
    """Real WSGI handling (request_started/finished close or keep connections as in production),
    CONN_MAX_AGE > 0 so one connection serves every request, some requests failing midway."""
    a, b = seed_two_tenants()
    cookies = {}
    for tenant in (a, b):
        client = Client()
        client.force_login(tenant.owner_user)
        cookies[tenant.pk] = f"sessionid={client.cookies['sessionid'].value}"
    connection.close()
    saved = connection.settings_dict["CONN_MAX_AGE"]
    connection.settings_dict["CONN_MAX_AGE"] = 600
    handler, factory = WSGIHandler(), RequestFactory()

    def request(path: str, tenant=None) -> tuple[int, dict | None]:
        extra = {"HTTP_COOKIE": cookies[tenant.pk]} if tenant is not None else {}
        status = {}
        body = handler(factory.get(path, **extra).environ, lambda s, headers, exc_info=None: status.update(code=s))
        try:
            content = b"".join(body)
        finally:
            body.close()  # fires request_finished, as a WSGI server does
        code = int(status["code"].split()[0])
        return code, (json.loads(content) if code == 200 else None)

    try:
        pids = set()
        steps = [
            ("/probe/", a, 200, [a.pk]),
            ("/probe/", b, 200, [b.pk]),
            ("/fail/read/", a, 500, None),
            ("/probe/", b, 200, [b.pk]),
            ("/fail/transaction/", b, 500, None),
            ("/probe/", a, 200, [a.pk]),
            (f"/fail/session-setting/?tenant={b.pk}", a, 500, None),
            (f"/fail/session-setting/?tenant={b.pk}", None, 500, None),
            ("/probe/", None, 200, []),
            ("/probe/", a, 200, [a.pk]),
            ("/fail/read/", b, 500, None),
            ("/probe/", None, 200, []),
            ("/probe/", b, 200, [b.pk]),
        ]
        for path, tenant, expected_code, expected_tenants in steps:
            code, body = request(path, tenant)
            assert code == expected_code, path
            if body is not None:
                assert body["tenants"] == expected_tenants, (path, tenant and tenant.name)
                pids.add(body["pid"])
            # Between requests the connection carries no context at all.
            assert settings_on(connection) == ("", ""), path
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                pids.add(cursor.fetchone()[0])
        assert len(pids) == 1, "the requests did not share one persistent connection"
        code, body = request(CONTACTS_URL, a)
        assert [c["display_name"] for c in body["results"]] == ["Ann Alpha"]
    finally:
        connection.settings_dict["CONN_MAX_AGE"] = saved
        connection.close()


@pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])
def test_a_request_that_never_touches_the_tenant_database_sends_it_nothing():
    """The reset after the request runs only when the request sent something to the tenant DB
    (a stray session setting is still cleared: see the alternating-requests test above)."""
    with CaptureQueriesContext(connections[TENANT_DB]) as tenant_db:
        assert Client().get("/api/v1/marketplace/listings/").status_code == 200
    assert len(tenant_db) == 0
    with CaptureQueriesContext(connections[TENANT_DB]) as tenant_db:
        assert Client().get("/bench-free-404/").status_code == 404
    assert len(tenant_db) == 0


def test_user_memberships_refuses_fields_that_need_database_converters(monkeypatch):
    """The raw rows skip the fields' from_db_value: a field that has one must fail loudly, not be
    handed over unconverted."""
    from django.core.exceptions import ImproperlyConfigured

    from tenant_app import identity

    role = TenantMembership._meta.get_field("role")
    monkeypatch.setattr(role, "from_db_value", lambda value, expression, connection: value, raising=False)
    identity._memberships_statement.cache_clear()
    try:
        with pytest.raises(ImproperlyConfigured, match="TenantMembership.role"):
            identity._memberships_statement()
    finally:
        monkeypatch.undo()
        identity._memberships_statement.cache_clear()
    assert identity._memberships_statement()[0].startswith("SELECT")
