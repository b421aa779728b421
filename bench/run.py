"""The benchmark suite: `make bench` (or `python -m bench.run --scale small`).

Runs on the embedded default or on the servers in the environment, in separate databases
(`breederhq_bench_tenant`, `breederhq_bench_marketplace`; `breederhq_bench_full_*` for `--scale
full`), generates the data set once, serves the platform with gunicorn as deployed and the bare
baseline beside it, and reports every HTTP figure against both baselines, in rounds (bench/load.py).
Writes bench/reports/latest.md and latest.json (`--scale full`: full.md and full.json).

The modules, by concern: environment (databases, data, settings), servers (gunicorn, drain), load
(wrk, rounds, baselines), webhooks, search and search_plan, scenarios_http, scenarios_inprocess,
sql_timings, sql_transactions, search_growth, replica, faults, report (report_format, report_search, report_missed), generate (the data),
probes/ (what runs in its own Django process), lua/ (wrk scripts).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from datetime import UTC, datetime

from bench import scenarios_http as http
from bench import scenarios_inprocess as inprocess
from bench.environment import BASE_DIR, bench_environment, dataset_summary, log, prepare, server_settings
from bench.faults import scenario_redis_down
from bench.load import DURATION, ROUNDS, Bench
from bench.probes.run import probe
from bench.replica import scenario_replica
from bench.report import SECTIONS, write_report
from bench.search import scenario_search
from bench.search_growth import scenario_search_growth
from bench.search_plan import scenario_search_plan
from bench.servers import Server, deployed_label
from bench.soak import scenario_soak
from bench.sql_timings import scenario_messages_sql, scenario_rls_cost
from bench.sql_transactions import scenario_transactions_sql
from bench.webhooks import scenario_webhooks

#: Users (provider logins and tenant owners, each) the authenticated load scenarios spread over.
BENCH_USERS = int(os.environ.get("BENCH_USERS", "300"))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=["small", "full"], default="small")
    parser.add_argument("--fresh", action="store_true", help="drop the bench databases and generate again")
    parser.add_argument("--skip-gunicorn", action="store_true", help="skip the gunicorn worker comparison")
    parser.add_argument(
        "--only", nargs="+", metavar="SCENARIO", choices=list(SECTIONS), help="run only these scenarios"
    )
    parser.add_argument(
        "--write-report",
        action="store_true",
        help="with --only: write the report of what ran (otherwise printed as JSON only)",
    )
    parser.add_argument(
        "--merge-report",
        action="store_true",
        help="with --only: put what ran into the scale's existing report (the rest kept as it was)",
    )
    args = parser.parse_args(argv)
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed (Debian: apt-get install wrk); `make bench` installs it")
    os.chdir(BASE_DIR)
    environment, services = bench_environment(args.scale)
    servers: list[Server] = []
    try:
        deep_thread = prepare(environment, scale=args.scale, fresh=args.fresh)
        stack, bare = Server(environment), Server(environment, bare=True)
        servers += [stack, bare]
        bench = Bench(environment, stack, bare)
        results = {
            "scale": args.scale,
            "dataset": dataset_summary(environment),
            "server": server_settings(environment),
            "gunicorn_workers": deployed_label(environment),
            "rounds": ROUNDS,
            "duration_seconds": DURATION,
        }
        cache: dict = {}

        def logins() -> dict:
            if "logins" not in cache:
                cache["logins"] = probe(environment, "logins")
            return cache["logins"]

        def users() -> dict:
            """Tokens minted up front (bench/probes/users.py), valid for the whole run."""
            if "users" not in cache:
                directory = tempfile.mkdtemp(prefix="bench-users-")
                cache["users"] = probe(environment, "users", str(BENCH_USERS), directory)
            return cache["users"]

        scenarios = {
            "calibration": lambda: http.scenario_calibration(bench),
            "webhooks": lambda: scenario_webhooks(bench),
            "rls": lambda: scenario_rls_cost(environment),
            "messages_sql": lambda: scenario_messages_sql(environment, deep_thread),
            "transactions_sql": lambda: scenario_transactions_sql(environment),
            "crossdb_resolution": lambda: inprocess.scenario_crossdb_resolution(environment),
            "crossdb_api": lambda: http.scenario_crossdb_api(bench, logins()),
            "search_plan": lambda: scenario_search_plan(environment),
            "search_growth": lambda: scenario_search_growth(environment),
            "search": lambda: scenario_search(bench, users()),
            "replica": lambda: scenario_replica(environment),
            "api": lambda: http.scenario_api(bench, users()),
            "api_depth": lambda: http.scenario_api_depth(bench, logins()),
            "admin": lambda: inprocess.scenario_admin_queries(environment),
            "request_costs": lambda: inprocess.scenario_request_costs(environment, logins()),
            "crossdb_check": lambda: inprocess.scenario_crossdb_check(environment),
            "faults": lambda: scenario_redis_down(environment),
            "soak": lambda: scenario_soak(environment),
        }
        for name, run in scenarios.items():
            if not args.only or name in args.only:
                log(name)
                results[name] = run()
        if (not args.only and not args.skip_gunicorn) or (args.only and "gunicorn" in args.only):
            for server in servers:
                server.stop()
            servers.clear()
            log("gunicorn workers")
            try:
                results["gunicorn"] = http.scenario_gunicorn(environment, logins())
            except Exception as exc:  # the main figures are in already: report them anyway
                log(f"gunicorn comparison failed: {exc!r}")
        results["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        if args.only and args.merge_report:
            print(write_report(merged_results(args.scale, results)))
            return 0
        if args.only and not args.write_report:  # a partial run: figures for a quick look
            print(json.dumps(results, indent=2, default=str))
            return 0
        print(write_report(results))
    finally:
        for server in servers:
            server.stop()
        for service in services:
            if hasattr(service, "stop"):
                service.stop()
    return 0


def merged_results(scale: str, results: dict) -> dict:
    """The scale's last report's results with this partial run's scenarios (and finish time) put in."""
    from bench.report import REPORTS, report_name

    path = REPORTS / f"{report_name(scale)}.json"
    earlier = json.loads(path.read_text()) if path.exists() else {}
    # The HTTP figures kept are the earlier run's, measured with its rounds (and its data set).
    kept = {key: earlier[key] for key in ("rounds", "duration_seconds", "dataset") if key in earlier}
    return {**earlier, **results, **kept}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
