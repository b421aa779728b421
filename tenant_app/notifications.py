"""Emails of the tenant side that are not invoice events: invitations (breederhq/invoicing/lifecycle.py
sends the invoice emails of both kinds). Called inside the service's transaction, so the email row
commits (or not) with the change that causes it."""

from __future__ import annotations

import re

from breederhq.databases import TENANT_DB
from breederhq.email import email_enqueue
from tenant_app.models import TenantMembership


def invitation_email(invitation, *, token: str, actor) -> None:
    """The invitation email: the only place the raw token ever goes (the link and the text). The same
    words whether or not an account uses the address: it says to sign in, or sign up, with it."""
    from django.conf import settings

    email_enqueue(
        using=TENANT_DB,
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
