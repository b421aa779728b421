"""The listing search over HTTP, each figure against both baselines with its p99:

- uncached: every request a different random search drawn from the listing vocabulary
  (bench/lua/random_search.lua), so each reads PostgreSQL;
- broad: the most common word alone, uncached (a new price bound each request, bench/lua/
  distinct_search.lua);
- cached: the reference search repeated (answered by the search cache) while one provider edit per
  second (bench/probes/listing_edits.py) makes the search's scope stale, as a live marketplace does;
- the rest of the site (the authenticated reads, many users, bench/lua/users.lua) alone and while 4
  more clients hammer broad uncached searches: its throughput under that load against its own
  without it, with the public-read limits as deployed for 4 clients (the target), and lifted (what
  the hammer's searches cost when all are answered).
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
    """Rounds of: bare baseline, stack baseline, then for each server the site mix alone and the
    site mix while HAMMER_CONNECTIONS clients send broad uncached searches (started first, stopped
    after). Two servers: the bench's own, whose per-address limits are lifted (the hammer's
    searches are all answered: what they cost the site), and one with the public-read limits as
    deployed for that many clients (what a hammering client meets: the figure the target is for)."""
    mix = site_mix_file(users)
    environment, limits = deployed_limits_environment(bench.environment, HAMMER_CONNECTIONS)
    deployed = Server(environment)
    servers = {"lifted": bench, "deployed": dataclasses.replace(bench, stack=deployed)}
    bare_load, stack_load = bench.baselines()
    bare, stack = [], []
    runs: dict[str, tuple[list, list]] = {name: ([], []) for name in servers}
    try:
        for _ in range(ROUNDS):
            bare.append(bench.run(bare_load))
            stack.append(bench.run(stack_load))
            for name, served in servers.items():
                alone, under = runs[name]
                alone.append(served.run(_site_load(served.stack.url, mix)))
                under.append(served.run(_hammered_load(served.stack.url, mix)))
    finally:
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
        **result(*runs["deployed"]),
        "limits": limits,
        "limits_lifted": result(*runs["lifted"]),
        "hammer_connections": HAMMER_CONNECTIONS,
        "warmup_seconds": WARMUP,
    }


def _site_load(url: str, mix: str):
    def site(duration=None):
        return wrk_with(f"{url}/", ["-s", lua("users.lua")], ["--", mix], duration=duration)

    return site


def _hammered_load(url: str, mix: str):
    site = _site_load(url, mix)

    def hammered(duration=None):
        hammer: dict = {}
        length = (duration or DURATION) + 2

        def run():
            hammer.update(
                wrk_with(
                    url + BROAD_SEARCH_PATH,
                    ["-s", lua("distinct_search.lua")],
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
