"""A view used only by tests/breederhq/test_database_timeouts.py: one slow statement."""

from django.db import connections
from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView


class SlowView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    def get(self, request):
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT pg_sleep(%s)", [float(request.GET.get("seconds", "5"))])
        return Response({"slept": True})


urlpatterns = [path("api/v1/test/slow", SlowView.as_view())]
