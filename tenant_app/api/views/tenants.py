"""The tenant itself: create one, read and edit the caller's tenant."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from breederhq.api.base import TenantAPIView, refuse
from breederhq.api.idempotency import IdempotentAPIView
from breederhq.api.params import validated
from breederhq.api.schema import IDEMPOTENCY_KEY, READ_ERRORS, WRITE_ERRORS, problems
from breederhq.api.throttling import WriteIPThrottle, WriteUserThrottle
from breederhq.api.versioning import IF_MATCH_PATTERN
from breederhq.api.versioning import expected_version_from_request as _expected_version
from breederhq.databases import TENANT_DB
from breederhq.errors import PermissionDenied
from tenant_app import services
from tenant_app.accounts import require_verified_email
from tenant_app.api import serializers as s
from tenant_app.models import Tenant, TenantMembership


def _tenant_payload(tenant: Tenant, role: str) -> dict:
    return s.TenantMeOut(
        {
            "id": tenant.pk,
            "name": tenant.name,
            "slug": tenant.slug,
            "marketplace_payment_mode": tenant.marketplace_payment_mode,
            "role": role,
            **{field: getattr(tenant, field) for field in services.TENANT_PROFILE_FIELDS if field != "name"},
            "version": tenant.version,
        }
    ).data


TENANT_IF_MATCH = OpenApiParameter(
    "If-Match",
    {"type": "string", "pattern": IF_MATCH_PATTERN},
    OpenApiParameter.HEADER,
    required=False,
    description='The tenant version last read, as its ETag ("3"); or `version` in the body.',
)


class TenantMeView(TenantAPIView):
    resource_type = "tenant"
    write_roles = frozenset({"owner"})

    @extend_schema(
        operation_id="tenant_me",
        tags=["tenant"],
        responses={200: s.TenantMeOut, **READ_ERRORS},
        summary="The tenant this request acts in, its profile, and your role there",
    )
    def get(self, request):
        tenant = Tenant.objects.get(pk=request.tenant_id)
        return Response(
            _tenant_payload(tenant, request.tenant_membership.role), headers={"ETag": f'"{tenant.version}"'}
        )

    @extend_schema(
        operation_id="tenant_me_update",
        tags=["tenant"],
        request=s.TenantPatch,
        parameters=[TENANT_IF_MATCH, IDEMPOTENCY_KEY],
        responses={200: s.TenantMeOut, **WRITE_ERRORS},
        summary="Edit the tenant's profile (owners), at the version you last read",
        description="Name, contact details, default currency and invoice number prefix. A stale "
        "version is 409 `version_conflict` with `current_version`; other roles get 403 "
        "`role_forbidden`. Every change is audited with its old and new values.",
    )
    def patch(self, request):
        data = dict(validated(s.TenantPatch, request.data))
        version = _expected_version(request, data.pop("version", None))
        try:
            tenant = services.tenant_update_profile(actor=request.user, expected_version=version, **data)
        except PermissionDenied as exc:
            refuse(
                request,
                resource_type="tenant",
                resource_id=request.tenant_id,
                action="update",
                reason=exc.detail,
                code=exc.code,
                detail=exc.detail,
            )
        return Response(
            _tenant_payload(tenant, request.tenant_membership.role), headers={"ETag": f'"{tenant.version}"'}
        )


def _free_slug(name: str) -> str:
    import secrets

    from django.utils.text import slugify

    return f"{slugify(name)[:70] or 'tenant'}-{secrets.token_hex(3)}"


class TenantCreateView(IdempotentAPIView, generics.GenericAPIView):
    """A signed-in, verified account creates a breeder business and becomes its owner. No tenant is
    resolved for this request (the new one does not exist yet)."""

    idempotency_database = TENANT_DB
    permission_classes = [IsAuthenticated]
    throttle_classes = [WriteUserThrottle, WriteIPThrottle]
    serializer_class = s.TenantIn

    @extend_schema(
        operation_id="tenants_create",
        tags=["tenant"],
        request=s.TenantIn,
        parameters=[IDEMPOTENCY_KEY],
        responses={
            201: s.TenantMeOut,
            **WRITE_ERRORS,
            **problems(e403="`email_unverified`: confirm your email address first"),
        },
        summary="Create a breeder business (tenant): you become its owner",
        description="Needs a confirmed email address. A taken `slug` is 400 with a field error. The "
        "access token names the tenants it was issued for: refresh it "
        "(POST /api/v1/auth/token/refresh/) to work in the new tenant.",
    )
    def post(self, request):
        require_verified_email(request.user, to="create a business")
        data = dict(validated(s.TenantIn, request.data))
        name, slug = data.pop("name"), data.pop("slug", None)
        tenant = services.tenant_create(name=name.strip(), slug=slug or _free_slug(name), owner=request.user, **data)
        return Response(
            _tenant_payload(tenant, TenantMembership.Role.OWNER),
            status=status.HTTP_201_CREATED,
            headers={"ETag": f'"{tenant.version}"', "Location": "/api/v1/tenants/me/"},
        )
