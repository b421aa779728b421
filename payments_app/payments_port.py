"""payments_app's implementation of the core's payments port (breederhq/invoicing/payments.py),
registered by PaymentsAppConfig.ready(): the domain apps reach these functions through the port and
never import payments_app (docs/architecture/layers.md)."""

from __future__ import annotations

from payments_app import collection, intent_cancel, providers, refunds


class StripePayments:
    stripe_mode_fallback = staticmethod(providers.stripe_mode_fallback)
    invoice_payment_record_fallback = staticmethod(collection.invoice_payment_record_fallback)
    invoice_payment_open_on_commit = staticmethod(collection.invoice_payment_open_on_commit)
    invoice_payment_cancel_on_void = staticmethod(intent_cancel.invoice_payment_cancel_on_void)
    invoice_payment_close_for_manual = staticmethod(intent_cancel.invoice_payment_close_for_manual)
    invoice_refund_through_channel = staticmethod(refunds.invoice_refund_through_channel)
