"""Contacts of the caller's tenant."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from breederhq.api.base import MANAGER_ROLES, TenantAPIView
from breederhq.api.pagination import PageNumber
from breederhq.api.params import validated
from breederhq.api.schema import IDEMPOTENCY_KEY, READ_ERRORS, WRITE_ERRORS
from breederhq.crossdb import resolve
from breederhq.errors import NotFound
from tenant_app import selectors, services
from tenant_app.api import serializers as s
from tenant_app.models import Contact


def _contact_payload(contacts: list[Contact]) -> list[dict]:
    """Rows plus the linked marketplace person, resolved for the whole page in one query."""
    linked = resolve(contacts, "marketplace_user_id")
    out = []
    for contact, ref in zip(contacts, linked, strict=True):
        contact.marketplace_user = (
            None
            if ref is None
            else {
                "id": ref.id,
                "display_name": getattr(ref.obj, "display_name", None),
                "is_deleted": ref.is_deleted or ref.is_missing,
            }
        )
        out.append(contact)
    return s.contact_rows_out(out)


class ContactFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=Contact.Kind.choices)
    q = django_filters.CharFilter(method="search", label="Name or email contains")

    class Meta:
        model = Contact
        fields = ["kind"]

    def search(self, queryset, name, value):
        from django.db.models import Q

        return queryset.filter(
            Q(first_name__icontains=value)
            | Q(last_name__icontains=value)
            | Q(organization_name__icontains=value)
            | Q(email__icontains=value)
        )


class ContactListView(TenantAPIView):
    resource_type = "contacts"
    pagination_class = PageNumber
    filterset_class = ContactFilter
    serializer_class = s.ContactOut

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request tenant
            return Contact.objects.none()
        return selectors.contact_list(tenant_id=self.request.tenant_id)

    @extend_schema(
        operation_id="contacts_list", tags=["contacts"], responses={200: s.ContactOut(many=True), **READ_ERRORS}
    )
    def get(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(_contact_payload(page))

    @extend_schema(
        operation_id="contacts_create",
        tags=["contacts"],
        request=s.ContactIn,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: s.ContactOut, **WRITE_ERRORS},
    )
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

    @extend_schema(
        operation_id="contacts_update",
        tags=["contacts"],
        request=s.ContactPatch,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: s.ContactOut, **WRITE_ERRORS},
    )
    def patch(self, request, contact_id: int):
        data = validated(s.ContactPatch, request.data, partial=True)
        contact = services.contact_update(contact_id=contact_id, **data)
        return Response(_contact_payload([contact])[0])

    @extend_schema(operation_id="contacts_delete", tags=["contacts"], responses={204: None, **READ_ERRORS})
    def delete(self, request, contact_id: int):
        services.contact_delete(contact_id=contact_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
