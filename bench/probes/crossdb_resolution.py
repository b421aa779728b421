"""Resolving tenant invoices for a page of transactions: batched `resolve()` against one query
per row, in process, at 20 and 100 rows (queries and time).

    python -m bench.probes.crossdb_resolution   (JSON out)
"""

import json
import statistics
import time

import django

from breederhq.databases import MARKETPLACE_DB, TENANT_DB


def main() -> None:
    django.setup()
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    from breederhq.crossdb import resolve
    from breederhq.tenancy import system_read_context
    from marketplace_app.models import MarketplaceTransaction
    from tenant_app.models import Invoice

    out = {}
    for size in (20, 100):
        rows = list(
            MarketplaceTransaction.objects.using(MARKETPLACE_DB).filter(invoice_type="tenant").order_by("-id")[:size]
        )

        def batched(rows=rows):
            with system_read_context(job="bench"):
                return resolve(rows, "invoice_id")

        def naive(rows=rows):
            with system_read_context(job="bench"):
                return [Invoice.all_objects.filter(pk=r.invoice_id).first() for r in rows]

        with CaptureQueriesContext(connections[TENANT_DB]) as q:
            batched()
        batched_queries = len(q.captured_queries)
        # Of those, the ones resolve() sent; the rest are the audited system-read context's (the audit
        # row, its transaction, set_config on and off).
        resolve_queries = sum(1 for c in q.captured_queries if 'FROM "invoices"' in c["sql"])
        with CaptureQueriesContext(connections[TENANT_DB]) as q:
            naive()
        naive_queries = len(q.captured_queries)
        b, n = [], []
        for _ in range(5):
            for call, times in ((batched, b), (naive, n)):
                started = time.perf_counter()
                for _ in range(20):
                    call()
                times.append((time.perf_counter() - started) / 20)
        out[size] = {
            "batched_ms": statistics.median(b) * 1000,
            "naive_ms": statistics.median(n) * 1000,
            "speedup": statistics.median(n) / statistics.median(b),
            "tenant_db_queries_batched": batched_queries,
            "tenant_db_queries_naive": naive_queries,
            "tenant_db_queries_resolve": resolve_queries,
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
