"""Idempotency-Key per the IETF draft: replay, 422 on another body, 409 while in flight, 24 h."""

import json
import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.test import Client
from django.utils import timezone

from breederhq.databases import DATABASE_ALIASES, TENANT_DB
from breederhq.idempotency import purge_expired_idempotency_keys
from breederhq.models import IdempotencyKey
from tenant_app.models import Tenant
from tests.breederhq.api.urls import crash_next_request, hold_request

pytestmark = pytest.mark.urls("tests.breederhq.api.urls")
URL = "/api/v1/test/tenants"


def post(client, body, key=None, raw=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post(URL, raw if raw is not None else json.dumps(body), content_type="application/json", **headers)


@pytest.mark.django_db(databases=list(DATABASE_ALIASES))
class TestReplay:
    def test_same_key_and_body_replays_the_first_response_with_one_effect(self, client):
        first = post(client, {"name": "Sunny", "slug": "sunny"}, key='"k-1"')
        second = post(client, {"name": "Sunny", "slug": "sunny"}, key='"k-1"')
        assert first.status_code == second.status_code == 201
        assert second.json() == first.json()
        assert second["Idempotent-Replayed"] == "true"
        assert "Idempotent-Replayed" not in first
        assert Tenant.objects.count() == 1

    def test_json_key_order_and_spacing_do_not_matter(self, client):
        post(client, None, key="k-2", raw='{"name": "A", "slug": "a"}')
        replay = post(client, None, key="k-2", raw='{"slug":"a","name":"A"}')
        assert replay["Idempotent-Replayed"] == "true"
        assert Tenant.objects.count() == 1

    def test_same_key_other_body_is_422_and_changes_nothing(self, client):
        post(client, {"name": "A", "slug": "a"}, key="k-3")
        response = post(client, {"name": "B", "slug": "b"}, key="k-3")
        assert response.status_code == 422
        assert response.json()["code"] == "idempotency_key_reused"
        assert list(Tenant.objects.values_list("slug", flat=True)) == ["a"]

    def test_client_errors_are_stored_and_replayed(self, client):
        first = post(client, {"slug": "a"}, key="k-4")
        second = post(client, {"slug": "a"}, key="k-4")
        assert first.status_code == second.status_code == 400
        assert second.json() == first.json()
        assert second["Idempotent-Replayed"] == "true"

    def test_keys_are_private_to_their_scope(self, client, django_user_model):
        post(client, {"name": "A", "slug": "a"}, key="k-5")
        other = IdempotencyKey.objects.using(TENANT_DB).get(key="k-5")
        assert other.scope == "anonymous"
        assert other.path == URL and other.method == "POST"
        assert other.expires_at - other.created_at == timedelta(hours=24)

    @pytest.mark.parametrize("header", ["", '""', "x" * 256])
    def test_invalid_keys_are_refused_with_a_400(self, client, header):
        response = post(client, {"name": "A", "slug": "a"}, key=header)
        assert response.status_code == 400
        assert response.json()["code"] == "idempotency_key_invalid"
        assert Tenant.objects.count() == 0

    def test_without_a_key_every_post_runs(self, client):
        post(client, {"name": "A", "slug": "a"})
        post(client, {"name": "B", "slug": "b"})
        assert Tenant.objects.count() == 2
        assert not IdempotencyKey.objects.using(TENANT_DB).exists()

    def test_purge_removes_only_expired_keys(self, client):
        post(client, {"name": "A", "slug": "a"}, key="old")
        post(client, {"name": "B", "slug": "b"}, key="new")
        IdempotencyKey.objects.using(TENANT_DB).filter(key="old").update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )
        assert purge_expired_idempotency_keys(using=TENANT_DB) == 1
        assert list(IdempotencyKey.objects.using(TENANT_DB).values_list("key", flat=True)) == ["new"]


@pytest.mark.django_db(databases=list(DATABASE_ALIASES), transaction=True)
class TestFailuresAndConcurrency:
    def test_a_server_error_rolls_back_the_effect_and_the_retry_runs_again(self):
        client = Client(raise_request_exception=False)
        crash_next_request["active"] = True
        crashed = post(client, {"name": "A", "slug": "a"}, key="k-crash")
        assert crashed.status_code == 500
        assert Tenant.objects.count() == 0
        claim = IdempotencyKey.objects.using(TENANT_DB).get(key="k-crash")
        assert claim.status == IdempotencyKey.Status.IN_FLIGHT
        # The client's retry of the same request runs again: nothing of the first attempt survived.
        retried = post(client, {"name": "A", "slug": "a"}, key="k-crash")
        assert retried.status_code == 201
        assert "Idempotent-Replayed" not in retried
        assert Tenant.objects.count() == 1

    @pytest.mark.slow
    def test_a_duplicate_while_the_first_is_in_flight_gets_409_and_one_effect(self):
        hold_request.update(entered=threading.Event(), release=threading.Event(), active=True)
        results = {}

        def first_request():
            try:
                results["first"] = post(Client(), {"name": "A", "slug": "a"}, key="k-race")
            finally:
                for alias in DATABASE_ALIASES:
                    connections[alias].close()

        thread = threading.Thread(target=first_request)
        thread.start()
        try:
            assert hold_request["entered"].wait(timeout=30)
            hold_request["active"] = False
            duplicate = post(Client(), {"name": "A", "slug": "a"}, key="k-race")
            assert duplicate.status_code == 409
            assert duplicate.json()["code"] == "idempotency_key_in_flight"
            assert duplicate["Retry-After"] == "1"
        finally:
            hold_request["release"].set()
            thread.join(timeout=30)
        assert results["first"].status_code == 201
        replay = post(Client(), {"name": "A", "slug": "a"}, key="k-race")
        assert replay.status_code == 201
        assert replay["Idempotent-Replayed"] == "true"
        assert Tenant.objects.count() == 1

    def test_a_claim_left_by_a_dead_process_is_taken_over(self):
        # A process died after claiming: the claim row is in flight but nobody holds its lock.
        post(Client(), {"name": "Z", "slug": "z"}, key="k-dead")  # computes the real fingerprint
        record = IdempotencyKey.objects.using(TENANT_DB).get(key="k-dead")
        Tenant.objects.all().hard_delete()
        IdempotencyKey.objects.using(TENANT_DB).filter(pk=record.pk).update(
            status=IdempotencyKey.Status.IN_FLIGHT, response_status=None, response_body=""
        )
        response = post(Client(), {"name": "Z", "slug": "z"}, key="k-dead")
        assert response.status_code == 201
        assert "Idempotent-Replayed" not in response
        assert Tenant.objects.count() == 1


def test_a_multipart_fingerprint_ignores_the_boundary_but_not_the_content():
    from breederhq.idempotency import request_fingerprint

    def fingerprint(boundary: str, content: bytes) -> str:
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="receipt"; filename="r.pdf"\r\n\r\n'.encode()
            + content
            + f"\r\n--{boundary}--\r\n".encode()
        )
        return request_fingerprint(
            method="POST", path="/x/", body=body, content_type=f'multipart/form-data; boundary="{boundary}"'
        )

    assert fingerprint("aaa", b"%PDF-1") == fingerprint("bbb-longer", b"%PDF-1")
    assert fingerprint("aaa", b"%PDF-1") != fingerprint("aaa", b"%PDF-2")
