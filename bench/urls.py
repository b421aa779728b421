"""The platform's URLs plus the calibration baseline: one indexed SELECT, plain JSON."""

from django.db import connections
from django.http import JsonResponse
from django.urls import path

from config.urls import urlpatterns as platform_urlpatterns


def baseline(request):
    """What Django itself costs: one primary-key SELECT on the tenant DB, serialised by hand."""
    tenant_id = int(request.GET.get("id", 1))
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT id, name, slug FROM tenants WHERE id = %s", [tenant_id])
        row = cursor.fetchone()
    return JsonResponse({"id": row[0], "name": row[1], "slug": row[2]} if row else {})


urlpatterns = [path("bench/baseline", baseline), *platform_urlpatterns]
