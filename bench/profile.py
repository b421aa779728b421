"""Profile one API request end to end, in process (Django test client, bench settings and data).

    .venv/bin/pip install pyinstrument        # not a project dependency
    .venv/bin/python -m bench.profile listing_search [--requests 300] [--html out.html] [--scale full]

Uses the bench databases (`bench.run.prepare` generates them once) and prints pyinstrument's
call tree for N requests after a warm-up, plus the queries per request on each database.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from bench.run import BASE_DIR, REQUEST_COST_TARGETS, bench_environment, prepare

CHILD = r'''
import itertools, json, sys, time, django
django.setup()
from django.db import connections
from django.test import Client
from django.test.utils import CaptureQueriesContext
from pyinstrument import Profiler

scenario, requests, html, logins = sys.argv[1], int(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4])
client = Client(HTTP_HOST="localhost")

def bearer(who):
    response = client.post("/api/v1/auth/token/", {"email": logins[who], "password": logins["password"]},
                           content_type="application/json")
    return {"HTTP_AUTHORIZATION": f"Bearer {response.json()['access']}"}

def webhook_calls(n):
    """Signed 2-3 KB Stripe events, each new (as the webhook scenario sends them, minus duplicates)."""
    import stripe
    from django.conf import settings
    sys.path.insert(0, ".")
    from tests.fakes.stripe_server import stripe_event

    def call(i):
        body = json.dumps(stripe_event("account.updated", {"id": f"acct_prof_{i}", "object": "account",
                                       "charges_enabled": True, "filler": "x" * 2000}, event_id=f"evt_prof_{i}"),
                          separators=(",", ":"))
        header = stripe.WebhookSignature.generate_signature_header(body, settings.STRIPE_WEBHOOK_SECRET)
        return lambda: client.post("/api/v1/payments/stripe/webhook", body, content_type="application/json",
                                   HTTP_STRIPE_SIGNATURE=header)
    return [call(f"{time.time_ns()}_{i}") for i in range(n)]

if scenario == "webhook":
    calls = iter(webhook_calls(requests * 2 + 21))
    request = lambda: next(calls)()
else:
    from bench.run import REQUEST_COST_TARGETS
    url, who = REQUEST_COST_TARGETS[scenario]
    headers = bearer(who) if who else {}
    # {n}: a value no earlier request (or run) used, so a search misses the search cache each time.
    urls = (url.format(n=time.time_ns() + i, **logins) for i in itertools.count())
    request = lambda: client.get(next(urls), **headers)
for _ in range(20):
    assert request().status_code == 200
with CaptureQueriesContext(connections["default"]) as tenant_q, CaptureQueriesContext(connections["marketplace"]) as mk_q:
    request()
print(f"queries per request: tenant DB {len(tenant_q)}, marketplace DB {len(mk_q)}")
for alias, captured in (("default", tenant_q), ("marketplace", mk_q)):
    for q in captured.captured_queries:
        print("   ", q["time"], q["sql"][:160])
        if "--explain" in sys.argv and q["sql"].lstrip().upper().startswith("SELECT") and "set_config" not in q["sql"]:
            with connections[alias].cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + q["sql"])
                print("\n".join("        " + r[0] for r in cursor.fetchall()))
cpu, wall = time.process_time(), time.perf_counter()
for _ in range(requests):
    request()
print(f"unprofiled: {(time.perf_counter() - wall) / requests * 1000:.2f} ms wall, "
      f"{(time.process_time() - cpu) / requests * 1000:.2f} ms CPU of this process per request")
if "--cprofile" in sys.argv:
    import cProfile, pstats
    profile = cProfile.Profile(time.process_time)  # CPU seconds: waits on PostgreSQL do not count
    profile.enable()
    for _ in range(requests):
        request()
    profile.disable()
    print(f"cProfile, CPU time, {requests} requests:")
    sort = sys.argv[sys.argv.index("--sort") + 1] if "--sort" in sys.argv else "tottime"
    pstats.Stats(profile).sort_stats(sort).print_stats(40)
    sys.exit(0)
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
'''


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenarios", nargs="+", choices=list(REQUEST_COST_TARGETS))
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--html", default="-")
    parser.add_argument("--all", action="store_true", help="show every frame (pyinstrument show_all)")
    parser.add_argument("--cprofile", action="store_true",
                        help="CPU time by function (cProfile, sorted by own time) instead of pyinstrument's wall-clock tree")
    parser.add_argument("--sort", default="tottime", choices=["tottime", "cumulative"],
                        help="with --cprofile: order by a function's own time (default) or including what it calls")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE each SELECT of one request")
    parser.add_argument("--scale", choices=["small", "full"], default="small", help="which bench data set")
    args = parser.parse_args(argv)
    environment, services = bench_environment(args.scale)
    try:
        prepare(environment, scale=args.scale)
        logins = subprocess.run([sys.executable, "-m", "bench.generate", "--logins"], cwd=BASE_DIR, env=environment,
                                check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        for scenario in args.scenarios:
            print(f"=== {scenario}", flush=True)
            html = args.html.replace(".html", f"-{scenario}.html")
            subprocess.run([sys.executable, "-c", CHILD, scenario, str(args.requests), html, logins,
                            *(["--all"] if args.all else []), *(["--explain"] if args.explain else []),
                            *(["--cprofile", "--sort", args.sort] if args.cprofile else [])],
                           cwd=BASE_DIR, env=environment, check=True)
        return 0
    finally:
        for service in services:
            if hasattr(service, "stop"):
                service.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
