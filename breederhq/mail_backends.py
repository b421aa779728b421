"""Email backends."""

from anymail.backends.resend import EmailBackend as AnymailResendBackend


class ResendEmailBackend(AnymailResendBackend):
    """anymail's Resend backend, plus Resend's `Idempotency-Key` header from the message's
    `idempotency_key` (the OutboundEmail's event key): a resend after a crash is not delivered twice."""

    def build_message_payload(self, message, defaults):
        payload = super().build_message_payload(message, defaults)
        key = getattr(message, "idempotency_key", None)
        if key:
            payload.headers["Idempotency-Key"] = key[:256]
        return payload
