"""Where a request's time goes, in process (Django test client): CPU per request, time waiting on
PostgreSQL and queries, rounds of every target in turn.

    python -m bench.probes.request_costs LOGINS_JSON WEBHOOK_SECRET   (JSON out)
"""

import json
import sys
import time

import django

from breederhq.databases import MARKETPLACE_DB, TENANT_DB


def main() -> None:
    django.setup()
    from contextlib import ExitStack
    from functools import partial
    from statistics import median

    import stripe
    from django.db import connections
    from django.test import Client

    from bench.targets import REQUEST_COST_TARGETS

    sys.path.insert(0, ".")
    from tests.fakes.stripe_server import stripe_event

    logins, secret = json.loads(sys.argv[1]), sys.argv[2]
    ROUNDS, REQUESTS = 5, 60
    client = Client(HTTP_HOST="localhost")

    def bearer(who):
        response = client.post(
            "/api/v1/auth/token/",
            {"email": logins[who], "password": logins["password"]},
            content_type="application/json",
        )
        return {"HTTP_AUTHORIZATION": f"Bearer {response.json()['access']}"}

    waited = [0.0, 0]

    def timer(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            waited[0] += time.perf_counter() - started
            waited[1] += 1

    def webhook_request(i):
        body = json.dumps(
            stripe_event(
                "account.updated",
                {
                    "id": f"acct_cost_{i}",
                    "object": "account",
                    "charges_enabled": True,
                    "payouts_enabled": True,
                    "details_submitted": True,
                    "requirements": {},
                    "filler": "x" * 2000,
                },
                event_id=f"evt_cost_{i}",
            ),
            separators=(",", ":"),
        )
        header = stripe.WebhookSignature.generate_signature_header(body, secret)
        return lambda: client.post(
            "/api/v1/payments/stripe/webhook", body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
        )

    def calls_for(name, count):
        """`count` requests of the target, each new: a webhook event or a search never sent before."""
        target = REQUEST_COST_TARGETS[name]
        if target is None:
            return [webhook_request(f"{time.time_ns()}_{i}") for i in range(count)]
        url, who = target
        # {n}: a value no earlier request (or run) used, above every price and below the API bound (10^13)
        unique = 10**12 + time.time_ns() // 1000 % 10**11
        return [partial(client.get, url.format(n=unique + i, **logins), **headers[name]) for i in range(count)]

    headers = {name: bearer(target[1]) if target and target[1] else {} for name, target in REQUEST_COST_TARGETS.items()}
    for name in REQUEST_COST_TARGETS:  # warm every path (imports, connections, caches) before measuring any
        for call in calls_for(name, 20):
            assert call().status_code == 200, name
    # Rounds of every target in turn (A B C ... A B C ...), each round REQUESTS requests of each: the host's
    # speed drifts over a run, so each target's CPU is compared with the baseline's in the same round.
    rounds = {name: [] for name in REQUEST_COST_TARGETS}
    for _ in range(ROUNDS):
        for name in REQUEST_COST_TARGETS:
            calls = calls_for(name, REQUESTS)
            waited[:] = [0.0, 0]
            with ExitStack() as stack:
                for alias in (TENANT_DB, MARKETPLACE_DB):
                    stack.enter_context(connections[alias].execute_wrapper(timer))
                cpu, wall = time.process_time(), time.perf_counter()
                for call in calls:
                    call()
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            rounds[name].append(
                {
                    "cpu_ms": cpu / REQUESTS * 1000,
                    "wall_ms": wall / REQUESTS * 1000,
                    "db_wait_ms": waited[0] / REQUESTS * 1000,
                    "queries": waited[1] / REQUESTS,
                }
            )
    out = {
        name: {
            **{key: median([r[key] for r in measured]) for key in measured[0]},
            "cpu_vs_baseline": median(
                [r["cpu_ms"] / b["cpu_ms"] for r, b in zip(measured, rounds["baseline"], strict=True)]
            ),
            "rounds": len(measured),
            "requests_per_round": REQUESTS,
            "cpu_ms_by_round": [round(r["cpu_ms"], 3) for r in measured],
        }
        for name, measured in rounds.items()
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
