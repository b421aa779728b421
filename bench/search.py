"""The listing search over HTTP, each figure against both baselines with its p99:

- uncached: every request a different random search drawn from the listing vocabulary
  (bench/lua/random_search.lua), so each reads PostgreSQL;
- broad: the most common word alone, uncached (a new price bound each request, bench/lua/
  distinct_search.lua);
- cached: the reference search repeated (answered by the search cache) while one provider edit per
  second (bench/probes/listing_edits.py) makes the search's scope stale, as a live marketplace does;
- the rest of the site (the authenticated reads, many users, bench/lua/users.lua) alone and while 4
  more clients hammer broad uncached searches: its throughput under that load against its own
  without it: flooding against the public-read limits as deployed for 4 clients (the target),
  pacing under those limits, and flooding with the limits lifted (what the searches cost when all
  are answered).
"""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from bench.environment import BASE_DIR
from bench.generate_text import CATEGORY_WORDS, COMMON_WORDS
from bench.load import DURATION, ROUNDS, WARMUP, Bench, lua, summary, with_ratios, wrk_with
from bench.probes.run import probe
from bench.servers import Server
from bench.targets import BROAD_SEARCH_PATH, SEARCH_ARGUMENTS, SEARCH_PATH

#: Clients hammering broad searches while the rest of the site is measured.
HAMMER_CONNECTIONS = 4


def vocabulary_file() -> str:
    """The words listing text is drawn from (bench/generate_text.py), one per line."""
    words = sorted({*COMMON_WORDS, *(w for ws in CATEGORY_WORDS.values() for w in ws.split())})
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        handle.write("\n".join(words) + "\n")
    return handle.name


def scenario_search(bench: Bench, users: dict) -> dict:
    url = bench.stack.url
    vocabulary = vocabulary_file()
    try:
        out = {
            "uncached_random": bench.against_baselines(
                lambda duration: wrk_with(
                    f"{url}/api/v1/marketplace/listings/",
                    ["-s", lua("random_search.lua")],
                    ["--", vocabulary],
                    duration=duration,
                )
            ),
            "broad": bench.against_baselines(
                lambda duration: wrk_with(
                    url + BROAD_SEARCH_PATH, ["-s", lua("distinct_search.lua")], duration=duration
                )
            ),
            "cached_with_edits": cached_with_edits(bench),
            "site_under_broad_hammer": site_under_hammer(bench, users),
        }
    finally:
        Path(vocabulary).unlink()
    return out


def cached_with_edits(bench: Bench) -> dict:
    editor = subprocess.Popen(
        [sys.executable, "-m", "bench.probes.listing_edits", SEARCH_ARGUMENTS["state"]],
        cwd=BASE_DIR,
        env=bench.environment,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        measured = bench.against_baselines(lambda duration: wrk_with(bench.stack.url + SEARCH_PATH, duration=duration))
    finally:
        editor.send_signal(signal.SIGTERM)
        output, _ = editor.communicate(timeout=60)
    edits = json.loads(output.strip().splitlines()[-1]) if output.strip() else {"edits": None}
    return {**measured, "edits": edits["edits"]}


def site_mix_file(users: dict) -> str:
    """Every authenticated read of every user in one file: the rest of the site, many users."""
    lines = []
    for kind in ("transactions", "messages", "contacts"):
        lines += Path(users[kind][0]).read_text().splitlines()
    with tempfile.NamedTemporaryFile("w", suffix=".tsv", delete=False) as handle:
        handle.write("\n".join(lines) + "\n")
    return handle.name


def deployed_limits_environment(environment: dict, clients: int) -> tuple[dict, dict]:
    """The bench's environment with the public-read limits as deployed, each scaled to `clients`
    clients that share the bench's one address (the throttle's rate and the uncached searches at
    once, times the clients), and those limits."""
    lifted = ("API_THROTTLE_PUBLIC_READ_IP", "LISTING_SEARCH_CONCURRENT_PER_CLIENT")
    deployed = probe({k: v for k, v in environment.items() if k not in lifted}, "deployed_limits")
    count, period = deployed["public_read_ip"].split("/")
    limits = {
        "API_THROTTLE_PUBLIC_READ_IP": f"{int(count) * clients}/{period}",
        "LISTING_SEARCH_CONCURRENT_PER_CLIENT": str(deployed["concurrent_per_client"] * clients),
    }
    return {**environment, **limits}, {"per_client": deployed, "for_the_clients": limits}


def site_under_hammer(bench: Bench, users: dict) -> dict:
    """Rounds of: bare baseline, stack baseline, then the site mix alone and while HAMMER_CONNECTIONS
    clients send broad uncached searches (started first, stopped after), in three cases:

    - `flooding` (the target): the clients send as fast as they can, against a server with the
      public-read limits as deployed for that many clients, in the steady state of a flood (the
      throttle's counters as a minute of it leaves them: bench/probes/throttle_state.py);
    - `paced`: the same server, each client pausing so as to stay under its rate (about 90 % of it),
      the counters clear: searches the limits let through;
    - `lifted`: the bench's own server, whose per-address limits are lifted, every search answered:
      what the searches themselves cost the site.
    """
    environment, limits = deployed_limits_environment(bench.environment, HAMMER_CONNECTIONS)
    # Its own cache prefix: the bench's server counts the same address in the same Redis.
    environment = {**environment, "CACHE_KEY_PREFIX": "bench-deployed-limits"}
    count, period = limits["for_the_clients"]["API_THROTTLE_PUBLIC_READ_IP"].split("/")
    per_second = int(count) / {"s": 1, "m": 60, "h": 3600, "d": 86400}[period[0]]
    pause_ms = round(1000 * HAMMER_CONNECTIONS / (0.9 * per_second))
    mix = site_mix_file(users)
    deployed = None
    try:
        deployed = Server(environment)
        served = dataclasses.replace(bench, stack=deployed)
        cases = {
            "flooding": (served, ["-s", lua("distinct_search.lua")], [], "flooded"),
            "paced": (served, ["-s", lua("paced_search.lua")], ["--", str(pause_ms)], "clear"),
            "lifted": (bench, ["-s", lua("distinct_search.lua")], [], None),
        }
        bare_load, stack_load = bench.baselines()
        bare, stack = [], []
        runs: dict[str, tuple[list, list]] = {name: ([], []) for name in cases}
        for _ in range(ROUNDS):
            bare.append(bench.run(bare_load))
            stack.append(bench.run(stack_load))
            for name, (server, script, trailing, throttle) in cases.items():
                alone, under = runs[name]
                alone.append(server.run(_site_load(server.stack.url, mix)))
                state = (lambda t=throttle: probe(environment, "throttle_state", t)) if throttle else None
                under.append(server.run(_hammered_load(server.stack.url, mix, script, trailing, state)))
    finally:
        if deployed is not None:
            deployed.stop()
        Path(mix).unlink()

    def result(alone: list, under: list) -> dict:
        under_summary = with_ratios(summary(under), summary(bare), summary(stack))
        alone_summary = with_ratios(summary(alone), summary(bare), summary(stack))
        return {
            **under_summary,
            "alone": alone_summary,
            "ratio_to_alone": under_summary["rps"] / alone_summary["rps"],
            "hammer": summary([r["hammer"] for r in under]),
        }

    return {
        **result(*runs["flooding"]),
        "limits": limits,
        "paced": {**result(*runs["paced"]), "pause_ms": pause_ms},
        "limits_lifted": result(*runs["lifted"]),
        "hammer_connections": HAMMER_CONNECTIONS,
        "warmup_seconds": WARMUP,
    }


def _site_load(url: str, mix: str):
    def site(duration=None):
        return wrk_with(f"{url}/", ["-s", lua("users.lua")], ["--", mix], duration=duration)

    return site


def _hammered_load(url: str, mix: str, script: list[str], trailing: list[str], before=None):
    """The site mix while the hammer runs; `before()` first (the throttle's counters)."""
    site = _site_load(url, mix)

    def hammered(duration=None):
        if before is not None:
            before()
        hammer: dict = {}
        length = (duration or DURATION) + 2

        def run():
            hammer.update(
                wrk_with(
                    url + BROAD_SEARCH_PATH,
                    script,
                    trailing,
                    duration=length,
                    connections=HAMMER_CONNECTIONS,
                )
            )

        thread = threading.Thread(target=run)
        thread.start()
        threading.Event().wait(1.0)  # the hammer at full speed before the site is measured
        result = site(duration)
        thread.join()
        return {**result, "hammer": hammer}

    return hammered
