"""Fault scenario of the bench (`--only faults`): what a Redis outage costs the web.

Two gunicorn servers as deployed, one with Redis (broker, cache, result backend) pointed at a port
nothing listens on. Webhook ingestion (a write that hands its work to a worker through the
publisher thread, breederhq/jobs/publish_later.py) is measured on both, interleaved; its p99 with
Redis down against Redis up is the figure (target: at most 1.5x). Then /healthz on the server
without Redis, one request after another: it must answer (503, naming Redis) in under a second.
"""

from __future__ import annotations

import os
import statistics
import time
import urllib.error
import urllib.request

#: The targets the report compares with.
P99_RATIO_TARGET = 1.5
HEALTHZ_TARGET_MS = 1000
HEALTHZ_REQUESTS = 20


def redis_down_environment(environment: dict) -> dict:
    from bench.servers import free_port

    nowhere = f"redis://127.0.0.1:{free_port()}/0"  # a free port: connections are refused
    return {**environment, "REDIS_URL": nowhere, "CELERY_BROKER_URL": nowhere, "CELERY_RESULT_BACKEND": nowhere}


def healthz_times_ms(url: str, count: int = HEALTHZ_REQUESTS) -> tuple[list[float], int]:
    times, status = [], 0
    for _ in range(count):
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=30) as response:
                response.read()
                status = response.status
        except urllib.error.HTTPError as exc:  # 503: Redis named as down
            exc.read()
            status = exc.code
        times.append((time.perf_counter() - started) * 1000)
    return times, status


def scenario_redis_down(environment: dict) -> dict:
    from bench.load import ROUNDS, interleaved, median
    from bench.servers import Server
    from bench.webhooks import discard_bench_events, inbox_last_id, webhook_delivery_files, wrk_webhook

    after_id = inbox_last_id(environment)
    files = webhook_delivery_files(environment, 2 * ROUNDS, time.time_ns(), per_file=8_000)
    deliveries = iter(files)
    up = Server(environment)
    down = Server(redis_down_environment(environment))
    try:
        with_redis, without_redis = interleaved(
            lambda: wrk_webhook(up, next(deliveries)), lambda: wrk_webhook(down, next(deliveries))
        )
        healthz, healthz_status = healthz_times_ms(down.url)
    finally:
        up.stop()
        down.stop()
        for name in files:
            os.unlink(name)
        discard_bench_events(environment, after_id)
    up_p99, down_p99 = median(with_redis, "p99_ms"), median(without_redis, "p99_ms")
    return {
        "up_rps": median(with_redis, "rps"),
        "up_p99_ms": up_p99,
        "down_rps": median(without_redis, "rps"),
        "down_p99_ms": down_p99,
        "p99_ratio": down_p99 / up_p99 if up_p99 else None,
        "down_non_2xx": sum(r["non_2xx"] for r in without_redis),
        "healthz_p50_ms": statistics.median(healthz),
        "healthz_max_ms": max(healthz),
        "healthz_status": healthz_status,
    }


def fault_rows(f: dict | None) -> list[tuple[str, str, str, str]]:
    """The report's rows (bench/report.py)."""
    from bench.report_format import verdict

    if not f:
        return []
    if "error" in f:
        return [("Redis down: webhook ingestion p99 vs Redis up", f"not measured: {f['error']}", "—", "—")]
    return [
        (
            "Redis down: webhook ingestion p99 vs Redis up (a write handing work to a worker)",
            f"{f['p99_ratio']:.2f}x ({f['down_p99_ms']:.1f} vs {f['up_p99_ms']:.1f} ms; {f['down_rps']:.0f} vs"
            f" {f['up_rps']:.0f} req/s" + (f", {f['down_non_2xx']} non-2xx" if f["down_non_2xx"] else "") + ")",
            f"≤ {P99_RATIO_TARGET}x",
            verdict(f["p99_ratio"], P99_RATIO_TARGET, higher_is_better=False),
        ),
        (
            f"Redis down: /healthz response time ({HEALTHZ_REQUESTS} in a row; answers {f['healthz_status']})",
            f"median {f['healthz_p50_ms']:.0f} ms, max {f['healthz_max_ms']:.0f} ms",
            f"< {HEALTHZ_TARGET_MS} ms",
            verdict(f["healthz_max_ms"], HEALTHZ_TARGET_MS, higher_is_better=False),
        ),
    ]
