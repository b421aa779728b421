"""Views used only by the tests of the API machinery (problem+json, Idempotency-Key)."""

import threading

from django.urls import path
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from breederhq.api.idempotency import IdempotentAPIView
from breederhq.errors import IllegalTransition
from tenant_app.models import Tenant

#: Tests set this to hold a request inside its transaction until released.
hold_request = {"entered": threading.Event(), "release": threading.Event(), "active": False}
#: Tests set this to make the next request crash after its write (a transient server fault).
crash_next_request = {"active": False}


class TenantInput(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    slug = serializers.SlugField()
    fail_with = serializers.IntegerField(required=False)  # 409: raise a domain conflict


class CreateTenantView(IdempotentAPIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    def post(self, request):
        data = TenantInput(data=request.data)
        data.is_valid(raise_exception=True)
        tenant = Tenant.objects.create(name=data.validated_data["name"], slug=data.validated_data["slug"])
        if hold_request["active"]:
            hold_request["entered"].set()
            hold_request["release"].wait(timeout=30)
        if crash_next_request["active"]:
            crash_next_request["active"] = False
            raise RuntimeError("simulated crash after the write")
        if data.validated_data.get("fail_with") == 409:
            raise IllegalTransition(entity="Tenant", current="active", target="draft")
        return Response({"id": tenant.pk, "slug": tenant.slug}, status=201)


urlpatterns = [path("api/v1/test/tenants", CreateTenantView.as_view())]
