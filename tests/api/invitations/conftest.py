"""The invitation tests' endpoints and helpers: the emails sent, the token they carry, memberships and
the membership audit of a tenant."""

from __future__ import annotations

import re

from breederhq.databases import TENANT_DB
from breederhq.models import OutboundEmail
from breederhq.tenancy import tenant_context
from tenant_app.models import MembershipAuditLog, TenantInvitation, TenantMembership
from tests.api.conftest import send_json

MEMBERS = "/api/v1/tenants/me/memberships/"
INVITATIONS = "/api/v1/tenants/me/invitations/"
ACCEPT = "/api/v1/invitations/accept/"
DECLINE = "/api/v1/invitations/decline/"
MINE = "/api/v1/invitations/"
LEAVE = "/api/v1/tenants/me/membership/"
CONTACTS = "/api/v1/contacts/"
REFRESH = "/api/v1/auth/token/refresh/"


def emails_to(address: str) -> list[OutboundEmail]:
    return list(
        OutboundEmail.objects.using(TENANT_DB).filter(template="tenant_invitation", to=[address]).order_by("id")
    )


def token_for(address: str) -> str:
    """The token of the latest invitation email to `address`: the only place it exists."""
    text = emails_to(address)[-1].text_body
    return re.search(r"invitation code, if the app asks for it: (\S+)", text).group(1)


def invite(client, email: str, role: str = "staff", **headers):
    return send_json(client, "post", INVITATIONS, {"email": email, "role": role}, **headers)


def memberships_of(tenant) -> list[tuple[str, str]]:
    with tenant_context(tenant.pk):
        return sorted(TenantMembership.objects.values_list("user__email", "role"))


def audit_rows(tenant) -> list[tuple]:
    with tenant_context(tenant.pk):
        return list(
            MembershipAuditLog.objects.order_by("id").values_list(
                "action", "email", "user__email", "old_role", "new_role", "changed_by__email"
            )
        )


def invitation(tenant, pk: int) -> TenantInvitation:
    with tenant_context(tenant.pk):
        return TenantInvitation.objects.get(pk=pk)


def comparable(payload: dict) -> dict:
    """An invitation answer without what differs by construction (its id, address and times)."""
    return {k: v for k, v in payload.items() if k not in {"id", "email", "created_at", "expires_at"}}
