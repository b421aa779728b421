"""Invitations: the tenant's side (invite, list, revoke) and the invitee's (list, accept, decline)."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from breederhq.api.base import MANAGER_ROLES, AccountAPIView, TenantAPIView
from breederhq.api.pagination import PageNumber
from breederhq.api.params import validated
from breederhq.api.schema import IDEMPOTENCY_KEY, READ_ERRORS, problems
from breederhq.errors import NotFound, PermissionDenied
from tenant_app import selectors, services
from tenant_app.api import serializers as s
from tenant_app.api.views.memberships import INVITE_ERRORS, MembershipWrites, _invite
from tenant_app.models import InvitationStatus, TenantInvitation


class InvitationFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(
        choices=s.INVITATION_STATUSES,
        method="by_status",
        label="pending (still open), expired, accepted, declined or revoked",
    )

    class Meta:
        model = TenantInvitation
        fields = ["status"]

    def by_status(self, queryset, name, value):
        if value == "expired":
            return queryset.expired()
        if value == InvitationStatus.PENDING:
            return queryset.unexpired()
        return queryset.filter(status=value)


class InvitationListView(MembershipWrites, TenantAPIView):
    """The tenant's invitations: owners and admins list, send and revoke them."""

    resource_type = "invitations"
    read_roles = MANAGER_ROLES
    pagination_class = PageNumber
    filterset_class = InvitationFilter
    serializer_class = s.TenantInvitationOut

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return TenantInvitation.objects.none()
        return selectors.invitation_list(tenant_id=self.request.tenant_id)

    @extend_schema(
        operation_id="invitations_list",
        tags=["tenant"],
        responses={200: s.TenantInvitationOut(many=True), **READ_ERRORS},
        summary="This tenant's invitations, newest first (owners and admins); ?status=pending",
    )
    def get(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(s.TenantInvitationOut(page, many=True).data)

    @extend_schema(
        operation_id="invitations_create",
        tags=["tenant"],
        request=s.TenantInvitationIn,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: s.TenantInvitationOut, **INVITE_ERRORS},
        summary="Invite an email address with a role (owners and admins; owner only by an owner)",
        description="Emails a single-use link that expires after TENANT_INVITATION_TTL_DAYS (7). "
        "The answer is the same whether or not an account uses the address; the "
        "person joins only by accepting while signed in with it. Inviting an address "
        "that has a pending invitation replaces that one.",
    )
    def post(self, request):
        invitation = _invite(self, request)
        return Response(s.TenantInvitationOut(invitation).data, status=status.HTTP_201_CREATED)


class InvitationDetailView(MembershipWrites, TenantAPIView):
    resource_type = "invitations"
    read_roles = MANAGER_ROLES
    serializer_class = s.TenantInvitationOut

    def _get(self, invitation_id: int) -> TenantInvitation:
        invitation = selectors.invitation_list(tenant_id=self.request.tenant_id).filter(pk=invitation_id).first()
        if invitation is None:
            raise NotFound(f"Invitation {invitation_id} not found.", code="invitation_not_found")
        return invitation

    @extend_schema(
        operation_id="invitations_retrieve", tags=["tenant"], responses={200: s.TenantInvitationOut, **READ_ERRORS}
    )
    def get(self, request, invitation_id: int):
        return Response(s.TenantInvitationOut(self._get(invitation_id)).data)

    @extend_schema(
        operation_id="invitations_revoke",
        tags=["tenant"],
        responses={
            204: None,
            **READ_ERRORS,
            **problems(e409="`invitation_not_pending`: accepted, declined or revoked already", e429="Throttled"),
        },
        summary="Revoke a pending invitation: its link stops working (the record stays)",
    )
    def delete(self, request, invitation_id: int):
        try:
            services.invitation_revoke(invitation_id=invitation_id, actor=request.user)
        except PermissionDenied as exc:
            self._refused(request, exc, invitation_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Invitations (the invitee's side: the account, no tenant yet) -----------------------------------


TOKEN_ERRORS = {
    **problems(
        e400="Invalid input (field errors in `errors`)",
        e401="Not signed in",
        e403="`invitation_email_mismatch`: sent to another address; sign in with that one",
        e404="`invitation_not_found`: no invitation has this token",
        e409="`invitation_used`, `invitation_declined`, `invitation_revoked`, `already_a_member`, "
        "`invitation_inviter_not_authorized` (whoever invited you may no longer grant the role: "
        "the invitation is withdrawn), or an Idempotency-Key in flight",
        e410="`invitation_expired`: ask for a new invitation",
        e413="Request body over the limit",
        e422="Idempotency-Key reused with another body",
        e429="Throttled",
    ),
}


class AccountInvitationListView(AccountAPIView):
    pagination_class = PageNumber
    serializer_class = s.AccountInvitationOut
    queryset = TenantInvitation.objects.none()  # the schema's model; the rows come from the selector

    @extend_schema(
        operation_id="account_invitations_list",
        tags=["invitations"],
        responses={200: s.AccountInvitationOut(many=True), **problems(e401="Not signed in")},
        summary="Open invitations sent to your account's email, in any tenant",
        description="Accepting or declining needs the token from the email.",
    )
    def get(self, request):
        page = self.paginate_queryset(selectors.invitations_addressed_to(user=request.user))
        return self.get_paginated_response(s.AccountInvitationOut(page, many=True).data)


class InvitationAcceptView(AccountAPIView):
    serializer_class = s.InvitationTokenIn

    @extend_schema(
        operation_id="invitations_accept",
        tags=["invitations"],
        request=s.InvitationTokenIn,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: s.InvitationAcceptedOut, **TOKEN_ERRORS},
        summary="Accept an invitation: you become a member with the role offered",
        description="Signed in with the invited address (case-insensitive). Works once. Your other "
        "memberships are untouched, and a token issued before keeps acting in the "
        "tenant it named; after a refresh, choose the tenant with X-Tenant-ID.",
    )
    def post(self, request):
        data = validated(s.InvitationTokenIn, request.data)
        membership = services.invitation_accept(token=data["token"], user=request.user)
        return Response(s.InvitationAcceptedOut(membership).data, status=status.HTTP_201_CREATED)


class InvitationDeclineView(AccountAPIView):
    serializer_class = s.InvitationTokenIn

    @extend_schema(
        operation_id="invitations_decline",
        tags=["invitations"],
        request=s.InvitationTokenIn,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: s.AccountInvitationOut, **TOKEN_ERRORS},
        summary="Decline an invitation: it is closed and its link stops working",
    )
    def post(self, request):
        data = validated(s.InvitationTokenIn, request.data)
        invitation = services.invitation_decline(token=data["token"], user=request.user)
        return Response(s.AccountInvitationOut(invitation).data)
