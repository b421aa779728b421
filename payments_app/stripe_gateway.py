"""Every call to Stripe goes through here: one configured client, our own idempotency keys, and a
circuit breaker shared by all processes through Redis (breederhq/breakers.py,
docs/architecture/invoices-and-payments.md).

Never call this inside a database transaction that holds locks: a slow Stripe would hold them too.
"""

from __future__ import annotations

import logging
from functools import lru_cache

import pybreaker
import stripe
from django.conf import settings

from breederhq.breakers import shared_breaker

logger = logging.getLogger(__name__)


class StripeUnavailable(Exception):
    """Stripe cannot be reached (network, 5xx, rate limit) or the breaker is open."""


#: Errors that mean "Stripe is not well", which count against the breaker. A 4xx (bad request, card
#: declined) is our or the customer's problem and must not open it.
OUTAGE_ERRORS = (stripe.APIConnectionError, stripe.RateLimitError)


def _is_outage(exc: BaseException) -> bool:
    if isinstance(exc, OUTAGE_ERRORS):
        return True
    return isinstance(exc, stripe.APIError) and (getattr(exc, "http_status", None) or 500) >= 500


def stripe_files_base() -> str:
    """Where file uploads go: Stripe's own upload host when we talk to Stripe itself, else the API base
    we were pointed at (a local fake or mock serves both), unless STRIPE_FILES_BASE names one."""
    explicit = getattr(settings, "STRIPE_FILES_BASE", "")
    if explicit:
        return explicit
    return (
        "https://files.stripe.com" if settings.STRIPE_API_BASE == "https://api.stripe.com" else settings.STRIPE_API_BASE
    )


@lru_cache(maxsize=1)
def stripe_client() -> stripe.StripeClient:
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        base_addresses={"api": settings.STRIPE_API_BASE, "files": stripe_files_base()},
        # Retries are ours (webhook backoff, idempotent re-runs); the SDK's would hide outages.
        max_network_retries=0,
        http_client=stripe.RequestsClient(timeout=settings.STRIPE_TIMEOUT_SECONDS),
    )


@lru_cache(maxsize=1)
def stripe_breaker() -> pybreaker.CircuitBreaker:
    return shared_breaker(
        "stripe",
        fail_max=settings.STRIPE_BREAKER_FAIL_MAX,
        reset_timeout=settings.STRIPE_BREAKER_RESET_SECONDS,
        is_outage=_is_outage,
    )


def breaker_is_open() -> bool:
    return stripe_breaker().current_state == pybreaker.STATE_OPEN


def call_stripe(operation: str, function, *args, **kwargs):
    """Run one SDK call through the breaker. Raises StripeUnavailable for outages and an open breaker;
    Stripe's own 4xx errors pass through unchanged."""
    try:
        return stripe_breaker().call(function, *args, **kwargs)
    except pybreaker.CircuitBreakerError as exc:
        logger.warning("stripe breaker open: %s refused", operation)
        raise StripeUnavailable(f"Stripe is unavailable (circuit open); {operation} not attempted") from exc
    except stripe.StripeError as exc:
        if _is_outage(exc):
            logger.warning("stripe outage during %s: %s", operation, exc)
            raise StripeUnavailable(f"Stripe is unavailable: {operation} failed ({type(exc).__name__})") from exc
        raise


def idempotency_key(operation: str, *parts: object) -> str:
    """Our own key, derived from our row, so a retry after a crash never charges twice."""
    return "breederhq:" + ":".join([operation, *(str(p) for p in parts)])
