"""Scenarios measured in process or by a command, not over HTTP: the cross-database resolution,
where a request's time goes (CPU, waiting on PostgreSQL, queries), the admin change lists' query
counts, and the scheduled integrity check's run time."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time

from bench.environment import BASE_DIR
from bench.probes.run import ProbeFailed, probe


def scenario_crossdb_resolution(environment: dict) -> dict:
    """Resolving tenant invoices for a page of transactions: batched resolve() vs one query per row
    (bench/probes/crossdb_resolution.py)."""
    return probe(environment, "crossdb_resolution")


def scenario_request_costs(environment: dict, logins: dict) -> dict:
    """Where a request's time goes, in process (bench/probes/request_costs.py): CPU of the Python
    process per request, time waiting on PostgreSQL and queries per request. This is what bounds each
    HTTP ratio: on 2 cores the web workers' CPU is the ceiling, so an endpoint needing k times the
    baseline's CPU cannot run at more than about 1/k of its rate."""
    try:
        return probe(environment, "request_costs", json.dumps(logins), environment["STRIPE_WEBHOOK_SECRET"])
    except ProbeFailed as exc:
        return {"error": str(exc)}


def scenario_admin_queries(environment: dict) -> dict:
    """Queries per database for the back office's change lists (bench/probes/admin_queries.py)."""
    try:
        return probe(environment, "admin_queries")
    except ProbeFailed as exc:
        return {"error": str(exc)}


#: How often beat runs the integrity check (config/beat_schedule.py, "crossdb-check": every 15 minutes).
CROSSDB_CHECK_PERIOD_SECONDS = 15 * 60


def scenario_crossdb_check(environment: dict, runs: int = 3) -> dict:
    """The cross-database integrity check over the whole data set, as `manage.py crossdb_check`
    (what beat's job runs every 15 minutes): wall time per run, the median of `runs` runs each in a
    fresh process (Django's start included), as a share of its period, and the rows it checked."""
    seconds, report = [], {}
    for _ in range(runs):
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "manage.py", "crossdb_check", "--json"],
            cwd=BASE_DIR,
            env=environment,
            capture_output=True,
            text=True,
        )
        seconds.append(time.perf_counter() - started)
        try:  # exit 1 with a report is a check that found problems: still timed
            report = json.loads(result.stdout)
        except ValueError:
            return {"error": (result.stderr.strip().splitlines() or [f"exit code {result.returncode}"])[-1][:300]}
    checked = report["checked"]
    return {
        "seconds": statistics.median(seconds),
        "runs": runs,
        "problems": len(report["problems"]),
        "share_of_period": statistics.median(seconds) / CROSSDB_CHECK_PERIOD_SECONDS,
        "source_rows": sum(
            n for name, n in checked.items() if not name.endswith(("cross_db_references", "outbox_messages_open"))
        ),
        "registry_rows": sum(n for name, n in checked.items() if name.endswith("cross_db_references")),
    }
