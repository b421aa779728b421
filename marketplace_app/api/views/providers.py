"""Providers: public search and page, and the signed-in provider's own profile."""

from __future__ import annotations

import django_filters
from django.db import IntegrityError
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from breederhq.api.pagination import PageNumber
from breederhq.api.params import validated
from breederhq.api.schema import IDEMPOTENCY_KEY, READ_ERRORS, WRITE_ERRORS, problems
from breederhq.api.versioning import IF_MATCH, expected_version_from_request, version_etag
from breederhq.databases import MARKETPLACE_DB
from breederhq.errors import Conflict, PermissionDenied, ValidationFailed
from marketplace_app import selectors, services
from marketplace_app.api import serializers as s
from marketplace_app.api.views.common import PublicAPIView, _ProviderView
from marketplace_app.models import Provider, ServiceListing
from tenant_app.accounts import require_verified_email


class ProviderFilter(django_filters.FilterSet):
    """Public provider search. `category` is what a provider offers (an active listing in it):
    species (puppies, kittens, stud) and service types (grooming, training, ...)."""

    q = django_filters.CharFilter(method="_deferred", max_length=200, label="Full text (websearch syntax)")
    kind = django_filters.ChoiceFilter(choices=Provider.Kind.choices, label="breeder or service_provider")
    primary_category = django_filters.ChoiceFilter(
        choices=ServiceListing.Category.choices, label="The provider's own primary category"
    )
    category = django_filters.ChoiceFilter(
        choices=ServiceListing.Category.choices, method="_offering", label="Offers an active listing in this category"
    )
    city = django_filters.CharFilter(field_name="city", lookup_expr="iexact", max_length=100)
    state = django_filters.CharFilter(field_name="state", lookup_expr="iexact", max_length=50)
    country = django_filters.CharFilter(field_name="country", lookup_expr="iexact", max_length=2)
    order = django_filters.ChoiceFilter(
        choices=[(o, o) for o in selectors.PROVIDER_ORDERS],
        method="_deferred",
        label="relevance (default; newest without q), newest, name, popular",
    )

    class Meta:
        model = Provider
        fields = ["kind", "primary_category", "city", "state", "country"]

    def _deferred(self, queryset, name, value):
        return queryset  # q and order are applied together in filter_queryset (relevance needs both)

    def _offering(self, queryset, name, value):
        return selectors.provider_offering(queryset, category=value)

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        return selectors.provider_search(
            queryset, query=self.form.cleaned_data.get("q"), order=self.form.cleaned_data.get("order") or "relevance"
        )


class ProviderListView(PublicAPIView):
    pagination_class = PageNumber
    filterset_class = ProviderFilter
    serializer_class = s.ProviderOut

    def get_queryset(self):
        return selectors.provider_list_public()

    @extend_schema(
        operation_id="providers_list",
        tags=["marketplace"],
        responses={
            200: s.ProviderOut(many=True),
            **problems(
                e400="Invalid filter",
                e429="Throttled",
                e503="The search ran past its time limit (`search_timeout`, the limit in `timeout_ms`): narrow it",
            ),
        },
        summary="Live providers: filters, full-text search, ordering (public)",
    )
    def get(self, request):
        with selectors.provider_search_time_limit():  # the count and the page
            page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(s.ProviderOut(page, many=True).data)


class ProviderDetailView(PublicAPIView):
    serializer_class = s.ProviderDetailOut

    @extend_schema(
        operation_id="providers_retrieve",
        tags=["marketplace"],
        responses={200: s.ProviderDetailOut, **problems(e404="No such provider", e429="Throttled")},
        summary="A provider's public profile with its active listings",
    )
    def get(self, request, provider_id: int):
        return Response(s.ProviderDetailOut(selectors.provider_get_public(provider_id=provider_id)).data)


class ProviderMeView(_ProviderView):
    serializer_class = s.ProviderOwnOut

    def get_permissions(self):
        if self.request.method == "POST":  # creating the profile may create the marketplace identity too
            return [IsAuthenticated()]
        return super().get_permissions()

    @extend_schema(
        operation_id="providers_me_create",
        tags=["marketplace"],
        request=s.ProviderCreateIn,
        parameters=[IDEMPOTENCY_KEY],
        responses={
            201: s.ProviderOwnOut,
            **WRITE_ERRORS,
            **problems(
                e403="`email_unverified` (confirm your address first), `not_a_tenant_owner` (breeder)",
                e409="`already_a_provider`, `marketplace_email_taken`, or an Idempotency-Key in flight",
            ),
        },
        summary="Become a provider: create your public provider profile",
        description="Needs a confirmed email address. Makes your marketplace identity if you have "
        "none yet: refresh your access token afterwards. A breeder names the tenant it "
        "owns (`tenant_id`).",
    )
    def post(self, request):
        require_verified_email(request.user, to="sell")
        data = validated(s.ProviderCreateIn, request.data)
        kind, tenant_id = data.pop("kind"), data.pop("tenant_id", None)
        if kind == Provider.Kind.BREEDER:
            _require_tenant_owner(request.user, tenant_id)
        identity = request.marketplace_user or services.marketplace_identity_for(
            tenant_user_id=request.user.pk,
            email=request.user.email,
            display_name=request.user.get_full_name() or data["business_name"],
        )
        if Provider.all_objects.using(MARKETPLACE_DB).filter(user_id=identity.pk).exists():
            raise Conflict(
                "You have a provider profile already (a withdrawn one cannot be made again here).",
                code="already_a_provider",
            )
        try:
            provider = services.provider_create(user=identity, kind=kind, tenant_id=tenant_id, **data)
        except IntegrityError as exc:  # one provider per marketplace identity: a simultaneous create won
            raise Conflict("You have a provider profile already.", code="already_a_provider") from exc
        return Response(
            s.ProviderOwnOut(provider).data,
            status=status.HTTP_201_CREATED,
            headers={"ETag": version_etag(provider.version)},
        )

    @extend_schema(
        operation_id="providers_me_withdraw",
        tags=["marketplace"],
        request=None,
        responses={
            204: None,
            **WRITE_ERRORS,
            **problems(e409="`provider_has_open_transactions`: finish or cancel the sales in `transaction_ids`"),
        },
        summary="Leave the marketplace: your listings are archived and your profile withdrawn",
        description="A soft delete: your past sales and invoices keep resolving. Refused while a "
        "sale is unfinished (pending invoice, invoiced, disputed).",
    )
    def delete(self, request):
        services.provider_withdraw(provider_id=self.provider(request).pk)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(operation_id="providers_me", tags=["marketplace"], responses={200: s.ProviderOwnOut, **READ_ERRORS})
    def get(self, request):
        provider = self.provider(request)
        return Response(s.ProviderOwnOut(provider).data, headers={"ETag": version_etag(provider.version)})

    @extend_schema(
        operation_id="providers_me_update",
        tags=["marketplace"],
        request=s.ProviderPatch,
        parameters=[IF_MATCH, IDEMPOTENCY_KEY],
        responses={200: s.ProviderOwnOut, **WRITE_ERRORS},
        summary="Edit your public profile at the version you last read",
        description="Send `version` (or If-Match); a stale one is 409 `version_conflict` with `current_version`.",
    )
    def patch(self, request):
        data = validated(s.ProviderPatch, request.data)
        version = expected_version_from_request(request, data.pop("version", None))
        provider = services.provider_update_profile(
            provider_id=self.provider(request).pk, expected_version=version, **data
        )
        return Response(s.ProviderOwnOut(provider).data, headers={"ETag": version_etag(provider.version)})


def _require_tenant_owner(user, tenant_id) -> None:
    from breederhq.tenancy import tenant_context
    from tenant_app.models import TenantMembership

    if tenant_id is None:
        raise ValidationFailed("A breeder provider names its tenant.", field_errors={"tenant_id": ["Required."]})
    with tenant_context(tenant_id):
        owner = TenantMembership.objects.filter(tenant_id=tenant_id, user_id=user.pk, role="owner").exists()
    if not owner:
        raise PermissionDenied(
            "Only an owner of that tenant can make it a breeder provider.", code="not_a_tenant_owner"
        )
