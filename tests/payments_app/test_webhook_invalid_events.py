"""A validly signed Stripe delivery that cannot be stored as an event is kept dead-lettered with the
reason and answered 200 (any other answer makes Stripe retry for days); never a 500. An invalid
signature is still refused."""

import json
import time

import pytest
import stripe
from django.contrib.auth import get_user_model

from breederhq.databases import DATABASE_ALIASES
from payments_app import services
from payments_app.models import StripeWebhookEvent
from tests.fakes.stripe_server import stripe_event
from tests.staff import staff_login

pytestmark = pytest.mark.django_db(databases=list(DATABASE_ALIASES))
URL = "/api/v1/payments/stripe/webhook"


def post_signed(client, body: bytes, secret: str):
    header = stripe.WebhookSignature.generate_signature_header(body.decode("utf-8", "replace"), secret)
    return client.post(URL, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)


def event(**changes):
    base = stripe_event("account.updated", {"id": "acct_x", "object": "account", "charges_enabled": True})
    return {**base, **changes}


def body_of(value) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


INVALID = {
    "id over 100 characters": body_of(event(id="evt_" + "x" * 200)),
    "type over 100 characters": body_of(event(type="account." + "u" * 200)),
    "account over 50 characters": body_of(event(account="acct_" + "a" * 100)),
    "NUL in the id": body_of(event(id="evt_\x00nul")),
    "NUL in the type": body_of(event(type="account.updated\x00")),
    "NUL deep in the payload": body_of(event(data={"object": {"id": "acct_x", "name": "a\x00b"}})),
    "NUL in a key": body_of(event(data={"object": {"id": "acct_x", "k\x00": 1}})),
    # json.dumps writes a lone surrogate as its escape: valid JSON, no valid UTF-8 string.
    "lone surrogate in the id": body_of(event(id="evt_\ud800")),
    "lone surrogate in the type": body_of(event(type="account.updated\udfff")),
    "lone surrogate in the account": body_of(event(account="acct_\ud800")),
    "lone surrogate in data.object.id": body_of(event(data={"object": {"id": "acct_\ud800", "object": "account"}})),
    "lone surrogate deep in the payload": body_of(event(data={"object": {"id": "acct_x", "n": ["a", "\udc00"]}})),
    "lone surrogate in a key": body_of(event(data={"object": {"id": "acct_x", "k\ud800": 1}})),
    "created far in the future": body_of(event(created=10**12)),
    "created past year 9999": body_of(event(created=10**15)),
    "created negative": body_of(event(created=-5)),
    "created as NaN": body_of(event()).replace(b'"created":', b'"created":NaN,"x":'),
    "created as Infinity": body_of(event()).replace(b'"created":', b'"created":1e999,"x":'),
    "a JSON array": body_of([event()]),
    "a JSON string": body_of("evt_1"),
    "JSON null": b"null",
    "not JSON": b"{not json",
    "data is a list": body_of(event(data=[1, 2])),
    "data.object is a string": body_of(event(data={"object": "acct_x"})),
    "no created": body_of({k: v for k, v in event().items() if k != "created"}),
    "deeply nested": b'{"id":"evt_deep","type":"x","created":1,"d":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
}


@pytest.mark.parametrize("body", INVALID.values(), ids=INVALID.keys())
def test_a_signed_but_invalid_delivery_is_answered_200_and_dead_lettered(client, webhook_secret, body):
    response = post_signed(client, body, webhook_secret)
    assert response.status_code == 200, response.content
    stored = StripeWebhookEvent.objects.get()
    assert stored.status == StripeWebhookEvent.Status.DEAD
    assert stored.outcome.startswith(services.INVALID_EVENT_OUTCOME) and stored.last_error
    assert "unparsed" in stored.payload
    # Stripe delivers again: one row still, answered 200 again, nothing processed.
    again = post_signed(client, body, webhook_secret)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert StripeWebhookEvent.objects.count() == 1
    # Staff's "retry" leaves it dead: nothing could read it.
    assert services.stripe_event_requeue(event_pk=stored.pk).status == StripeWebhookEvent.Status.DEAD


def test_an_invalid_delivery_shows_in_the_admin_with_its_reason(client, webhook_secret):
    post_signed(client, body_of(event(id="evt_" + "x" * 200)), webhook_secret)
    stored = StripeWebhookEvent.objects.get()
    staff = get_user_model().objects.create_superuser(
        username="ops@breederhq.test", email="ops@breederhq.test", password="pw-for-tests-123"
    )
    staff_login(client, staff)
    listing = client.get("/admin/payments_app/stripewebhookevent/?status__exact=dead")
    assert listing.status_code == 200 and stored.stripe_event_id.encode() in listing.content
    assert b"received but invalid: id is not a string" in listing.content  # the reason, in the list
    page = client.get(f"/admin/payments_app/stripewebhookevent/{stored.pk}/change/")
    assert page.status_code == 200 and b"received but invalid" in page.content


def test_a_valid_event_with_fields_at_their_limits_is_stored_normally(client, webhook_secret):
    ok = event(id="evt_" + "x" * 96, type="t" * 100, account="acct_" + "a" * 45, created=int(time.time()))
    response = post_signed(client, body_of(ok), webhook_secret)
    assert response.status_code == 200
    assert StripeWebhookEvent.objects.get().status == StripeWebhookEvent.Status.RECEIVED


def test_an_invalid_signature_is_still_refused(client, webhook_secret):
    response = post_signed(client, body_of(event(id="evt_" + "x" * 200)), "whsec_someone_else")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert not StripeWebhookEvent.objects.exists()


def test_a_body_that_is_not_utf8_cannot_carry_a_signature_and_is_refused(client, webhook_secret):
    body = b'{"id": "evt_\xff\xfe"}'
    header = stripe.WebhookSignature.generate_signature_header(body.decode("latin-1"), webhook_secret)
    response = client.post(URL, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)
    assert response.status_code == 400
    assert response.json()["code"] == "webhook_signature_invalid"
    assert not StripeWebhookEvent.objects.exists()
