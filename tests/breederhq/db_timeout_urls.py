"""A view used only by tests/breederhq/test_database_timeouts.py: one slow statement."""

from django.db import connections
from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from breederhq.databases import TENANT_DB


class SlowView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    def get(self, request):
        with connections[TENANT_DB].cursor() as cursor:
            cursor.execute("SELECT pg_sleep(%s)", [float(request.GET.get("seconds", "5"))])
        return Response({"slept": True})


urlpatterns = [path("api/v1/test/slow", SlowView.as_view())]
