"""Which marketplace-invoice events send which email (the same templates as tenant invoices; the
provider's business name stands where the tenant's would). Called inside the service's transaction."""

from __future__ import annotations

from breederhq.email import email_enqueue
from breederhq.money import Money
from marketplace_app.models import MarketplaceInvoice, MarketplaceUser, Provider

INVOICE_EMAILS = {
    "sent": ("invoice_sent", "buyer"),
    "buyer_marked_paid": ("invoice_buyer_marked_paid", "provider"),
    "payment_confirmed": ("invoice_payment_confirmed", "buyer"),
    "payment_rejected": ("invoice_payment_rejected", "buyer"),
    "confirmation_expired": ("invoice_confirmation_expired", "buyer"),
}


def marketplace_invoice_event_emails(invoice: MarketplaceInvoice, *, action: str, reason: str = "") -> None:
    template, audience = INVOICE_EMAILS[action]
    provider = Provider.all_objects.using("marketplace").select_related("user").get(pk=invoice.provider_id)
    if audience == "buyer":
        recipient = MarketplaceUser.all_objects.using("marketplace").filter(pk=invoice.client_id, deleted_at__isnull=True).first()
    else:
        recipient = provider.user if provider.user.deleted_at is None else None
    if recipient is None:
        return  # erased or deleted: nobody to write to
    email_enqueue(
        using="marketplace",
        event_key=f"marketplace_invoice:{invoice.pk}:v{invoice.version}:{action}",
        template=template,
        to=[recipient.email],
        context={"tenant": provider.business_name, "invoice_number": invoice.number,
                 "total": Money(invoice.total_cents, invoice.currency).format(), "reason": reason},
    )


#: How a payment's channel reads in the receipts.
METHOD_WORDS = {"stripe": "card, through Stripe", "manual": "by hand"}


def marketplace_invoice_payment_receipts(invoice: MarketplaceInvoice, *, method: str) -> None:
    """Whatever the channel, the same two emails when an invoice becomes paid: a receipt to the
    buyer and a notice to the provider (the same templates as tenant invoices)."""
    provider = Provider.all_objects.using("marketplace").select_related("user").get(pk=invoice.provider_id)
    buyer = MarketplaceUser.all_objects.using("marketplace").filter(pk=invoice.client_id, deleted_at__isnull=True).first()
    seller = provider.user if provider.user.deleted_at is None else None
    context = {"tenant": provider.business_name, "invoice_number": invoice.number,
               "total": Money(invoice.total_cents, invoice.currency).format(), "method": METHOD_WORDS.get(method, method)}
    for template, recipient in (("invoice_payment_receipt", buyer), ("invoice_payment_received", seller)):
        if recipient is not None and recipient.email:
            email_enqueue(using="marketplace", event_key=f"marketplace_invoice:{invoice.pk}:v{invoice.version}:{template}",
                          template=template, to=[recipient.email], context=context)
