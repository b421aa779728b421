"""Base views of the API: who the caller is, which tenant or marketplace identity they act as.

`TenantAPIView` — tenant endpoints. After DRF authenticates (JWT or session), the tenant context
is set from the caller's membership (`activate_request_tenant`: the `X-Tenant-ID` header, or the
only membership) for this request; `TenantContextMiddleware` clears it at the end of the request
whatever happens. The membership must also be among the tenants the token names. A non-breeder
service provider never gets here (403 and an `authorization_audit` row), nor does anyone without a
membership. Roles: `viewer` reads, `staff` and above write, some actions need `admin` or `owner`.

`MarketplaceAPIView` — marketplace endpoints: the caller's `MarketplaceUser` (the token's `mku`
claim, or the one linked to a session user) is `request.marketplace_user`; idempotency keys live in
the marketplace database.

Both are `IdempotentAPIView`s (Idempotency-Key on POST and PATCH) and `GenericAPIView`s
(django-filter, pagination, and an accurate schema).
"""

from __future__ import annotations

from rest_framework import generics
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework_simplejwt.tokens import Token

from breederhq.api import identity_cache
from breederhq.api.auth import MARKETPLACE_KIND_CLAIM, MARKETPLACE_USER_CLAIM, TENANTS_CLAIM
from breederhq.api.idempotency import IdempotentAPIView
from breederhq.api.throttling import WriteIPThrottle, WriteUserThrottle
from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.errors import PermissionDenied, ValidationFailed
from breederhq.identity import marketplace_identity
from breederhq.observability.metrics import BLOCKED_CROSS_TENANT
from breederhq.tenancy import TENANT_HEADER_ERROR, activate_request_tenant, write_authorization_audit

READ_ROLES = frozenset({"owner", "admin", "staff", "viewer"})
WRITE_ROLES = frozenset({"owner", "admin", "staff"})
MANAGER_ROLES = frozenset({"owner", "admin"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _claims(request) -> dict | None:
    return request.auth.payload if isinstance(request.auth, Token) else None


def _marketplace_identity(request) -> tuple[int | None, str | None]:
    """(marketplace user id, kind) of the caller: from the token, or looked up for a session user."""
    claims = _claims(request)
    if claims is not None:
        return claims.get(MARKETPLACE_USER_CLAIM), claims.get(MARKETPLACE_KIND_CLAIM)
    return marketplace_identity().identity_of(request.user.pk)


def refuse(request, *, resource_type: str, action: str, reason: str, detail: str, code: str, resource_id=None):
    """Write the `authorization_audit` row (its own transaction) and raise a 403."""
    write_authorization_audit(
        user_id=getattr(request.user, "pk", None),
        resource_type=resource_type,
        resource_id=resource_id,
        action=action,
        allowed=False,
        reason=reason,
        request=request._request,
    )
    BLOCKED_CROSS_TENANT.labels(code).inc()
    raise PermissionDenied(detail, code=code)


class TenantRolePermission(BasePermission):
    """The membership's role must be in the view's roles for this method (see `roles_for`)."""

    def has_permission(self, request, view):
        membership = getattr(request, "tenant_membership", None)
        if membership is None:
            return False
        roles = view.roles_for(request)
        if membership.role not in roles:
            refuse(
                request,
                resource_type=view.resource_type,
                action=view.audit_action(request),
                reason=f"role {membership.role} may not {request.method} here",
                code="role_forbidden",
                detail=f"Your role ({membership.role}) does not allow this; it needs one of: "
                f"{', '.join(sorted(roles))}.",
            )
        return True


class TenantAPIView(IdempotentAPIView, generics.GenericAPIView):
    idempotency_database = TENANT_DB
    permission_classes = [IsAuthenticated, TenantRolePermission]
    throttle_classes = [WriteUserThrottle, WriteIPThrottle]
    #: Named in authorization_audit rows.
    resource_type = "tenant"
    read_roles = READ_ROLES
    write_roles = WRITE_ROLES

    def audit_action(self, request) -> str:
        if request.method in SAFE_METHODS:
            return "retrieve" if self.kwargs else "list"
        return {"POST": "create", "PATCH": "update", "PUT": "update", "DELETE": "delete"}.get(request.method, "write")

    def roles_for(self, request) -> frozenset[str]:
        return self.read_roles if request.method in SAFE_METHODS else self.write_roles

    def initial(self, request, *args, **kwargs):
        # DRF's `initial`, with the tenant resolved between authentication and the permission check
        # (the role check needs the membership).
        self.format_kwarg = self.get_format_suffix(**kwargs)
        request.accepted_renderer, request.accepted_media_type = self.perform_content_negotiation(request)
        request.version, request.versioning_scheme = self.determine_version(request, *args, **kwargs)
        self.perform_authentication(request)
        if request.user and request.user.is_authenticated:
            self.activate_tenant(request)
        self.check_permissions(request)
        self.check_throttles(request)

    def activate_tenant(self, request) -> None:
        django_request = request._request
        _, kind = _marketplace_identity(request)
        if kind == "service_provider":
            refuse(
                request,
                resource_type=self.resource_type,
                action="access",
                reason="service provider (not a breeder) reaching a tenant endpoint",
                code="not_a_breeder",
                detail="Service providers have no access to breeder (tenant) data.",
            )
        if getattr(django_request, "tenant_membership", None) is None:
            # Token authentication happens after TenantContextMiddleware; resolve it now. The
            # middleware's `finally` still clears whatever this sets.
            claims = _claims(request)
            denied = activate_request_tenant(
                django_request, request.user, token_tenants=claims.get(TENANTS_CLAIM) if claims else None
            )
            if denied is not None and denied.status_code == 400:  # X-Tenant-ID is no tenant id
                raise ValidationFailed(
                    f"X-Tenant-ID {TENANT_HEADER_ERROR}.", field_errors={"X-Tenant-ID": [TENANT_HEADER_ERROR]}
                )
            if denied is not None:  # the audit row is written already
                BLOCKED_CROSS_TENANT.labels("not_a_member").inc()
                raise PermissionDenied("You are not a member of that tenant.", code="permission_denied")
        membership = django_request.tenant_membership
        if membership is None:
            refuse(
                request,
                resource_type=self.resource_type,
                action=self.audit_action(request),
                reason="no tenant membership resolved for this request",
                code="no_tenant",
                detail="Choose a tenant you are a member of (X-Tenant-ID).",
            )
        claims = _claims(request)
        if claims is not None and membership.tenant_id not in (claims.get(TENANTS_CLAIM) or []):
            refuse(
                request,
                resource_type="tenant",
                resource_id=membership.tenant_id,
                action="access",
                reason="tenant not named in the access token",
                code="tenant_not_in_token",
                detail="This token was issued before you joined that tenant: refresh it.",
            )
        request.tenant_id = membership.tenant_id
        request.tenant_membership = membership


class AccountAPIView(IdempotentAPIView, generics.GenericAPIView):
    """Endpoints of the signed-in account itself, outside any tenant (its invitations, for instance):
    no tenant is resolved, writes are throttled and honour Idempotency-Key like every other write."""

    idempotency_database = TENANT_DB
    permission_classes = [IsAuthenticated]
    throttle_classes = [WriteUserThrottle, WriteIPThrottle]


class HasMarketplaceIdentity(BasePermission):
    message = "This endpoint needs a marketplace account linked to your login."

    def has_permission(self, request, view):
        return getattr(request, "marketplace_user", None) is not None


class MarketplaceAPIView(IdempotentAPIView, generics.GenericAPIView):
    idempotency_database = MARKETPLACE_DB
    permission_classes = [IsAuthenticated, HasMarketplaceIdentity]
    throttle_classes = [WriteUserThrottle, WriteIPThrottle]

    def idempotency_context(self, request) -> str:
        marketplace_user = getattr(request, "marketplace_user", None)
        return f"marketplace:{marketplace_user.pk}" if marketplace_user is not None else "marketplace"

    def initial(self, request, *args, **kwargs):
        self.format_kwarg = self.get_format_suffix(**kwargs)
        request.accepted_renderer, request.accepted_media_type = self.perform_content_negotiation(request)
        request.version, request.versioning_scheme = self.determine_version(request, *args, **kwargs)
        self.perform_authentication(request)
        request.marketplace_user = None
        if request.user and request.user.is_authenticated:
            user_id, _ = _marketplace_identity(request)
            if user_id is not None:
                # Re-read: an erased (soft-deleted) marketplace user's token stops working (on reads
                # within API_IDENTITY_CACHE_SECONDS, see identity_cache; on writes at once).
                def load():
                    return marketplace_identity().marketplace_user(user_id)

                request.marketplace_user = (
                    identity_cache.cached(("marketplace_user", str(user_id)), load)
                    if request.method in SAFE_METHODS
                    else load()
                )
        self.check_permissions(request)
        self.check_throttles(request)
