"""Which tenant-invoice events send which email, to whom (issue 8). Called inside the service's
transaction, so the email row commits (or not) with the change that causes it."""

from __future__ import annotations

import re

from breederhq.email import email_enqueue
from breederhq.money import Money
from tenant_app.models import Invoice, TenantMembership

#: audit action -> (template, who receives it)
INVOICE_EMAILS = {
    "sent": ("invoice_sent", "buyer"),
    "buyer_marked_paid": ("invoice_buyer_marked_paid", "tenant_staff"),
    "payment_confirmed": ("invoice_payment_confirmed", "buyer"),
    "payment_rejected": ("invoice_payment_rejected", "buyer"),
    "confirmation_expired": ("invoice_confirmation_expired", "buyer"),
}


def _recipients(invoice: Invoice, audience: str) -> list[str]:
    if audience == "buyer":
        return [invoice.contact.email] if invoice.contact.email else []
    return sorted(
        TenantMembership.objects.filter(tenant_id=invoice.tenant_id, role__in=["owner", "admin"])
        .exclude(user__email="").values_list("user__email", flat=True)
    )


def invoice_event_emails(invoice: Invoice, *, action: str, metadata: dict | None = None) -> None:
    if action not in INVOICE_EMAILS:
        return
    template, audience = INVOICE_EMAILS[action]
    to = _recipients(invoice, audience)
    if not to:
        return  # a contact without an email address: nothing to send, nothing to retry
    email_enqueue(
        using="default",
        event_key=f"tenant_invoice:{invoice.pk}:v{invoice.version}:{action}",
        template=template,
        to=to,
        context={
            "tenant": invoice.tenant.name,
            "invoice_number": invoice.invoice_number,
            "total": Money(invoice.total_cents, invoice.currency).format(),
            "reason": (metadata or {}).get("reason", ""),
        },
    )


def invitation_email(invitation, *, token: str, actor) -> None:
    """The invitation email: the only place the raw token ever goes (the link and the text). The same
    words whether or not an account uses the address: it says to sign in, or sign up, with it."""
    from django.conf import settings

    email_enqueue(
        using="default",
        event_key=f"tenant_invitation:{invitation.pk}",
        template="tenant_invitation",
        to=[invitation.email],
        context={
            "tenant": invitation.tenant.name,
            "inviter": actor.get_full_name() or actor.email,
            "role": TenantMembership.Role(invitation.role).label.lower(),
            "email": invitation.email,
            "token": token,
            "url": settings.TENANT_INVITATION_ACCEPT_URL.replace("{token}", token),
            "expires_at": invitation.expires_at,
        },
    )


_INVITATION_CODE = re.compile(r"invitation code, if the app asks for it: (\S+)")


def invitation_email_secrets(email) -> list[str]:
    """The token in a stored invitation email (breederhq.email.SECRETS_IN_TEMPLATES): it is removed
    from the row once the email is sent, so the token then exists only in the recipient's mailbox."""
    found = _INVITATION_CODE.search(email.text_body or "")
    return [found.group(1)] if found else []
