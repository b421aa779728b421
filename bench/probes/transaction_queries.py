"""The SQL the transaction list runs (selectors.transaction_page, as the API calls it: a page of 25
plus one) for a provider's sales and a buyer's purchases, each as the newest page and as the page a
cursor two thirds into that history reads, captured from the selector with literal values.

    python -m bench.probes.transaction_queries PROVIDER_ID CLIENT_ID   (JSON out)
"""

import json
import sys

import django

from breederhq.databases import MARKETPLACE_DB

#: The API's default page size (breederhq.api.keyset.KeysetPagination), read one row beyond.
LIMIT = 26


def main() -> None:
    django.setup()
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    from breederhq.api.keyset import Position
    from marketplace_app import selectors

    provider_id, client_id = int(sys.argv[1]), int(sys.argv[2])
    out = {}
    sides = (
        ("provider", {"provider_id": provider_id}, selectors.transaction_list_for_provider(provider_id=provider_id)),
        ("buyer", {"client_id": client_id}, selectors.transaction_list_for_client(client_id=client_id)),
    )
    for side, owner, history in sides:
        total = history.count()
        depth = max(total * 2 // 3, 1)
        created_at, row_id = history.values_list("created_at", "id")[depth - 1 : depth].get()
        for page, position in (("first", None), ("deep", Position(created_at, row_id))):
            with CaptureQueriesContext(connections[MARKETPLACE_DB]) as captured:
                selectors.transaction_page(**owner, position=position, limit=LIMIT)
            out[f"{side}_{page}"] = {"sql": [q["sql"] for q in captured], "history": total, "depth": depth}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
