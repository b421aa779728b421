import pytest

from payments_app import stripe_gateway
from tests.fakes.stripe_server import FakeStripe

WEBHOOK_SECRET = "whsec_test_secret_for_breederhq"


@pytest.fixture
def fake_stripe(settings):
    """The fake Stripe API, with the gateway (client and breaker) pointed at it and reset."""
    server = FakeStripe().start()
    settings.STRIPE_API_BASE = server.url
    settings.STRIPE_SECRET_KEY = "sk_test_fake"
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_TIMEOUT_SECONDS = 1
    settings.STRIPE_BREAKER_FAIL_MAX = 3
    stripe_gateway.stripe_client.cache_clear()
    stripe_gateway.stripe_breaker.cache_clear()
    stripe_gateway.stripe_breaker().close()
    yield server
    stripe_gateway.stripe_breaker().close()
    stripe_gateway.stripe_client.cache_clear()
    stripe_gateway.stripe_breaker.cache_clear()
    server.stop()


@pytest.fixture
def webhook_secret(settings):
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    return WEBHOOK_SECRET
