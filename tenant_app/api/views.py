"""Tenant endpoints: thin views over tenant_app.services (writes) and selectors (reads).

The tenant is never a parameter: it is the caller's membership, set as the request's RLS context
by `TenantAPIView`, so a row of another tenant is simply not there (404).
"""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from breederhq.api.base import MANAGER_ROLES, READ_ROLES, AccountAPIView, TenantAPIView, refuse
from breederhq.api.filters import StrictBooleanFilter, UTCIsoDateTimeFilter
from breederhq.api.idempotency import IdempotentAPIView
from breederhq.api.pagination import PageNumber
from breederhq.api.params import validated
from breederhq.api.schema import (
    IDEMPOTENCY_KEY,
    IDEMPOTENCY_KEY_SCHEMA,
    READ_ERRORS,
    RECEIPT_FILE,
    WRITE_ERRORS,
    problems,
)
from breederhq.api.throttling import WriteIPThrottle, WriteUserThrottle
from breederhq.api.uploads import (
    RECEIPT_UPLOAD_PARSERS,
    ReceiptDownloadNegotiation,
    check_receipt,
    receipt_download,
)
from breederhq.api.versioning import IF_MATCH, IF_MATCH_PATTERN, version_etag
from breederhq.api.versioning import expected_version_from_request as _expected_version
from breederhq.crossdb import resolve
from breederhq.errors import NotFound, PermissionDenied, ValidationFailed
from breederhq.invoicing.timeline import TimelineEntryOut, invoice_timeline
from tenant_app.invoicing import TENANT_INVOICES
from tenant_app import selectors, services
from tenant_app.accounts import require_verified_email
from tenant_app.api import serializers as s
from tenant_app.models import (
    Contact,
    InvitationStatus,
    Invoice,
    InvoiceStatus,
    Payment,
    Tenant,
    TenantInvitation,
    TenantMembership,
)


def _contact_payload(contacts: list[Contact]) -> list[dict]:
    """Rows plus the linked marketplace person, resolved for the whole page in one query."""
    linked = resolve(contacts, "marketplace_user_id")
    out = []
    for contact, ref in zip(contacts, linked):
        contact.marketplace_user = None if ref is None else {
            "id": ref.id,
            "display_name": getattr(ref.obj, "display_name", None),
            "is_deleted": ref.is_deleted or ref.is_missing,
        }
        out.append(contact)
    return s.contact_rows_out(out)


# --- The tenant ------------------------------------------------------------------------------------


def _tenant_payload(tenant: Tenant, role: str) -> dict:
    return s.TenantMeOut({
        "id": tenant.pk, "name": tenant.name, "slug": tenant.slug,
        "marketplace_payment_mode": tenant.marketplace_payment_mode, "role": role,
        **{field: getattr(tenant, field) for field in services.TENANT_PROFILE_FIELDS if field != "name"},
        "version": tenant.version,
    }).data


TENANT_IF_MATCH = OpenApiParameter(
    "If-Match", {"type": "string", "pattern": IF_MATCH_PATTERN}, OpenApiParameter.HEADER, required=False,
    description='The tenant version last read, as its ETag ("3"); or `version` in the body.',
)


class TenantMeView(TenantAPIView):
    resource_type = "tenant"
    write_roles = frozenset({"owner"})

    @extend_schema(operation_id="tenant_me", tags=["tenant"], responses={200: s.TenantMeOut, **READ_ERRORS},
                   summary="The tenant this request acts in, its profile, and your role there")
    def get(self, request):
        tenant = Tenant.objects.get(pk=request.tenant_id)
        return Response(_tenant_payload(tenant, request.tenant_membership.role),
                        headers={"ETag": f'"{tenant.version}"'})

    @extend_schema(operation_id="tenant_me_update", tags=["tenant"], request=s.TenantPatch,
                   parameters=[TENANT_IF_MATCH, IDEMPOTENCY_KEY], responses={200: s.TenantMeOut, **WRITE_ERRORS},
                   summary="Edit the tenant's profile (owners), at the version you last read",
                   description="Name, contact details, default currency and invoice number prefix. A stale "
                               "version is 409 `version_conflict` with `current_version`; other roles get 403 "
                               "`role_forbidden`. Every change is audited with its old and new values.")
    def patch(self, request):
        data = dict(validated(s.TenantPatch, request.data))
        version = _expected_version(request, data.pop("version", None))
        try:
            tenant = services.tenant_update_profile(actor=request.user, expected_version=version, **data)
        except PermissionDenied as exc:
            refuse(request, resource_type="tenant", resource_id=request.tenant_id, action="update",
                   reason=exc.detail, code=exc.code, detail=exc.detail)
        return Response(_tenant_payload(tenant, request.tenant_membership.role),
                        headers={"ETag": f'"{tenant.version}"'})


def _free_slug(name: str) -> str:
    import secrets

    from django.utils.text import slugify

    return f"{slugify(name)[:70] or 'tenant'}-{secrets.token_hex(3)}"


class TenantCreateView(IdempotentAPIView, generics.GenericAPIView):
    """A signed-in, verified account creates a breeder business and becomes its owner. No tenant is
    resolved for this request (the new one does not exist yet)."""

    idempotency_database = "default"
    permission_classes = [IsAuthenticated]
    throttle_classes = [WriteUserThrottle, WriteIPThrottle]
    serializer_class = s.TenantIn

    @extend_schema(operation_id="tenants_create", tags=["tenant"], request=s.TenantIn, parameters=[IDEMPOTENCY_KEY],
                   responses={201: s.TenantMeOut, **WRITE_ERRORS, **problems(
                       e403="`email_unverified`: confirm your email address first")},
                   summary="Create a breeder business (tenant): you become its owner",
                   description="Needs a confirmed email address. A taken `slug` is 400 with a field error. The "
                               "access token names the tenants it was issued for: refresh it "
                               "(POST /api/v1/auth/token/refresh/) to work in the new tenant.")
    def post(self, request):
        require_verified_email(request.user, to="create a business")
        data = dict(validated(s.TenantIn, request.data))
        name, slug = data.pop("name"), data.pop("slug", None)
        tenant = services.tenant_create(name=name.strip(), slug=slug or _free_slug(name), owner=request.user, **data)
        return Response(_tenant_payload(tenant, TenantMembership.Role.OWNER), status=status.HTTP_201_CREATED,
                        headers={"ETag": f'"{tenant.version}"', "Location": "/api/v1/tenants/me/"})


# --- Memberships -----------------------------------------------------------------------------------

MEMBERSHIP_IF_MATCH = OpenApiParameter(
    "If-Match", {"type": "string", "pattern": IF_MATCH_PATTERN}, OpenApiParameter.HEADER, required=False,
    description='The membership version last read, as its ETag ("3"); or `version` in the body.',
)


def _membership_response(membership_id: int, *, tenant_id: int, status_code: int = 200) -> Response:
    membership = selectors.membership_list(tenant_id=tenant_id).filter(pk=membership_id).first()
    if membership is None:
        raise NotFound(f"Membership {membership_id} not found.")
    return Response(s.TenantMemberOut(membership).data, status=status_code, headers={"ETag": f'"{membership.version}"'})


INVITE_ERRORS = {
    **WRITE_ERRORS,
    **problems(e403="`role_forbidden` (staff, viewers), `owner_role_forbidden` (an admin inviting an owner) or "
                    "`email_unverified` (confirm your address first)",
               e409="`already_a_member` (a member of this tenant uses the address; see the member list), "
                    "`invitation_conflict`, or an Idempotency-Key in flight"),
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
        refuse(request, resource_type=self.resource_type, resource_id=membership_id,
               action=self.audit_action(request), reason=exc.detail, code=exc.code, detail=exc.detail)


class MembershipListView(MembershipWrites, TenantAPIView):
    pagination_class = PageNumber
    serializer_class = s.TenantMemberOut

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return TenantMembership.objects.none()
        return selectors.membership_list(tenant_id=self.request.tenant_id)

    @extend_schema(operation_id="memberships_list", tags=["tenant"], responses={200: s.TenantMemberOut(many=True),
                   **READ_ERRORS}, summary="The members of this tenant and their roles")
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(s.TenantMemberOut(page, many=True).data)

    @extend_schema(operation_id="memberships_create", tags=["tenant"], request=s.TenantMemberIn,
                   parameters=[IDEMPOTENCY_KEY], responses={202: s.TenantInvitationOut, **INVITE_ERRORS},
                   deprecated=True,
                   summary="Deprecated: invites the address (POST /tenants/me/invitations/); adds nobody",
                   description="Nobody joins a tenant without consenting: this sends an invitation exactly as "
                               "`invitations_create` does and answers 202 with it. The answer is the same "
                               "whether or not an account uses the address.")
    def post(self, request):
        invitation = _invite(self, request)
        return Response(s.TenantInvitationOut(invitation).data, status=status.HTTP_202_ACCEPTED)


class MembershipDetailView(MembershipWrites, TenantAPIView):
    serializer_class = s.TenantMemberOut

    @extend_schema(operation_id="memberships_retrieve", tags=["tenant"],
                   responses={200: s.TenantMemberOut, **READ_ERRORS})
    def get(self, request, membership_id: int):
        return _membership_response(membership_id, tenant_id=request.tenant_id)

    @extend_schema(operation_id="memberships_update", tags=["tenant"], request=s.TenantMemberPatch,
                   parameters=[MEMBERSHIP_IF_MATCH, IDEMPOTENCY_KEY], responses={200: s.TenantMemberOut, **WRITE_ERRORS},
                   summary="Change a member's role, at the version you last read",
                   description="Demoting the last owner is 409 `last_owner`; a stale version 409 `version_conflict`.")
    def patch(self, request, membership_id: int):
        data = validated(s.TenantMemberPatch, request.data)
        version = _expected_version(request, data.get("version"))
        try:
            services.membership_change_role(membership_id=membership_id, role=data["role"], actor=request.user,
                                            expected_version=version)
        except PermissionDenied as exc:
            self._refused(request, exc, membership_id)
        return _membership_response(membership_id, tenant_id=request.tenant_id)

    @extend_schema(operation_id="memberships_delete", tags=["tenant"], parameters=[MEMBERSHIP_IF_MATCH],
                   responses={204: None, **WRITE_ERRORS},
                   summary="Remove a member (their next request to this tenant is refused)",
                   description="Removing the last owner is 409 `last_owner`. If-Match is optional here.")
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

    @extend_schema(operation_id="memberships_leave", tags=["tenant"], responses={
                   204: None, **READ_ERRORS, **problems(e409="`last_owner`: make another member owner first",
                                                        e429="Throttled")},
                   summary="Leave this tenant (the one X-Tenant-ID names, or your only one)",
                   description="Your membership is deleted and the departure audited; your next request to "
                               "this tenant is refused. The last owner cannot leave: 409 `last_owner`.")
    def delete(self, request):
        services.membership_leave(actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Invitations (the tenant's side) ----------------------------------------------------------------


class InvitationFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=s.INVITATION_STATUSES, method="by_status",
                                         label="pending (still open), expired, accepted, declined or revoked")

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

    @extend_schema(operation_id="invitations_list", tags=["tenant"], responses={
                   200: s.TenantInvitationOut(many=True), **READ_ERRORS},
                   summary="This tenant's invitations, newest first (owners and admins); ?status=pending")
    def get(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(s.TenantInvitationOut(page, many=True).data)

    @extend_schema(operation_id="invitations_create", tags=["tenant"], request=s.TenantInvitationIn,
                   parameters=[IDEMPOTENCY_KEY], responses={201: s.TenantInvitationOut, **INVITE_ERRORS},
                   summary="Invite an email address with a role (owners and admins; owner only by an owner)",
                   description="Emails a single-use link that expires after TENANT_INVITATION_TTL_DAYS (7). "
                               "The answer is the same whether or not an account uses the address; the "
                               "person joins only by accepting while signed in with it. Inviting an address "
                               "that has a pending invitation replaces that one.")
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

    @extend_schema(operation_id="invitations_retrieve", tags=["tenant"],
                   responses={200: s.TenantInvitationOut, **READ_ERRORS})
    def get(self, request, invitation_id: int):
        return Response(s.TenantInvitationOut(self._get(invitation_id)).data)

    @extend_schema(operation_id="invitations_revoke", tags=["tenant"], responses={
                   204: None, **READ_ERRORS, **problems(e409="`invitation_not_pending`: accepted, declined or "
                                                        "revoked already", e429="Throttled")},
                   summary="Revoke a pending invitation: its link stops working (the record stays)")
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

    @extend_schema(operation_id="account_invitations_list", tags=["invitations"], responses={
                   200: s.AccountInvitationOut(many=True), **problems(e401="Not signed in")},
                   summary="Open invitations sent to your account's email, in any tenant",
                   description="Accepting or declining needs the token from the email.")
    def get(self, request):
        page = self.paginate_queryset(selectors.invitations_addressed_to(user=request.user))
        return self.get_paginated_response(s.AccountInvitationOut(page, many=True).data)


class InvitationAcceptView(AccountAPIView):
    serializer_class = s.InvitationTokenIn

    @extend_schema(operation_id="invitations_accept", tags=["invitations"], request=s.InvitationTokenIn,
                   parameters=[IDEMPOTENCY_KEY], responses={201: s.InvitationAcceptedOut, **TOKEN_ERRORS},
                   summary="Accept an invitation: you become a member with the role offered",
                   description="Signed in with the invited address (case-insensitive). Works once. Your other "
                               "memberships are untouched, and a token issued before keeps acting in the "
                               "tenant it named; after a refresh, choose the tenant with X-Tenant-ID.")
    def post(self, request):
        data = validated(s.InvitationTokenIn, request.data)
        membership = services.invitation_accept(token=data["token"], user=request.user)
        return Response(s.InvitationAcceptedOut(membership).data, status=status.HTTP_201_CREATED)


class InvitationDeclineView(AccountAPIView):
    serializer_class = s.InvitationTokenIn

    @extend_schema(operation_id="invitations_decline", tags=["invitations"], request=s.InvitationTokenIn,
                   parameters=[IDEMPOTENCY_KEY], responses={200: s.AccountInvitationOut, **TOKEN_ERRORS},
                   summary="Decline an invitation: it is closed and its link stops working")
    def post(self, request):
        data = validated(s.InvitationTokenIn, request.data)
        invitation = services.invitation_decline(token=data["token"], user=request.user)
        return Response(s.AccountInvitationOut(invitation).data)


# --- Contacts --------------------------------------------------------------------------------------


class ContactFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=Contact.Kind.choices)
    q = django_filters.CharFilter(method="search", label="Name or email contains")

    class Meta:
        model = Contact
        fields = ["kind"]

    def search(self, queryset, name, value):
        from django.db.models import Q

        return queryset.filter(Q(first_name__icontains=value) | Q(last_name__icontains=value)
                               | Q(organization_name__icontains=value) | Q(email__icontains=value))


class ContactListView(TenantAPIView):
    resource_type = "contacts"
    pagination_class = PageNumber
    filterset_class = ContactFilter
    serializer_class = s.ContactOut

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request tenant
            return Contact.objects.none()
        return selectors.contact_list(tenant_id=self.request.tenant_id)

    @extend_schema(operation_id="contacts_list", tags=["contacts"], responses={200: s.ContactOut(many=True),
                   **READ_ERRORS})
    def get(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(_contact_payload(page))

    @extend_schema(operation_id="contacts_create", tags=["contacts"], request=s.ContactIn,
                   parameters=[IDEMPOTENCY_KEY], responses={201: s.ContactOut, **WRITE_ERRORS})
    def post(self, request):
        data = validated(s.ContactIn, request.data)
        contact = services.contact_create(**data)
        return Response(_contact_payload([contact])[0], status=status.HTTP_201_CREATED)


class ContactDetailView(TenantAPIView):
    resource_type = "contacts"
    serializer_class = s.ContactOut

    def roles_for(self, request):
        return MANAGER_ROLES if request.method == "DELETE" else super().roles_for(request)

    def _get(self, contact_id: int) -> Contact:
        contact = selectors.contact_list(tenant_id=self.request.tenant_id).filter(pk=contact_id).first()
        if contact is None:
            raise NotFound(f"Contact {contact_id} not found.")
        return contact

    @extend_schema(operation_id="contacts_retrieve", tags=["contacts"], responses={200: s.ContactOut, **READ_ERRORS})
    def get(self, request, contact_id: int):
        return Response(_contact_payload([self._get(contact_id)])[0])

    @extend_schema(operation_id="contacts_update", tags=["contacts"], request=s.ContactPatch,
                   parameters=[IDEMPOTENCY_KEY], responses={200: s.ContactOut, **WRITE_ERRORS})
    def patch(self, request, contact_id: int):
        data = validated(s.ContactPatch, request.data, partial=True)
        contact = services.contact_update(contact_id=contact_id, **data)
        return Response(_contact_payload([contact])[0])

    @extend_schema(operation_id="contacts_delete", tags=["contacts"], responses={204: None, **READ_ERRORS})
    def delete(self, request, contact_id: int):
        services.contact_delete(contact_id=contact_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Invoices --------------------------------------------------------------------------------------


class InvoiceFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=InvoiceStatus.choices)
    contact = django_filters.NumberFilter(field_name="contact_id")
    created_after = UTCIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UTCIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    is_marketplace_invoice = StrictBooleanFilter()
    ordering = django_filters.OrderingFilter(fields=(("created_at", "created_at"), ("total_cents", "total_cents"),
                                                     ("invoice_number", "invoice_number")))

    class Meta:
        model = Invoice
        fields = ["status", "contact", "is_marketplace_invoice"]


def _invoice_response(invoice_id: int, *, tenant_id: int, status_code: int = 200) -> Response:
    invoice = selectors.invoice_get(tenant_id=tenant_id, invoice_id=invoice_id)
    if invoice is None:
        raise NotFound(f"Invoice {invoice_id} not found.")
    return Response(s.InvoiceDetailOut(invoice).data, status=status_code, headers={"ETag": version_etag(invoice.version)})


def _lines(data) -> list[services.LineInput]:
    return [services.LineInput(description=line["description"], unit_price_cents=line["unit_price_cents"],
                               quantity=line["quantity"]) for line in data]



class InvoiceListView(TenantAPIView):
    resource_type = "invoices"
    pagination_class = PageNumber
    filterset_class = InvoiceFilter
    serializer_class = s.InvoiceOut

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Invoice.objects.none()
        return selectors.invoice_list(tenant_id=self.request.tenant_id)

    @extend_schema(operation_id="invoices_list", tags=["invoices"], responses={200: s.InvoiceOut(many=True),
                   **READ_ERRORS})
    def get(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(s.InvoiceOut(page, many=True).data)

    @extend_schema(operation_id="invoices_create", tags=["invoices"], request=s.InvoiceIn,
                   parameters=[IDEMPOTENCY_KEY], responses={201: s.InvoiceDetailOut, **WRITE_ERRORS})
    def post(self, request):
        data = validated(s.InvoiceIn, request.data)
        invoice = services.invoice_create(
            contact_id=data["contact_id"], lines=_lines(data["lines"]), currency=data.get("currency"),
            tax_cents=data["tax_cents"], notes=data["notes"], due_date=data["due_date"],
            is_marketplace_invoice=data["is_marketplace_invoice"], actor=request.user,
        )
        return _invoice_response(invoice.pk, tenant_id=request.tenant_id, status_code=status.HTTP_201_CREATED)


#: Actions that only an owner or admin may take (money leaves, or a ledger document dies).
MANAGER_ACTIONS = frozenset({"void", "refund"})


def _refund(request, invoice_id: int, *, version: int, amount_cents: int, reason: str):
    """`PATCH action=refund` and `POST .../refunds/`: one refund per Idempotency-Key (another key is
    another refund, judged against what is still refundable), through the channel that took the
    money. A PATCH without a key is one refund per version."""
    key = request.headers.get("Idempotency-Key") or f"version:{version}"
    return services.invoice_refund(
        invoice_id=invoice_id, amount_cents=amount_cents, reason=reason,
        idempotency_key=f"api:{key}", actor=request.user, expected_version=version, through_provider=True,
    )


class InvoiceDetailView(TenantAPIView):
    resource_type = "invoices"
    serializer_class = s.InvoiceDetailOut

    @extend_schema(operation_id="invoices_retrieve", tags=["invoices"],
                   responses={200: s.InvoiceDetailOut, **READ_ERRORS})
    def get(self, request, invoice_id: int):
        return _invoice_response(invoice_id, tenant_id=request.tenant_id)

    @extend_schema(
        operation_id="invoices_update", tags=["invoices"], request=s.InvoicePatch,
        parameters=[IF_MATCH, IDEMPOTENCY_KEY], responses={200: s.InvoiceDetailOut, **WRITE_ERRORS},
        summary="A state change (`action`) or a draft edit, at the version you last read",
        description="Actions: send, mark_paid (method), confirm_payment, reject_payment (reason), void, "
                    "refund (amount_cents, reason). Without an action: draft fields. A stale version is "
                    "409 `version_conflict` with `current_version`.",
    )
    def patch(self, request, invoice_id: int):
        data = validated(s.InvoicePatch, request.data)
        version = _expected_version(request, data.get("version"))
        action = data.get("action")
        if action in MANAGER_ACTIONS and request.tenant_membership.role not in MANAGER_ROLES:
            refuse(request, resource_type="invoices", resource_id=invoice_id, action=action,
                   reason=f"role {request.tenant_membership.role} may not {action}", code="role_forbidden",
                   detail=f"Only an owner or admin may {action} an invoice.")
        # Every service compares `version` under the invoice's row lock, in its own transaction.
        self._apply(request, invoice_id, version, action, data)
        return _invoice_response(invoice_id, tenant_id=request.tenant_id)

    @staticmethod
    def _apply(request, invoice_id: int, version: int, action: str | None, data: dict) -> None:
        actor = request.user
        if action is None:
            services.invoice_update_draft(
                invoice_id=invoice_id, expected_version=version, actor=actor,
                lines=_lines(data["lines"]) if "lines" in data else None, tax_cents=data.get("tax_cents"),
                notes=data.get("notes"), due_date=data.get("due_date"),
            )
        elif action == "send":
            services.invoice_send(invoice_id=invoice_id, expected_version=version, actor=actor)
        elif action == "mark_paid":
            # One full payment per version: a retried request at the same version is the same payment.
            services.invoice_mark_paid(invoice_id=invoice_id, method=data["method"],
                                       idempotency_key=f"api:mark_paid:{invoice_id}:v{version}",
                                       external_reference=data["reference"], actor=actor, expected_version=version)
        elif action == "confirm_payment":
            services.invoice_confirm_payment(invoice_id=invoice_id, actor=actor, reference=data["reference"],
                                             expected_version=version)
        elif action == "reject_payment":
            services.invoice_reject_payment(invoice_id=invoice_id, actor=actor, reason=data["reason"],
                                            expected_version=version)
        elif action == "void":
            services.invoice_void(invoice_id=invoice_id, actor=actor, reason=data["reason"], expected_version=version)
        elif action == "refund":
            _refund(request, invoice_id, version=version, amount_cents=data["amount_cents"], reason=data["reason"])


class InvoiceTimelineView(TenantAPIView):
    """The invoice's audit timeline: every change and every payment-confirmation step, oldest first.
    Any member who may read the invoice may read it (the same shape as marketplace invoices')."""

    resource_type = "invoices"
    pagination_class = PageNumber
    serializer_class = TimelineEntryOut
    queryset = Invoice.objects.none()  # the schema's model; reads go through the selector

    @extend_schema(operation_id="invoices_timeline", tags=["invoices"],
                   responses={200: TimelineEntryOut(many=True), **READ_ERRORS},
                   summary="The invoice's changes and payment-confirmation steps, oldest first")
    def get(self, request, invoice_id: int):
        invoice = selectors.invoice_get(tenant_id=request.tenant_id, invoice_id=invoice_id)
        if invoice is None:
            raise NotFound(f"Invoice {invoice_id} not found.")
        page = self.paginate_queryset(invoice_timeline(TENANT_INVOICES, invoice))
        return self.get_paginated_response(TimelineEntryOut(page, many=True).data)


# --- Refunds -------------------------------------------------------------------------------------

IDEMPOTENCY_KEY_REQUIRED = OpenApiParameter(
    "Idempotency-Key", IDEMPOTENCY_KEY_SCHEMA, OpenApiParameter.HEADER, required=True,
    description="Required. Same key + same body replays the first response; another body -> 422.",
)


class InvoiceRefundListView(TenantAPIView):
    """An invoice's refunds (each a refund `Payment` row with its credit note). Creating one needs an
    owner or admin, the invoice version and an Idempotency-Key."""

    resource_type = "refunds"
    write_roles = MANAGER_ROLES
    pagination_class = PageNumber
    serializer_class = s.RefundOut

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Payment.objects.none()
        return selectors.invoice_refund_list(tenant_id=self.request.tenant_id, invoice_id=self.kwargs["invoice_id"])

    def _invoice_exists(self, invoice_id: int) -> None:
        if not selectors.invoice_list(tenant_id=self.request.tenant_id).filter(pk=invoice_id).exists():
            raise NotFound(f"Invoice {invoice_id} not found.")

    @extend_schema(operation_id="invoice_refunds_list", tags=["invoices"], responses={200: s.RefundOut(many=True),
                   **READ_ERRORS}, summary="The refunds of one invoice, newest first")
    def get(self, request, invoice_id: int):
        self._invoice_exists(invoice_id)
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(s.RefundOut(page, many=True).data)

    @extend_schema(
        operation_id="invoice_refunds_create", tags=["invoices"], request=s.RefundIn,
        parameters=[IF_MATCH, IDEMPOTENCY_KEY_REQUIRED],
        responses={201: s.RefundOut, **WRITE_ERRORS, **problems(e503="Stripe unavailable: nothing was refunded")},
        summary="Refund part or all of what was paid (owners and admins)",
        description="Issues a credit note and a refund row, through the channel that took the money: a card "
                    "payment is refunded through Stripe first (`method` stripe, `provider_reference` the Stripe "
                    "refund), a manual one is recorded as a manual refund. One refund per Idempotency-Key; "
                    "another key is another refund. More than paid and not yet refunded (or being refunded): 409 "
                    "`refund_exceeds_refundable` (`refundable_cents`). Stripe unreachable: 503, nothing recorded.",
    )
    def post(self, request, invoice_id: int):
        if request.headers.get("Idempotency-Key") is None:
            raise ValidationFailed("Creating a refund needs an Idempotency-Key header.",
                                   field_errors={"Idempotency-Key": ["required"]}, code="idempotency_key_required")
        data = validated(s.RefundIn, request.data)
        version = _expected_version(request, data.get("version"))
        credit_note = _refund(request, invoice_id, version=version, amount_cents=data["amount_cents"],
                              reason=data["reason"])
        refund = selectors.invoice_refund_list(tenant_id=request.tenant_id, invoice_id=invoice_id).get(
            credit_note=credit_note)
        return Response(s.RefundOut(refund).data, status=status.HTTP_201_CREATED)


# --- Receipts --------------------------------------------------------------------------------------


class InvoiceReceiptView(ReceiptDownloadNegotiation, TenantAPIView):
    """Staff record a buyer's manual payment claim with the receipt the buyer sent them. GET: the
    stored file, for members who may read the invoice (another tenant's invoice is not there: 404)."""

    parser_classes = RECEIPT_UPLOAD_PARSERS

    resource_type = "invoices"
    serializer_class = s.ReceiptIn

    @extend_schema(operation_id="invoices_receipt_download", tags=["invoices"],
                   responses={**RECEIPT_FILE, **READ_ERRORS}, summary="Download the buyer's receipt file")
    def get(self, request, invoice_id: int):
        invoice = selectors.invoice_get(tenant_id=request.tenant_id, invoice_id=invoice_id)
        if invoice is None:
            raise NotFound(f"Invoice {invoice_id} not found.")
        return receipt_download(invoice.buyer_payment_receipt, filename=f"receipt-{invoice.invoice_number}")

    @extend_schema(operation_id="invoices_receipt_upload", tags=["invoices"],
                   request={"multipart/form-data": s.ReceiptIn}, parameters=[IF_MATCH, IDEMPOTENCY_KEY],
                   responses={200: s.InvoiceDetailOut, **WRITE_ERRORS},
                   summary="Upload the buyer's receipt: the invoice becomes pending_confirmation")
    def post(self, request, invoice_id: int):
        data = validated(s.ReceiptIn, request.data)
        check_receipt(data["receipt"])
        version = _expected_version(request, data.get("version"))
        services.invoice_buyer_mark_paid(invoice_id=invoice_id, receipt=data["receipt"], reference=data["reference"],
                                         expected_version=version)
        return _invoice_response(invoice_id, tenant_id=request.tenant_id)


# --- Payments --------------------------------------------------------------------------------------


class PaymentFilter(django_filters.FilterSet):
    invoice = django_filters.NumberFilter(field_name="invoice_id")
    kind = django_filters.ChoiceFilter(choices=Payment.Kind.choices)
    method = django_filters.ChoiceFilter(choices=Payment.Method.choices)

    class Meta:
        model = Payment
        fields = ["invoice", "kind", "method"]


class PaymentListView(TenantAPIView):
    resource_type = "payments"
    pagination_class = PageNumber
    filterset_class = PaymentFilter
    serializer_class = s.PaymentOut

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Payment.objects.none()
        return (Payment.objects.filter(tenant_id=self.request.tenant_id)
                .select_related("invoice", "credit_note").order_by("-created_at", "-id"))

    @extend_schema(operation_id="payments_list", tags=["payments"], responses={200: s.PaymentOut(many=True),
                   **READ_ERRORS}, summary="Payments and refunds (refunds are separate rows with a credit note)")
    def get(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(s.PaymentOut(page, many=True).data)
