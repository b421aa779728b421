"""The real URLs plus probe views that show what a request's connection can see, and views that
fail midway, for the persistent-connection tests."""

from django.db import connection, transaction
from django.http import JsonResponse
from django.urls import include, path

from breederhq.databases import TENANT_DB
from breederhq.tenancy import tenant_context


def _visible() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT tenant_id FROM contacts ORDER BY 1")
        tenants = [row[0] for row in cursor.fetchall()]
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    return {"tenants": tenants, "pid": pid}


def probe(request):
    return JsonResponse(_visible())


def fail_after_reading(request):
    _visible()
    raise RuntimeError("boom after reading")


def fail_inside_a_transaction(request):
    with transaction.atomic(using=TENANT_DB), tenant_context(request.tenant_id):
        _visible()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 / 0")  # aborts the transaction


def fail_after_setting_another_tenant(request):
    """Misbehaving code: a session-level setting of its own, then a crash."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('app.current_tenant_id', %s, false)", [request.GET["tenant"]])
    raise RuntimeError("boom after a session-level set_config")


urlpatterns = [
    path("api/v1/", include("tenant_app.api.urls")),
    path("probe/", probe),
    path("fail/read/", fail_after_reading),
    path("fail/transaction/", fail_inside_a_transaction),
    path("fail/session-setting/", fail_after_setting_another_tenant),
]
