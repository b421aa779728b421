"""The email provider's circuit breaker (breederhq/breakers.py), shared by every worker through Redis.

After EMAIL_BREAKER_FAIL_MAX provider outages in a row (a connection error, a timeout, a 5xx or 429
from the provider's API) the breaker opens for EMAIL_BREAKER_RESET_SECONDS: workers stop calling the
provider, and emails stay `queued` until it may be tried again (breederhq/email.py never claims an
email while the breaker refuses, so nothing is lost and nothing is sent twice). Then one send is
let through as the probe: it closes the breaker, or opens it for another period.

An error about the email itself (a refused or invalid address, another 4xx) is not an outage: it
fails that email only and does not count against the provider.
"""

from __future__ import annotations

import smtplib
from functools import lru_cache

import pybreaker
from django.conf import settings

from breederhq import breakers

#: Longer than sending an email may take (its task's hard time limit, breederhq/tasks.py): a probe
#: whose worker died gives the probe to another after this.
PROBE_SECONDS = 90


def is_provider_outage(exc: BaseException) -> bool:
    from anymail.exceptions import AnymailAPIError, AnymailInvalidAddress, AnymailRecipientsRefused

    if isinstance(exc, (AnymailRecipientsRefused, AnymailInvalidAddress)):
        return False
    if isinstance(exc, AnymailAPIError):
        status = getattr(exc, "status_code", None)
        return status is None or status == 429 or status >= 500  # None: no answer (network, timeout)
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500  # 4xx: try later; 5xx: this message is refused
    if isinstance(exc, (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused)):
        return False
    return isinstance(exc, (ConnectionError, TimeoutError, OSError))


@lru_cache(maxsize=1)
def email_breaker() -> pybreaker.CircuitBreaker:
    return breakers.shared_breaker(
        "email",
        fail_max=settings.EMAIL_BREAKER_FAIL_MAX,
        reset_timeout=settings.EMAIL_BREAKER_RESET_SECONDS,
        is_outage=is_provider_outage,
    )


def email_admission() -> breakers.Admission:
    return breakers.admission(email_breaker(), probe_seconds=PROBE_SECONDS)


def end_probe() -> None:
    breakers.end_probe(email_breaker())


class ProviderRefused(Exception):
    """The breaker refused the call: the provider was not called."""


def call_provider(send, *args):
    """Run `send(*args)` through the breaker. Raises ProviderRefused when it was not called (the
    breaker opened meanwhile), and otherwise the provider's own error (also when this very failure
    opened the breaker)."""
    called = False

    def attempt():
        nonlocal called
        called = True
        return send(*args)

    try:
        return email_breaker().call(attempt)
    except pybreaker.CircuitBreakerError as exc:
        if not called:
            raise ProviderRefused(str(exc)) from exc
        raise (exc.__context__ or exc) from None


def email_provider_status() -> dict:
    """For /healthz and the staff dashboard: the breaker as stored (`state`, `failures`, and when
    open `opened_at`, `retry_at`)."""
    return breakers.breaker_status(email_breaker())
