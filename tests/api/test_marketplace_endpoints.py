"""Marketplace endpoints: search, own transactions, participants-only threads, blocks."""

from __future__ import annotations

import pytest
from django.db import connections
from django.test import Client
from django.test.utils import CaptureQueriesContext

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from marketplace_app import services
from marketplace_app.models import UserBlock
from tests.api.conftest import bearer, body, send_json
from tests.factories.marketplace import MarketplaceUserFactory, ProviderFactory, make_listing, make_transaction
from tests.factories.tenant import UserFactory
from tests.locks import table_locked

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])
M = "/api/v1/marketplace/"


def person(kind: str = "buyer", **fields):
    """A login (tenant_app.User) and the marketplace identity linked to it."""
    login = UserFactory()
    return login, MarketplaceUserFactory(kind=kind, tenant_user_id=login.pk, **fields)


def provider_with_login(**fields):
    login, identity = person("service_provider")
    return login, ProviderFactory(user=identity, **fields)


class TestListings:
    def test_a_search_past_its_time_limit_is_a_503_problem_saying_to_narrow_it(self, settings):
        settings.LISTING_SEARCH_ANONYMOUS_STATEMENT_TIMEOUT_MS = 200  # not signed in
        with table_locked(MARKETPLACE_DB, "service_listings"):
            response = Client().get(f"{M}listings/", {"q": "grooming", "state": "TX"})
        assert response.status_code == 503
        assert response["Content-Type"] == "application/problem+json"
        problem = response.json()
        assert (problem["code"], problem["timeout_ms"]) == ("search_timeout", 200)
        assert problem["detail"].startswith("The search was stopped after 200 ms. Narrow it")
        # Nothing was kept of it: the same search answers once the database is free again.
        make_listing(ProviderFactory(state="TX"), slug="groom", title="Dog grooming")
        assert [
            row["slug"] for row in body(Client().get(f"{M}listings/", {"q": "grooming", "state": "TX"}))["results"]
        ] == ["groom"]

    def test_search_filters_full_text_and_pages(self):
        _, provider = provider_with_login(business_name="Happy Paws")
        make_listing(provider, slug="groom", title="Full dog groom", description="Bath and haircut", price_cents=6500)
        make_listing(provider, slug="train", title="Puppy training", category="training", price_cents=12000)
        make_listing(provider, slug="hidden", title="Draft groom", publish=False)
        client = Client()
        slugs = lambda **p: [listing["slug"] for listing in body(client.get(f"{M}listings/", p))["results"]]  # noqa: E731
        assert sorted(slugs()) == ["groom", "train"]
        assert slugs(q="haircut") == ["groom"]
        assert slugs(category="training") == ["train"]
        assert slugs(price_max_cents=7000) == ["groom"]
        page = body(client.get(f"{M}listings/", {"page_size": 1}))
        assert (page["count"], len(page["results"]), page["results"][0]["provider"]["business_name"]) == (
            2,
            1,
            "Happy Paws",
        )
        for bad in ({"category": "unicorns"}, {"price_min_cents": "cheap"}, {"order": "random"}, {"page": "x"}):
            response = client.get(f"{M}listings/", bad)
            assert response.status_code in (400, 404), bad
            assert response["Content-Type"] == "application/problem+json"

    def test_detail_with_images_and_404_for_drafts(self):
        _, provider = provider_with_login()
        listing = make_listing(provider, slug="groom")
        services.listing_image_add(listing_id=listing.pk, url="https://img.test/1.jpg", caption="Before")
        make_listing(provider, slug="draft", publish=False)
        detail = body(Client().get(f"{M}listings/groom/"))
        assert [(i["url"], i["caption"]) for i in detail["images"]] == [("https://img.test/1.jpg", "Before")]
        assert Client().get(f"{M}listings/draft/").status_code == 404


class TestTransactions:
    def test_a_buyer_sees_only_their_own_with_cursor_pages(self):
        _, provider = provider_with_login()
        buyer_login, buyer = person()
        other_login, other = person()
        mine = [make_transaction(provider, buyer, amount_cents=1000 + i) for i in range(3)]
        make_transaction(provider, other)
        client = bearer(buyer_login)
        first = body(client.get(f"{M}transactions/", {"page_size": 2}))
        second = (
            body(Client(headers={"Authorization": client.defaults.get("HTTP_AUTHORIZATION", "")}).get(first["next"]))
            if first["next"]
            else None
        )
        seen = [t["id"] for t in first["results"]] + [t["id"] for t in second["results"]]
        assert seen == [t.pk for t in reversed(mine)]
        assert second["next"] is None
        assert [t["id"] for t in body(bearer(other_login).get(f"{M}transactions/"))["results"]] != seen

    def test_providers_see_their_sales_and_buyers_are_not_providers(self):
        provider_login, provider = provider_with_login()
        buyer_login, buyer = person()
        tx = make_transaction(provider, buyer)
        assert [
            t["id"] for t in body(bearer(provider_login).get(f"{M}transactions/", {"as": "provider"}))["results"]
        ] == [tx.pk]
        response = bearer(buyer_login).get(f"{M}transactions/", {"as": "provider"})
        assert (response.status_code, body(response)["code"]) == (403, "not_a_provider")
        assert bearer(buyer_login).get(f"{M}transactions/", {"status": "lost"}).status_code == 400

    def test_a_login_without_marketplace_identity_is_403(self):
        assert bearer(UserFactory()).get(f"{M}transactions/").status_code == 403


class TestThreads:
    def test_open_send_read_with_cursor_and_outsiders_get_404(self):
        provider_login, provider = provider_with_login()
        buyer_login, buyer = person()
        outsider_login, _ = person()
        buyer_client = bearer(buyer_login)
        opened = send_json(buyer_client, "post", f"{M}threads/", {"provider_id": provider.pk, "body": "Hi!"})
        assert opened.status_code == 201
        thread_id = body(opened)["id"]
        for text in ("one", "two", "three"):
            assert (
                send_json(
                    bearer(provider_login), "post", f"{M}threads/{thread_id}/messages/", {"body": text}
                ).status_code
                == 201
            )
        url = f"{M}threads/{thread_id}/messages/"
        page = body(buyer_client.get(url, {"page_size": 3}))
        assert [m["body"] for m in page["results"]] == ["three", "two", "one"]
        rest = body(buyer_client.get(url, {"page_size": 3, "cursor": page["next"]}))
        assert ([m["body"] for m in rest["results"]], rest["next"]) == (["Hi!"], None)
        assert [t["id"] for t in body(buyer_client.get(f"{M}threads/"))["results"]] == [thread_id]
        outsider = bearer(outsider_login)
        assert body(outsider.get(f"{M}threads/"))["results"] == []
        assert outsider.get(url).status_code == 404
        assert send_json(outsider, "post", url, {"body": "let me in"}).status_code == 404
        assert buyer_client.get(url, {"cursor": "garbage!"}).status_code == 400

    def test_a_blocked_buyer_cannot_open_a_thread_and_blocks_are_managed_by_the_provider(self):
        provider_login, provider = provider_with_login()
        buyer_login, buyer = person()
        provider_client = bearer(provider_login)
        blocked = send_json(provider_client, "post", f"{M}blocks/", {"user_id": buyer.pk, "reason": "spam"})
        assert blocked.status_code == 201
        assert body(blocked)["blocked_user"]["id"] == buyer.pk
        assert [b["blocked_user"]["id"] for b in body(provider_client.get(f"{M}blocks/"))["results"]] == [buyer.pk]
        refused = send_json(bearer(buyer_login), "post", f"{M}threads/", {"provider_id": provider.pk, "body": "Hi"})
        assert (refused.status_code, body(refused)["code"]) == (403, "blocked_by_provider")
        assert send_json(bearer(buyer_login), "post", f"{M}blocks/", {"user_id": provider.user_id}).status_code == 403
        assert provider_client.delete(f"{M}blocks/{buyer.pk}/").status_code == 204
        assert not UserBlock.objects.using(MARKETPLACE_DB).exists()
        assert provider_client.delete(f"{M}blocks/{buyer.pk}/").status_code == 404

    def test_idempotent_message_send(self):
        provider_login, provider = provider_with_login()
        buyer_login, buyer = person()
        thread = services.message_thread_open(buyer_id=buyer.pk, provider_id=provider.pk, body="Hi")
        client = bearer(buyer_login)
        url = f"{M}threads/{thread.pk}/messages/"
        first = send_json(client, "post", url, {"body": "paid?"}, **{"Idempotency-Key": "m-1"})
        again = send_json(client, "post", url, {"body": "paid?"}, **{"Idempotency-Key": "m-1"})
        assert (again["Idempotent-Replayed"], body(again)) == ("true", body(first))
        assert len(body(client.get(url))["results"]) == 2


def _counts(client, url, size):
    with (
        CaptureQueriesContext(connections[TENANT_DB]) as tenant_db,
        CaptureQueriesContext(connections[MARKETPLACE_DB]) as marketplace_db,
    ):
        response = client.get(url, {"page_size": size})
    assert response.status_code == 200
    assert len(body(response)["results"]) == size
    return len(tenant_db), len(marketplace_db)


def test_marketplace_lists_run_constant_queries_per_database():
    provider_login, provider = provider_with_login()
    buyer_login, buyer = person()
    for i in range(101):
        make_listing(provider, slug=f"l-{i}", title=f"Listing {i}")
        make_transaction(provider, buyer)
    thread = services.message_thread_open(buyer_id=buyer.pk, provider_id=provider.pk, body="Hi")
    for i in range(100):
        services.message_send(thread_id=thread.pk, sender_id=buyer.pk, body=f"m{i}")
    blocked = MarketplaceUserFactory.create_batch(100)
    UserBlock.objects.using(MARKETPLACE_DB).bulk_create([UserBlock(provider=provider, blocked_user=u) for u in blocked])
    buyer_client, provider_client = bearer(buyer_login), bearer(provider_login)
    for client, url in (
        (Client(), f"{M}listings/"),
        (buyer_client, f"{M}transactions/"),
        (buyer_client, f"{M}threads/{thread.pk}/messages/"),
        (provider_client, f"{M}blocks/"),
    ):
        _counts(client, url, 1)  # warm: the first read of a login fills the identity cache
        per_size = {size: _counts(client, url, size) for size in (1, 10, 100)}
        assert len(set(per_size.values())) == 1, (url, per_size)


class TestBuyerReceipt:
    def _breeder_sale(self):
        from breederhq.tenancy import tenant_context
        from tenant_app.services import invoice_send
        from tests.factories.tenant import ContactFactory, TenantFactory, make_invoice

        tenant = TenantFactory()
        _, breeder_identity = person("breeder")
        provider = ProviderFactory(user=breeder_identity, kind="breeder", tenant_id=tenant.pk)
        buyer_login, buyer = person()
        with tenant_context(tenant.pk):
            contact = ContactFactory(tenant=tenant, marketplace_user_id=buyer.pk)
            invoice = make_invoice(contact=contact, is_marketplace_invoice=True)
            invoice_send(invoice_id=invoice.pk)
        tx = make_transaction(provider, buyer)
        services.transaction_attach_invoice(transaction_id=tx.pk, invoice_type="tenant", invoice_id=invoice.pk)
        return tenant, buyer_login, tx, invoice

    def test_the_buyer_uploads_a_receipt_for_the_breeders_invoice(self):
        from django.core.files.uploadedfile import SimpleUploadedFile

        from breederhq.tenancy import tenant_context
        from tenant_app.models import Invoice

        tenant, buyer_login, tx, invoice = self._breeder_sale()
        url = f"{M}transactions/{tx.pk}/receipt/"
        outsider_login, _ = person()
        refused = bearer(outsider_login).post(url, {"receipt": SimpleUploadedFile("r.pdf", b"%PDF-1.4 x")})
        assert refused.status_code == 404
        bad = bearer(buyer_login).post(url, {"receipt": SimpleUploadedFile("r.pdf", b"<html>")})
        assert (bad.status_code, body(bad)["code"]) == (400, "receipt_type_refused")
        response = bearer(buyer_login).post(
            url, {"receipt": SimpleUploadedFile("r.pdf", b"%PDF-1.4 x"), "reference": "wire 7"}
        )
        with tenant_context(tenant.pk):
            stored = Invoice.objects.get(pk=invoice.pk)
            assert (stored.status, bool(stored.buyer_payment_receipt)) == ("pending_confirmation", True)
        assert (response.status_code, body(response)) == (
            200,
            {
                "transaction_id": tx.pk,
                "invoice_id": invoice.pk,
                "invoice_status": "pending_confirmation",
                "invoice_version": stored.version,
            },
        )
        assert response["ETag"] == f'"{stored.version}"'

    @pytest.mark.parametrize("via", ["body", "if_match"])
    def test_the_buyers_receipt_carries_the_invoice_version_and_a_stale_one_is_409(self, via):
        from django.core.files.uploadedfile import SimpleUploadedFile

        from breederhq.tenancy import tenant_context
        from tenant_app.models import Invoice

        tenant, buyer_login, tx, invoice = self._breeder_sale()
        url = f"{M}transactions/{tx.pk}/receipt/"
        with tenant_context(tenant.pk):
            current = Invoice.objects.get(pk=invoice.pk).version

        def upload(version):
            data = {"receipt": SimpleUploadedFile("r.pdf", b"%PDF-1.4 x")}
            if via == "body":
                return bearer(buyer_login).post(url, {**data, "version": version})
            return bearer(buyer_login).post(url, data, headers={"If-Match": f'"{version}"'})

        stale = upload(current - 1)
        assert (stale.status_code, stale["Content-Type"]) == (409, "application/problem+json")
        assert (body(stale)["code"], body(stale)["current_version"]) == ("version_conflict", current)
        with tenant_context(tenant.pk):
            untouched = Invoice.objects.get(pk=invoice.pk)
            assert (untouched.status, untouched.version, bool(untouched.buyer_payment_receipt)) == (
                "sent",
                current,
                False,
            )
        fresh = upload(current)
        assert (fresh.status_code, body(fresh)["invoice_status"], body(fresh)["invoice_version"]) == (
            200,
            "pending_confirmation",
            current + 1,
        )
        # The claim is in: uploading again at the old version is stale, not a second claim.
        again = upload(current)
        assert (again.status_code, body(again)["current_version"]) == (409, current + 1)

    def test_a_receipt_with_a_malformed_if_match_is_400(self):
        from django.core.files.uploadedfile import SimpleUploadedFile

        _, buyer_login, tx, _ = self._breeder_sale()
        response = bearer(buyer_login).post(
            f"{M}transactions/{tx.pk}/receipt/",
            {"receipt": SimpleUploadedFile("r.pdf", b"%PDF-1.4 x")},
            headers={"If-Match": "latest"},
        )
        assert (response.status_code, body(response)["code"]) == (400, "validation_failed")


def test_the_thread_list_runs_constant_queries_per_database():
    buyer_login, buyer = person()
    for provider in ProviderFactory.create_batch(100):
        services.message_thread_open(buyer_id=buyer.pk, provider_id=provider.pk, body="Hi")
    client = bearer(buyer_login)
    _counts(client, f"{M}threads/", 1)  # warm: the first read of a login fills the identity cache
    per_size = {size: _counts(client, f"{M}threads/", size) for size in (1, 10, 100)}
    assert len(set(per_size.values())) == 1, per_size


def test_threads_page_by_cursor_most_recent_first():
    buyer_login, buyer = person()
    opened = [
        services.message_thread_open(buyer_id=buyer.pk, provider_id=p.pk, body="Hi").pk
        for p in ProviderFactory.create_batch(3)
    ]
    client = bearer(buyer_login)
    first = body(client.get(f"{M}threads/", {"page_size": 2}))
    rest = body(client.get(first["next"]))
    assert [t["id"] for t in first["results"] + rest["results"]] == list(reversed(opened))
    assert rest["next"] is None


@pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB], transaction=True)
def test_the_listing_search_page_and_its_count_are_one_query():
    """`count` comes with the page (COUNT(*) OVER ()); only an empty page needs a separate COUNT. The
    page's images are one more query, whatever the page's size.
    Same answers as two queries would give: count, next/previous links, 404 past the end. (Outside
    a test transaction, as the API reads: inside one, each statement also takes a savepoint.)"""
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    from marketplace_app.listing_search import listing_search

    provider = ProviderFactory(state="TX")
    for i in range(5):
        make_listing(provider, title=f"Gentle puppy grooming {i}", state="TX")
    client = Client()
    # The statistics of the search's terms and its words' lexemes are read once per process (for
    # minutes: marketplace_app/search_statistics.py), here by building the search once.
    listing_search(query="puppy grooming")
    with CaptureQueriesContext(connections[MARKETPLACE_DB]) as captured:
        first = body(client.get(f"{M}listings/", {"q": "puppy grooming", "page_size": 2}))
    assert len(captured) == 2  # the page with its count, the page's images
    assert first["count"] == 5 and len(first["results"]) == 2 and first["previous"] is None
    assert "page=2" in first["next"]
    last = body(client.get(f"{M}listings/", {"q": "puppy grooming", "page_size": 2, "page": "last"}))
    assert (last["count"], len(last["results"]), last["next"]) == (5, 1, None)
    assert "_page_total_count" not in last["results"][0]
    seen = [
        r["slug"]
        for page in (1, 2, 3)
        for r in body(client.get(f"{M}listings/", {"q": "puppy grooming", "page_size": 2, "page": page}))["results"]
    ]
    assert len(seen) == len(set(seen)) == 5

    with CaptureQueriesContext(connections[MARKETPLACE_DB]) as captured:
        past_the_end = client.get(f"{M}listings/", {"q": "puppy grooming", "page_size": 2, "page": 4})
    assert past_the_end.status_code == 404 and len(captured) == 2
    nothing = body(client.get(f"{M}listings/", {"q": "zebra"}))
    assert (nothing["count"], nothing["results"]) == (0, [])
    assert client.get(f"{M}listings/", {"page": "x"}).status_code == 400  # not a page number: invalid input
    assert client.get(f"{M}listings/", {"page": "0"}).status_code == 400
