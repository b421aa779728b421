"""The child of `python -m bench.profile`: one request profiled in process (Django test client).

python -m bench.probes.profile_request SCENARIO REQUESTS HTML LOGINS_JSON [--all] [--explain] [--cprofile --sort KEY]
"""

import itertools
import json
import sys
import time

import django

from breederhq.databases import MARKETPLACE_DB, TENANT_DB


def main() -> None:
    django.setup()
    from django.db import connections
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from pyinstrument import Profiler

    scenario, requests, html, logins = sys.argv[1], int(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4])
    client = Client(HTTP_HOST="localhost")

    def bearer(who):
        response = client.post(
            "/api/v1/auth/token/",
            {"email": logins[who], "password": logins["password"]},
            content_type="application/json",
        )
        return {"HTTP_AUTHORIZATION": f"Bearer {response.json()['access']}"}

    def webhook_calls(n):
        """Signed 2-3 KB Stripe events, each new (as the webhook scenario sends them, minus duplicates)."""
        import stripe
        from django.conf import settings

        sys.path.insert(0, ".")
        from tests.fakes.stripe_server import stripe_event

        def call(i):
            body = json.dumps(
                stripe_event(
                    "account.updated",
                    {"id": f"acct_prof_{i}", "object": "account", "charges_enabled": True, "filler": "x" * 2000},
                    event_id=f"evt_prof_{i}",
                ),
                separators=(",", ":"),
            )
            header = stripe.WebhookSignature.generate_signature_header(body, settings.STRIPE_WEBHOOK_SECRET)
            return lambda: client.post(
                "/api/v1/payments/stripe/webhook", body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
            )

        return [call(f"{time.time_ns()}_{i}") for i in range(n)]

    if scenario == "webhook":
        calls = iter(webhook_calls(requests * 2 + 21))

        def request():
            return next(calls)()
    else:
        from bench.targets import REQUEST_COST_TARGETS

        url, who = REQUEST_COST_TARGETS[scenario]
        headers = bearer(who) if who else {}
        # {n}: a value no earlier request (or run) used, so a search misses the search cache each time.
        urls = (url.format(n=10**12 + time.time_ns() // 1000 % 10**11 + i, **logins) for i in itertools.count())

        def request():
            return client.get(next(urls), **headers)

    for _ in range(20):
        assert request().status_code == 200
    with (
        CaptureQueriesContext(connections[TENANT_DB]) as tenant_q,
        CaptureQueriesContext(connections[MARKETPLACE_DB]) as mk_q,
    ):
        request()
    print(f"queries per request: tenant DB {len(tenant_q)}, marketplace DB {len(mk_q)}")
    for alias, captured in ((TENANT_DB, tenant_q), (MARKETPLACE_DB, mk_q)):
        for q in captured.captured_queries:
            print("   ", q["time"], q["sql"][:160])
            if (
                "--explain" in sys.argv
                and q["sql"].lstrip().upper().startswith("SELECT")
                and "set_config" not in q["sql"]
            ):
                with connections[alias].cursor() as cursor:
                    cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + q["sql"])
                    print("\n".join("        " + r[0] for r in cursor.fetchall()))
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(requests):
        request()
    print(
        f"unprofiled: {(time.perf_counter() - wall) / requests * 1000:.2f} ms wall, "
        f"{(time.process_time() - cpu) / requests * 1000:.2f} ms CPU of this process per request"
    )
    if "--cprofile" in sys.argv:
        import cProfile
        import pstats

        profile = cProfile.Profile(time.process_time)  # CPU seconds: waits on PostgreSQL do not count
        profile.enable()
        for _ in range(requests):
            request()
        profile.disable()
        print(f"cProfile, CPU time, {requests} requests:")
        sort = sys.argv[sys.argv.index("--sort") + 1] if "--sort" in sys.argv else "tottime"
        pstats.Stats(profile).sort_stats(sort).print_stats(40)
        return
    profiler = Profiler(interval=0.001)
    started = time.perf_counter()
    profiler.start()
    for _ in range(requests):
        request()
    profiler.stop()
    print(f"{(time.perf_counter() - started) / requests * 1000:.2f} ms per request (profiled)")
    print(profiler.output_text(unicode=False, color=False, show_all=("--all" in sys.argv)))
    if html != "-":
        open(html, "w").write(profiler.output_html())


if __name__ == "__main__":
    main()
