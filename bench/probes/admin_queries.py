"""Queries per database of the back office's invoice and transaction change lists at 20 and 100
rows, as a superuser working on tenant bench-7.

    python -m bench.probes.admin_queries   (JSON out)
"""

import json

import django

from breederhq.databases import MARKETPLACE_DB, TENANT_DB


def main() -> None:
    django.setup()
    from django.test.utils import setup_test_environment

    setup_test_environment()  # the test client records response.context
    from django.contrib import admin
    from django.db import connections
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from marketplace_app.models import MarketplaceTransaction
    from tenant_app.models import Invoice, Tenant, User

    root = User.objects.filter(email="bench-root@bench.test").first() or User.objects.create_superuser(
        username="bench-root@bench.test", email="bench-root@bench.test", password="bench-password-123"
    )
    client = Client(HTTP_HOST="localhost")
    client.force_login(root)
    tenant = Tenant.objects.get(slug="bench-7")
    assert (
        client.post(
            reverse("backoffice:support"),
            {"tenant": tenant.pk, "reason": "bench: change list query counts", "next": reverse("admin:index")},
        ).status_code
        == 302
    )
    out = {}
    for model, name in ((Invoice, "invoices"), (MarketplaceTransaction, "transactions")):
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        client.get(url)
        for size in (20, 100):
            admin.site._registry[model].list_per_page = size
            with (
                CaptureQueriesContext(connections[TENANT_DB]) as t,
                CaptureQueriesContext(connections[MARKETPLACE_DB]) as m,
            ):
                response = client.get(url)
            assert response.status_code == 200, response.status_code
            shown = len(response.context["cl"].result_list)
            out[f"{name}_{size}"] = {"tenant_db": len(t), "marketplace_db": len(m), "rows": shown}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
