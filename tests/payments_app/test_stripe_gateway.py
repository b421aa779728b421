"""Every Stripe call goes through the breaker with our own idempotency key (fake Stripe over HTTP)."""

import pytest
import stripe

from payments_app.stripe_gateway import (
    StripeUnavailable,
    breaker_is_open,
    call_stripe,
    idempotency_key,
    stripe_client,
)


def create_intent(key: str):
    return call_stripe(
        "payment_intent.create",
        stripe_client().v1.payment_intents.create,
        params={"amount": 12_500, "currency": "usd", "metadata": {"invoice": "42"}},
        options={"idempotency_key": key},
    )


def test_our_idempotency_key_reaches_stripe_and_a_retry_gets_the_same_object(fake_stripe):
    key = idempotency_key("invoice.payment_intent", "tenant", 42, "v1")
    first = create_intent(key)
    second = create_intent(key)
    assert first.id == second.id
    assert first.amount == 12_500
    assert [r["idempotency_key"] for r in fake_stripe.requests_to("POST", "/v1/payment_intents")] == [key, key]
    assert len(fake_stripe.objects["payment_intents"]) == 1


def test_repeated_5xx_open_the_breaker_and_then_nothing_reaches_stripe(fake_stripe):
    fake_stripe.fail_next(3, status=500)
    for attempt in range(3):
        with pytest.raises(StripeUnavailable):
            create_intent(f"k-{attempt}")
    assert breaker_is_open()
    sent = len(fake_stripe.requests)
    with pytest.raises(StripeUnavailable, match="circuit open"):
        create_intent("k-after")
    assert len(fake_stripe.requests) == sent
    assert fake_stripe.objects["payment_intents"] == {}


def test_timeouts_count_as_outages(fake_stripe):
    fake_stripe.fail_next(1, status=200, delay=2.5)  # longer than the 1 s client timeout
    with pytest.raises(StripeUnavailable, match="APIConnectionError"):
        create_intent("k-slow")
    assert not breaker_is_open()


def test_client_errors_pass_through_and_never_open_the_breaker(fake_stripe):
    for _ in range(5):
        with pytest.raises(stripe.InvalidRequestError):
            call_stripe("invoice.retrieve", stripe_client().v1.invoices.retrieve, "in_missing")
    assert not breaker_is_open()


def test_the_breaker_state_is_shared_through_redis(fake_stripe):
    from payments_app import stripe_gateway

    fake_stripe.fail_next(3, status=503)
    for attempt in range(3):
        with pytest.raises(StripeUnavailable):
            create_intent(f"k-{attempt}")
    # A fresh breaker object (another process) reads the same open state.
    stripe_gateway.stripe_breaker.cache_clear()
    assert breaker_is_open()
