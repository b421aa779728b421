"""Profile one API request end to end, in process (Django test client, bench settings and data).

    .venv/bin/pip install pyinstrument        # not a project dependency
    .venv/bin/python -m bench.profile listing_search [--requests 300] [--html out.html] [--scale full]

Uses the bench databases (`bench.environment.prepare` generates them once) and prints pyinstrument's
call tree for N requests after a warm-up, plus the queries per request on each database.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from bench.environment import BASE_DIR, bench_environment, prepare
from bench.targets import REQUEST_COST_TARGETS


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenarios", nargs="+", choices=list(REQUEST_COST_TARGETS))
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--html", default="-")
    parser.add_argument("--all", action="store_true", help="show every frame (pyinstrument show_all)")
    parser.add_argument(
        "--cprofile",
        action="store_true",
        help="CPU time by function (cProfile, sorted by own time) instead of pyinstrument's wall-clock tree",
    )
    parser.add_argument(
        "--sort",
        default="tottime",
        choices=["tottime", "cumulative"],
        help="with --cprofile: order by a function's own time (default) or including what it calls",
    )
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE each SELECT of one request")
    parser.add_argument("--scale", choices=["small", "full"], default="small", help="which bench data set")
    args = parser.parse_args(argv)
    environment, services = bench_environment(args.scale)
    try:
        prepare(environment, scale=args.scale)
        logins = (
            subprocess.run(
                [sys.executable, "-m", "bench.generate", "--logins"],
                cwd=BASE_DIR,
                env=environment,
                check=True,
                capture_output=True,
                text=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        for scenario in args.scenarios:
            print(f"=== {scenario}", flush=True)
            html = args.html.replace(".html", f"-{scenario}.html")
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bench.probes.profile_request",
                    scenario,
                    str(args.requests),
                    html,
                    logins,
                    *(["--all"] if args.all else []),
                    *(["--explain"] if args.explain else []),
                    *(["--cprofile", "--sort", args.sort] if args.cprofile else []),
                ],
                cwd=BASE_DIR,
                env=environment,
                check=True,
            )
        return 0
    finally:
        for service in services:
            if hasattr(service, "stop"):
                service.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
