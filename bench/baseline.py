"""The calibration view both baselines serve: one primary-key SELECT on the tenant database,
serialised by hand. Served twice (bench/servers.py): by the platform's whole stack (`bench.urls`
under `bench.settings`: every middleware of the platform) and bare (`bench.bare_urls` under
`bench.bare_settings`: no middleware at all), so a ratio can be read against either."""

from django.db import connections
from django.http import JsonResponse

from breederhq.databases import TENANT_DB


def baseline(request):
    tenant_id = int(request.GET.get("id", 1))
    with connections[TENANT_DB].cursor() as cursor:
        cursor.execute("SELECT id, name, slug FROM tenants WHERE id = %s", [tenant_id])
        row = cursor.fetchone()
    return JsonResponse({"id": row[0], "name": row[1], "slug": row[2]} if row else {})
