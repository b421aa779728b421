"""Email backends."""

from anymail.backends.resend import EmailBackend as AnymailResendBackend


class ResendEmailBackend(AnymailResendBackend):
    """anymail's Resend backend, plus Resend's `Idempotency-Key` header from the message's
    `idempotency_key` (the OutboundEmail's attempt key): a retry after a crash is not delivered twice."""

    #: breederhq.email retries a send whose worker died with the same key only on such a backend.
    supports_idempotency_key = True

    def build_message_payload(self, message, defaults):
        payload = super().build_message_payload(message, defaults)
        key = getattr(message, "idempotency_key", None)
        if key:
            payload.headers["Idempotency-Key"] = key[:256]
        return payload
