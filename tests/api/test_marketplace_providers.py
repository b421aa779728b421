"""Public provider search and profiles, and the provider's own profile edit at a version."""

from __future__ import annotations

import random

import pytest
from django.db import connections
from django.test import Client
from django.test.utils import CaptureQueriesContext

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from marketplace_app import services
from marketplace_app.models import Provider
from tests.api.conftest import bearer, body, send_json
from tests.api.test_marketplace_endpoints import person, provider_with_login
from tests.factories.marketplace import ProviderFactory, make_listing, make_transaction
from tests.locks import table_locked

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])
PROVIDERS = "/api/v1/marketplace/providers/"
ME = f"{PROVIDERS}me/"


def names(client: Client, **params) -> list[str]:
    response = client.get(PROVIDERS, params)
    assert response.status_code == 200, response.content
    return [p["business_name"] for p in body(response)["results"]]


class TestProviderSearch:
    def test_anonymous_list_of_live_providers_newest_first(self):
        first = ProviderFactory(business_name="Happy Paws")
        ProviderFactory(business_name="Kitten Corner", breeder=True)
        deleted = ProviderFactory(business_name="Gone Grooming")
        services.provider_delete(provider_id=deleted.pk)
        erased = ProviderFactory(business_name="Erased Walks")
        services.marketplace_user_erase(user_id=erased.user_id)
        response = Client().get(PROVIDERS)
        assert response.status_code == 200
        page = body(response)
        assert (page["count"], [p["business_name"] for p in page["results"]]) == (2, ["Kitten Corner", "Happy Paws"])
        row = page["results"][1]
        assert (row["id"], row["kind"], row["city"], row["state"]) == (first.pk, "service_provider", "Austin", "TX")
        assert "payment_mode" not in row and "version" not in row
        assert Client().get(f"{PROVIDERS}{erased.pk}/").status_code == 404

    def test_filters_on_kind_location_and_what_they_offer(self):
        groomer = ProviderFactory(business_name="Groomer", city="Austin", state="TX")
        breeder = ProviderFactory(business_name="Breeder", breeder=True, city="Dallas", state="TX")
        trainer = ProviderFactory(business_name="Trainer", city="Denver", state="CO", country="US")
        make_listing(groomer, slug="groom")
        make_listing(breeder, slug="pups", category="puppies", title="Golden puppies")
        make_listing(trainer, slug="paused", category="training", publish=False)
        client = Client()
        assert names(client, kind="breeder") == ["Breeder"]
        assert names(client, kind="service_provider", order="name") == ["Groomer", "Trainer"]
        assert names(client, city="dallas") == ["Breeder"]
        assert names(client, state="tx", order="name") == ["Breeder", "Groomer"]
        assert names(client, country="us", state="CO") == ["Trainer"]
        assert names(client, category="puppies") == ["Breeder"]
        assert names(client, category="grooming") == ["Groomer"]
        assert names(client, category="training") == []  # only a draft listing: it offers nothing yet

    def test_full_text_search_ranks_the_name_above_the_description(self):
        ProviderFactory(business_name="Happy Paws", description="Dog grooming in Austin")
        ProviderFactory(business_name="Grooming Palace", description="Cats and dogs")
        ProviderFactory(business_name="Obedience School", description="Puppy training")
        client = Client()
        assert names(client, q="grooming") == ["Grooming Palace", "Happy Paws"]
        assert names(client, q="puppy training") == ["Obedience School"]
        assert names(client, q='"cats and dogs" -puppy') == ["Grooming Palace"]
        assert names(client, q="grooming", order="name") == ["Grooming Palace", "Happy Paws"]
        assert names(client, q="unicorn") == []

    def test_ordering_by_name_and_by_sales(self):
        quiet = ProviderFactory(business_name="Alpha")
        busy = ProviderFactory(business_name="Beta")
        for _ in range(2):
            make_transaction(busy)
        make_transaction(quiet)
        client = Client()
        assert names(client, order="name") == ["Alpha", "Beta"]
        assert names(client, order="popular") == ["Beta", "Alpha"]
        assert names(client, order="newest") == ["Beta", "Alpha"]

    @pytest.mark.parametrize(
        "params",
        [
            {"kind": "wizard"},
            {"category": "unicorns"},
            {"order": "random"},
            {"page": "x"},
            {"page": "99"},
            {"q": "x" * 201},
            {"country": "USA"},
        ],
    )
    def test_bad_filters_are_problems_not_500(self, params):
        ProviderFactory()
        response = Client().get(PROVIDERS, params)
        assert response.status_code in (400, 404), (params, response.content)
        assert response["Content-Type"] == "application/problem+json"

    def test_the_list_runs_constant_queries_at_page_sizes_1_10_100(self):
        for index in range(101):
            provider = ProviderFactory(business_name=f"Groomers {index}", description="Dog grooming")
            if index % 10 == 0:
                make_listing(provider, slug=f"l-{index}")
        client = Client()
        for params in ({}, {"q": "grooming", "state": "TX"}, {"category": "grooming", "page": 1}):
            per_size = {}
            for size in (1, 10, 100) if not params.get("category") else (1, 10):
                with (
                    CaptureQueriesContext(connections[TENANT_DB]) as tenant_db,
                    CaptureQueriesContext(connections[MARKETPLACE_DB]) as marketplace_db,
                ):
                    response = client.get(PROVIDERS, {"page_size": size, **params})
                assert response.status_code == 200
                assert len(body(response)["results"]) == size
                # Less the savepoint the search's time limit takes inside the test's transaction.
                reads = [q for q in marketplace_db if "SAVEPOINT" not in q["sql"]]
                per_size[size] = (len(tenant_db), len(reads))
            assert len(set(per_size.values())) == 1, (params, per_size)
            assert per_size[1][1] == 2, per_size  # the count and the page, nothing per row

    def test_a_search_past_its_time_limit_is_a_503_problem_saying_to_narrow_it(self, settings):
        settings.PROVIDER_SEARCH_STATEMENT_TIMEOUT_MS = 200
        with table_locked(MARKETPLACE_DB, "marketplace_providers"):
            response = Client().get(PROVIDERS, {"q": "grooming", "state": "TX"})
        assert response.status_code == 503
        assert response["Content-Type"] == "application/problem+json"
        problem = body(response)
        assert (problem["code"], problem["timeout_ms"]) == ("search_timeout", 200)
        assert problem["detail"].startswith("The search was stopped after 200 ms. Narrow it")
        # The same search answers once the database is free again.
        ProviderFactory(business_name="Grooming Co", state="TX")
        assert names(Client(), q="grooming", state="TX") == ["Grooming Co"]

    def test_anonymous_reads_are_throttled_per_ip(self, settings):
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "public_read_ip": "3/min"},
        }
        provider = ProviderFactory()
        ip = f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"
        client = Client(REMOTE_ADDR=ip)
        codes = [
            client.get(PROVIDERS).status_code,
            client.get(f"{PROVIDERS}{provider.pk}/").status_code,
            client.get("/api/v1/marketplace/listings/").status_code,
            client.get(PROVIDERS).status_code,
        ]
        assert codes == [200, 200, 200, 429]
        blocked = client.get(PROVIDERS)
        assert (blocked["Content-Type"], body(blocked)["code"]) == ("application/problem+json", "throttled")
        assert int(blocked["Retry-After"]) > 0
        assert Client(REMOTE_ADDR="10.255.255.254").get(PROVIDERS).status_code == 200


class TestProfileEditAtAVersion:
    def test_get_has_the_version_and_etag_and_a_patch_moves_it(self):
        login, provider = provider_with_login(business_name="Old")
        client = bearer(login)
        me = client.get(ME)
        assert (body(me)["version"], me["ETag"]) == (1, '"1"')
        updated = send_json(client, "patch", ME, {"business_name": "New", "version": 1})
        assert (updated.status_code, body(updated)["business_name"], body(updated)["version"], updated["ETag"]) == (
            200,
            "New",
            2,
            '"2"',
        )
        by_header = send_json(client, "patch", ME, {"city": " Dallas ", "state": "tx"}, **{"If-Match": '"2"'})
        assert (
            by_header.status_code,
            body(by_header)["city"],
            body(by_header)["state"],
            body(by_header)["version"],
        ) == (200, "Dallas", "TX", 3)
        stored = Provider.objects.using(MARKETPLACE_DB).get(pk=provider.pk)
        assert (stored.business_name, stored.city, stored.state, stored.version) == ("New", "Dallas", "TX", 3)

    def test_a_stale_version_is_409_with_the_current_one_and_changes_nothing(self):
        login, provider = provider_with_login(business_name="Old")
        client = bearer(login)
        make_transaction(provider)  # a sale moves the counters, and with them the version
        stale = send_json(client, "patch", ME, {"business_name": "Mine", "version": 1})
        assert (stale.status_code, stale["Content-Type"], body(stale)["code"], body(stale)["current_version"]) == (
            409,
            "application/problem+json",
            "version_conflict",
            2,
        )
        stale_header = send_json(client, "patch", ME, {"business_name": "Mine"}, **{"If-Match": 'W/"1"'})
        assert (stale_header.status_code, body(stale_header)["current_version"]) == (409, 2)
        missing = send_json(client, "patch", ME, {"business_name": "Mine"})
        assert (missing.status_code, body(missing)["errors"]) == (400, {"version": ["required (or If-Match)"]})
        disagree = send_json(client, "patch", ME, {"business_name": "Mine", "version": 2}, **{"If-Match": '"1"'})
        assert disagree.status_code == 400
        assert send_json(client, "patch", ME, {"business_name": "Mine"}, **{"If-Match": "abc"}).status_code == 400
        stored = Provider.objects.using(MARKETPLACE_DB).get(pk=provider.pk)
        assert (stored.business_name, stored.version) == ("Old", 2)

    def test_idempotent_patch_replays_and_another_body_is_422(self):
        login, provider = provider_with_login(business_name="Old")
        client = bearer(login)
        first = send_json(client, "patch", ME, {"business_name": "New", "version": 1}, **{"Idempotency-Key": "p-1"})
        again = send_json(client, "patch", ME, {"version": 1, "business_name": "New"}, **{"Idempotency-Key": "p-1"})
        assert (first.status_code, again.status_code, again["Idempotent-Replayed"], body(again)) == (
            200,
            200,
            "true",
            body(first),
        )
        other = send_json(client, "patch", ME, {"business_name": "Other", "version": 2}, **{"Idempotency-Key": "p-1"})
        assert (other.status_code, body(other)["code"]) == (422, "idempotency_key_reused")
        assert Provider.objects.using(MARKETPLACE_DB).get(pk=provider.pk).version == 2

    def test_only_providers_edit_and_only_their_own(self):
        login, provider = provider_with_login(business_name="Mine")
        other_login, other = provider_with_login(business_name="Theirs")
        buyer_login, _ = person()
        refused = send_json(bearer(buyer_login), "patch", ME, {"business_name": "Hijack", "version": 1})
        assert (refused.status_code, body(refused)["code"]) == (403, "not_a_provider")
        assert send_json(Client(), "patch", ME, {"business_name": "Anon", "version": 1}).status_code == 401
        assert (
            send_json(bearer(other_login), "patch", ME, {"business_name": "Theirs 2", "version": 1}).status_code == 200
        )
        assert Provider.objects.using(MARKETPLACE_DB).get(pk=provider.pk).business_name == "Mine"
        for bad in ({"payment_mode": "stripe", "version": 1}, {"version": 1}, {"business_name": "", "version": 1}):
            assert send_json(bearer(login), "patch", ME, bad).status_code == 400, bad
        assert Provider.objects.using(MARKETPLACE_DB).get(pk=provider.pk).version == 1
