"""Queries per database of the contact list with its marketplace names, batched and per row, at
page sizes 20 and 100 (Django test client).

    python -m bench.probes.crossdb_api_queries LOGINS_JSON   (JSON out)
"""

import json
import sys

import django

from breederhq.databases import MARKETPLACE_DB, TENANT_DB


def main() -> None:
    django.setup()
    from django.db import connections
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    logins = json.loads(sys.argv[1])
    client = Client(HTTP_HOST="localhost")
    access = client.post(
        "/api/v1/auth/token/",
        {"email": logins["owner"], "password": logins["password"]},
        content_type="application/json",
    ).json()["access"]
    out = {}
    for variant, path in (("batched", "/api/v1/contacts/"), ("per_row", "/bench/contacts-per-row")):
        for size in (20, 100):
            client.get(f"{path}?page_size={size}", HTTP_AUTHORIZATION=f"Bearer {access}")
            with (
                CaptureQueriesContext(connections[TENANT_DB]) as t,
                CaptureQueriesContext(connections[MARKETPLACE_DB]) as m,
            ):
                response = client.get(f"{path}?page_size={size}", HTTP_AUTHORIZATION=f"Bearer {access}")
            assert response.status_code == 200, (path, response.status_code)
            rows = response.json()["results"]
            out[f"{variant}_{size}"] = {
                "tenant_db": len(t),
                "marketplace_db": len(m),
                "rows": len(rows),
                "linked": sum(1 for r in rows if r["marketplace_user"]),
                "named": sum(1 for r in rows if (r["marketplace_user"] or {}).get("display_name")),
            }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
