"""Memberships of the caller's tenant: list, change a role, remove, leave."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response

from breederhq.api.base import MANAGER_ROLES, READ_ROLES, TenantAPIView, refuse
from breederhq.api.pagination import PageNumber
from breederhq.api.params import validated
from breederhq.api.schema import IDEMPOTENCY_KEY, READ_ERRORS, WRITE_ERRORS, problems
from breederhq.api.versioning import IF_MATCH_PATTERN, version_etag
from breederhq.api.versioning import expected_version_from_request as _expected_version
from breederhq.errors import NotFound, PermissionDenied
from tenant_app import selectors, services
from tenant_app.accounts import require_verified_email
from tenant_app.api import serializers as s
from tenant_app.models import TenantMembership

MEMBERSHIP_IF_MATCH = OpenApiParameter(
    "If-Match",
    {"type": "string", "pattern": IF_MATCH_PATTERN},
    OpenApiParameter.HEADER,
    required=False,
    description='The membership version last read, as its ETag ("3"); or `version` in the body.',
)


def _membership_response(membership_id: int, *, tenant_id: int, status_code: int = 200) -> Response:
    membership = selectors.membership_list(tenant_id=tenant_id).filter(pk=membership_id).first()
    if membership is None:
        raise NotFound(f"Membership {membership_id} not found.")
    return Response(
        s.TenantMemberOut(membership).data, status=status_code, headers={"ETag": version_etag(membership.version)}
    )


INVITE_ERRORS = {
    **WRITE_ERRORS,
    **problems(
        e403="`role_forbidden` (staff, viewers), `owner_role_forbidden` (an admin inviting an owner) or "
        "`email_unverified` (confirm your address first)",
        e409="`already_a_member` (a member of this tenant uses the address; see the member list), "
        "`invitation_conflict`, or an Idempotency-Key in flight",
    ),
}


def _invite(view, request):
    require_verified_email(request.user, to="invite people")
    data = validated(s.TenantInvitationIn, request.data)
    try:
        return services.invitation_create(email=data["email"], role=data["role"], actor=request.user)
    except PermissionDenied as exc:
        view._refused(request, exc)


class MembershipWrites:
    """Reads for every member; writes for owners and admins (the services also check, under the lock,
    that only an owner touches the owner role). Refusals from the services are audited too."""

    resource_type = "memberships"
    write_roles = MANAGER_ROLES

    def _refused(self, request, exc: PermissionDenied, membership_id=None):
        refuse(
            request,
            resource_type=self.resource_type,
            resource_id=membership_id,
            action=self.audit_action(request),
            reason=exc.detail,
            code=exc.code,
            detail=exc.detail,
        )


class MembershipListView(MembershipWrites, TenantAPIView):
    pagination_class = PageNumber
    serializer_class = s.TenantMemberOut

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return TenantMembership.objects.none()
        return selectors.membership_list(tenant_id=self.request.tenant_id)

    @extend_schema(
        operation_id="memberships_list",
        tags=["tenant"],
        responses={200: s.TenantMemberOut(many=True), **READ_ERRORS},
        summary="The members of this tenant and their roles",
    )
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(s.TenantMemberOut(page, many=True).data)

    @extend_schema(
        operation_id="memberships_create",
        tags=["tenant"],
        request=s.TenantMemberIn,
        parameters=[IDEMPOTENCY_KEY],
        responses={202: s.TenantInvitationOut, **INVITE_ERRORS},
        deprecated=True,
        summary="Deprecated: invites the address (POST /tenants/me/invitations/); adds nobody",
        description="Nobody joins a tenant without consenting: this sends an invitation exactly as "
        "`invitations_create` does and answers 202 with it. The answer is the same "
        "whether or not an account uses the address.",
    )
    def post(self, request):
        invitation = _invite(self, request)
        return Response(s.TenantInvitationOut(invitation).data, status=status.HTTP_202_ACCEPTED)


class MembershipDetailView(MembershipWrites, TenantAPIView):
    serializer_class = s.TenantMemberOut

    @extend_schema(
        operation_id="memberships_retrieve", tags=["tenant"], responses={200: s.TenantMemberOut, **READ_ERRORS}
    )
    def get(self, request, membership_id: int):
        return _membership_response(membership_id, tenant_id=request.tenant_id)

    @extend_schema(
        operation_id="memberships_update",
        tags=["tenant"],
        request=s.TenantMemberPatch,
        parameters=[MEMBERSHIP_IF_MATCH, IDEMPOTENCY_KEY],
        responses={200: s.TenantMemberOut, **WRITE_ERRORS},
        summary="Change a member's role, at the version you last read",
        description="Demoting the last owner is 409 `last_owner`; a stale version 409 `version_conflict`.",
    )
    def patch(self, request, membership_id: int):
        data = validated(s.TenantMemberPatch, request.data)
        version = _expected_version(request, data.get("version"))
        try:
            services.membership_change_role(
                membership_id=membership_id, role=data["role"], actor=request.user, expected_version=version
            )
        except PermissionDenied as exc:
            self._refused(request, exc, membership_id)
        return _membership_response(membership_id, tenant_id=request.tenant_id)

    @extend_schema(
        operation_id="memberships_delete",
        tags=["tenant"],
        parameters=[MEMBERSHIP_IF_MATCH],
        responses={204: None, **WRITE_ERRORS},
        summary="Remove a member (their next request to this tenant is refused)",
        description="Removing the last owner is 409 `last_owner`. If-Match is optional here.",
    )
    def delete(self, request, membership_id: int):
        version = _expected_version(request, None) if request.headers.get("If-Match") is not None else None
        try:
            services.membership_delete(membership_id=membership_id, actor=request.user, expected_version=version)
        except PermissionDenied as exc:
            self._refused(request, exc, membership_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MembershipLeaveView(TenantAPIView):
    """The signed-in member's own membership of the request's tenant: any role may leave."""

    resource_type = "memberships"
    write_roles = READ_ROLES

    @extend_schema(
        operation_id="memberships_leave",
        tags=["tenant"],
        responses={
            204: None,
            **READ_ERRORS,
            **problems(e409="`last_owner`: make another member owner first", e429="Throttled"),
        },
        summary="Leave this tenant (the one X-Tenant-ID names, or your only one)",
        description="Your membership is deleted and the departure audited; your next request to "
        "this tenant is refused. The last owner cannot leave: 409 `last_owner`.",
    )
    def delete(self, request):
        services.membership_leave(actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
