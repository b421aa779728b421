"""Audited "view as": a support staff member sees the API exactly as one tenant user would, read-only,
for `VIEW_AS_TTL`, every request recorded.

The staff member starts it from the back office (a reason is required, and never for another staff
account). While it lasts, `ViewAsMiddleware` — after authentication, before the tenant middleware —
replaces `request.user` with that user on every request outside `/admin/`, so the tenant context,
permissions and data are the user's own; writes (`POST`, `PATCH`, ...) are refused (403) and
recorded. Each request writes a `cross_tenant_query_audit` row (`query_type` `view_as:<user>:<method>
<path>`, the tenant the user resolved to, the reason) and answers with `X-Viewing-As: <email>`; the
admin shows a banner with a Stop button. The admin itself keeps the staff member's own identity.
It lasts only while the staff member's session has passed the second factor.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.http import JsonResponse
from django.utils import timezone

from breederhq.databases import TENANT_DB
from breederhq.errors import PermissionDenied
from breederhq.staff import session_is_verified
from breederhq.tenancy import write_authorization_audit

SESSION_KEY = "backoffice_view_as"
VIEW_AS_TTL = timedelta(minutes=30)
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


@dataclass(frozen=True)
class ViewAs:
    user_id: int
    email: str
    reason: str
    expires_at: datetime


def view_as_start(*, request, target, reason: str) -> ViewAs:
    from breederhq.backoffice.admin_tools import SUPPORT_ACTIONS

    staff = request.user
    allowed = bool(
        staff.is_active
        and staff.is_staff
        and staff.has_perm(SUPPORT_ACTIONS)
        and reason.strip()
        and not target.is_staff
        and not target.is_superuser
        and target.is_active
    )
    write_authorization_audit(
        user_id=staff.pk,
        resource_type="view_as",
        resource_id=f"user:{target.pk}",
        action="start",
        allowed=allowed,
        reason=reason,
        request=request,
    )
    if not allowed:
        raise PermissionDenied(
            "View as needs support rights, a reason, and an active non-staff user.", code="view_as_denied"
        )
    expires_at = timezone.now() + VIEW_AS_TTL
    request.session[SESSION_KEY] = {
        "user_id": target.pk,
        "email": target.email,
        "reason": reason,
        "staff_id": staff.pk,
        "expires_at": expires_at.isoformat(),
    }
    return ViewAs(target.pk, target.email, reason, expires_at)


def view_as_end(*, request) -> None:
    request.session.pop(SESSION_KEY, None)


def view_as_get(request) -> ViewAs | None:
    session = getattr(request, "session", None)
    data = session.get(SESSION_KEY) if session is not None else None
    if not data:
        return None
    staff = getattr(request, "staff_user", None) or request.user
    if (
        datetime.fromisoformat(data["expires_at"]) <= timezone.now()
        or not staff.is_authenticated
        or staff.pk != data["staff_id"]
        or not staff.is_active
        or not staff.is_staff
        or not session_is_verified(staff)
    ):  # e.g. their second factor was reset meanwhile
        session.pop(SESSION_KEY, None)
        return None
    return ViewAs(int(data["user_id"]), data["email"], data["reason"], datetime.fromisoformat(data["expires_at"]))


class ViewAsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if (
            request.path.startswith("/admin/")
            or not getattr(request, "user", None)
            or not request.user.is_authenticated
        ):
            return self.get_response(request)
        view_as = view_as_get(request)
        if view_as is None:
            return self.get_response(request)
        from tenant_app.models import User

        staff = request.user
        target = User.objects.using(TENANT_DB).filter(pk=view_as.user_id, is_active=True).first()
        if target is None:
            view_as_end(request=request)
            return self.get_response(request)
        if request.method not in SAFE_METHODS:
            write_authorization_audit(
                user_id=staff.pk,
                resource_type="view_as",
                resource_id=f"user:{target.pk}",
                action=f"{request.method} refused"[:50],
                allowed=False,
                reason=f"{request.path} (view as is read-only)",
                request=request,
            )
            return JsonResponse(
                {
                    "type": "about:blank",
                    "title": "Permission denied",
                    "status": 403,
                    "detail": "Viewing as another user is read-only.",
                    "code": "view_as_read_only",
                },
                status=403,
                content_type="application/problem+json",
            )
        request.staff_user = staff
        request.user = request._cached_user = target
        try:
            response = self.get_response(request)
        finally:
            self._audit(request, staff, target, view_as)
        response["X-Viewing-As"] = target.email
        return response

    @staticmethod
    def _audit(request, staff, target, view_as: ViewAs) -> None:
        from breederhq.models import CrossTenantQueryAudit

        with transaction.atomic(using=TENANT_DB):
            CrossTenantQueryAudit.objects.using(TENANT_DB).create(
                user_id=staff.pk,
                target_tenant_id=getattr(request, "tenant_id", None) or 0,
                query_type=f"view_as:{target.pk}:{request.method} {request.path}"[:100],
                allowed=True,
                reason=view_as.reason,
            )
