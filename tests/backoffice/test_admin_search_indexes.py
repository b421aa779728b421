"""Every back-office search is answered by an index.

Walks every ModelAdmin registered on the admin site. Ours (LargeTableAdminMixin) may only declare
`=field` / `^field` searches, and for each one PostgreSQL's plan (EXPLAIN, sequential scans
disabled so the planner shows what it would do on a big table however few rows the test database
holds) has an index condition on that very column: a plan that only avoids the sequential scan by
walking the whole primary key does not pass. The plans are taken on tables with the planner
statistics of new ones, whatever the tests before left (`tables_as_new`). The admins of other packages (Django's groups,
django-celery-beat's schedules, simplejwt's tokens) keep their own search; their tables are listed
below with why they stay small.
"""

from __future__ import annotations

import json
import re
import uuid
from contextlib import nullcontext

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.db import connections, models
from django.urls import reverse

from breederhq.backoffice.admin_tools import LargeTableAdminMixin, _final_field, search_lookup
from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.routing import database_for_model
from breederhq.tenancy import system_read_context
from tests.backoffice.conftest import work_on
from tests.factories.tenant import TenantFactory

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])

#: Registered admins that are not ours, and why their table stays small.
OTHER_PACKAGES = {
    "auth.Group": "a handful of staff groups",
    "django_celery_beat.PeriodicTask": "one row per scheduled job",
    "django_celery_beat.ClockedSchedule": "no search",
    "django_celery_beat.CrontabSchedule": "no search",
    "django_celery_beat.IntervalSchedule": "no search",
    "django_celery_beat.SolarSchedule": "no search",
    "token_blacklist.OutstandingToken": "expired tokens are purged daily (flush_expired_tokens)",
    "token_blacklist.BlacklistedToken": "expired tokens are purged daily (flush_expired_tokens)",
}

ADMINS = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)
OURS = [(model, model_admin) for model, model_admin in ADMINS if model._meta.label not in OTHER_PACKAGES]
SEARCHES = [(model, entry) for model, model_admin in OURS for entry in model_admin.search_fields]


@pytest.fixture(scope="module", autouse=True)
def tables_as_new(django_db_setup, django_db_blocker):
    """Both databases flushed once before the module (breederhq/management/commands/flush.py), so
    every table has the statistics of a new one (never analyzed: planned as ten pages). Tests that
    ran before may have left a table with the statistics of an empty one (autovacuum removing a
    test's rolled-back rows): planned as holding nothing, where a walk of any index costs as little
    as the right one, and the plan says nothing about a big table. The module's own tests write too
    few rows for autovacuum to take up a table again before its plans are taken."""
    with django_db_blocker.unblock():
        for alias in (TENANT_DB, MARKETPLACE_DB):
            call_command("flush", database=alias, interactive=False, verbosity=0, reset_sequences=False)


def _sample(field) -> str:
    if isinstance(field, models.UUIDField):
        return str(uuid.uuid4())
    if isinstance(field, (models.IntegerField, models.AutoField)):
        return "4242"
    return "Sunny"


def _plan(queryset) -> dict:
    sql, params = queryset.query.sql_with_params()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    return (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]


def _nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def test_the_walk_covers_every_registered_admin():
    assert {m._meta.label for m, _ in ADMINS} - {m._meta.label for m, _ in OURS} == set(OTHER_PACKAGES) & {
        m._meta.label for m, _ in ADMINS
    }
    for model, model_admin in OURS:
        assert isinstance(model_admin, LargeTableAdminMixin), f"{model._meta.label}: counts and searches unbounded"
        for entry in model_admin.search_fields:
            assert entry[:1] in "=^", f"{model._meta.label}: {entry!r} is a substring search no btree answers"
    labels = {model._meta.label for model, _ in SEARCHES}
    assert {
        "marketplace_app.ServiceListing",
        "marketplace_app.MarketplaceTransaction",
        "tenant_app.Invoice",
        "tenant_app.Contact",
        "payments_app.StripeWebhookEvent",
        "breederhq.TenantDbOutboxMessage",
    } <= labels


@pytest.mark.parametrize("model,entry", SEARCHES, ids=[f"{m._meta.label}:{e}" for m, e in SEARCHES])
def test_each_search_field_uses_an_index_on_its_column(model, entry):
    field = _final_field(model, entry[1:])
    lookup = search_lookup(model, entry, _sample(field))
    queryset = model._base_manager.using(database_for_model(model)).filter(**lookup).values("pk")
    # Tenant tables: planned as a read across tenants (the RLS policy is part of the plan).
    with system_read_context(job="test") if queryset.db == TENANT_DB else nullcontext():
        plan = _plan(queryset)
    table, column = field.model._meta.db_table, field.column
    conditions = [
        node.get("Index Cond", "") + node.get("Recheck Cond", "")
        for node in _nodes(plan)
        if node.get("Relation Name") == table or node.get("Index Name")
    ]
    wanted = re.compile(rf"upper\(\(?{column}\)?(::text)?\)" if entry[0] == "^" else rf"\b{column}\b")
    assert any(wanted.search(condition) for condition in conditions), (
        f"{model._meta.label} search {entry!r}: no index on {table}.{column} is used:\n{json.dumps(plan, indent=1)}"
    )


def test_a_search_finds_by_exact_id_and_by_prefix_of_a_name(superuser_client):
    from tests.factories.marketplace import ProviderFactory

    provider = ProviderFactory(business_name="Sunny Kennels")
    ProviderFactory(business_name="Rainy Acres")
    url = reverse("admin:marketplace_app_provider_changelist")
    for text in ("sunny k", "SUNNY", provider.user.email.upper().partition("@")[0] + "@"):
        response = superuser_client.get(url, {"q": text})
        assert response.status_code == 200
        assert [p.pk for p in response.context["cl"].result_list] == [provider.pk], text
    assert list(superuser_client.get(url, {"q": "kennels"}).context["cl"].result_list) == []  # no substring


def test_an_unusable_value_matches_nothing_instead_of_failing(superuser_client):
    url = reverse("admin:marketplace_app_marketplacetransaction_changelist")
    for text in ("not-a-number", "9" * 40, "\x00"):
        response = superuser_client.get(url, {"q": text})
        assert response.status_code == 200, text
        assert list(response.context["cl"].result_list) == []


def test_a_tenant_table_is_searched_in_the_tenant_worked_on(superuser_client):
    from breederhq.tenancy import tenant_context
    from tests.factories.tenant import ContactFactory

    tenant, other = TenantFactory(), TenantFactory()
    with tenant_context(tenant.pk):
        mine = ContactFactory(tenant=tenant, last_name="Sunnyside", email="a@example.test")
        ContactFactory(tenant=tenant, last_name="Sunnysider")
    with tenant_context(other.pk):
        ContactFactory(tenant=other, last_name="Sunnyside", email="b@example.test")
    work_on(superuser_client, tenant)
    url = reverse("admin:tenant_app_contact_changelist")
    for text in ("sunnyside", "Sunnyside", " A@Example.TEST".lower()):
        response = superuser_client.get(url, {"q": text})
        assert [c.pk for c in response.context["cl"].result_list] == [mine.pk], text
