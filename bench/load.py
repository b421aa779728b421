"""Load runs with wrk, and how every HTTP figure is measured: in rounds, each round the bare
baseline, the baseline through the stack and the measured run (A B C A B C ...), with a drain and
a discarded warm-up before every run; medians of the rounds, each ratio against both baselines."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

from bench.environment import BASE_DIR
from bench.servers import Server, drain

DURATION = int(os.environ.get("BENCH_SECONDS", "8"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
#: A short run before each measured one, discarded: connections, caches, a worker's first request.
WARMUP = int(os.environ.get("BENCH_WARMUP_SECONDS", "1"))
#: wrk's connections, each sending its next request as soon as the last is answered.
CONNECTIONS = 16
LUA = BASE_DIR / "bench" / "lua"


def lua(name: str) -> str:
    return str(LUA / name)


def wrk_with(
    url: str,
    extra: list[str] = (),
    trailing: list[str] = (),
    *,
    duration: int | None = None,
    connections: int = CONNECTIONS,
) -> dict:
    """One wrk run: req/s, p50/p95/p99 in ms, non-2xx answers. A Lua script in `extra` ("-s path")
    runs with bench/lua/percentiles.lua appended (wrk takes one script), which prints the percentiles."""
    extra, script_text = list(extra), ""
    if "-s" in extra:
        at = extra.index("-s")
        script_text = open(extra[at + 1]).read() + "\n"
        del extra[at : at + 2]
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(script_text + (LUA / "percentiles.lua").read_text())
        script.flush()
        command = [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{duration or DURATION}s",
            "-s",
            script.name,
            *extra,
            url,
            *trailing,
        ]
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return parse_wrk(out)


def parse_wrk(out: str) -> dict:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    latency = {f"p{p}_ms": int(us) / 1000 for p, us in re.findall(r"^bench-percentile (\d+) (\d+)$", out, re.M)}
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {"rps": rps, **latency, "non_2xx": int(non_2xx.group(1)) if non_2xx else 0}


def wrk(url: str, *, script: str | None = None, script_args: list[str] | None = None, **options) -> dict:
    if script:
        return wrk_with(url, ["-s", script], trailing=["--", *(script_args or [])], **options)
    return wrk_with(url, [], **options)


def median(results: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in results)


def interleaved(a, b, rounds: int = ROUNDS) -> tuple[list, list]:
    results_a, results_b = [], []
    for _ in range(rounds):
        results_a.append(a())
        results_b.append(b())
    return results_a, results_b


def summary(results: list[dict]) -> dict:
    out = {key: median(results, key) for key in ("rps", "p50_ms", "p95_ms", "p99_ms") if key in results[0]}
    return {**out, "non_2xx": sum(r["non_2xx"] for r in results), "rounds": len(results)}


@dataclass
class Bench:
    """The servers of a run: `stack` serves the platform (and the baseline through the whole
    stack), `bare` the baseline view with no middleware."""

    environment: dict
    stack: Server
    bare: Server

    def drain(self) -> float:
        return drain(self.environment, [self.stack, self.bare])

    def run(self, load: Callable[..., dict]) -> dict:
        """`load(duration=...)` once as a discarded warm-up, then measured; drained before each."""
        self.drain()
        if WARMUP:
            load(duration=WARMUP)
            self.drain()
        return load(duration=None)

    def baselines(self) -> tuple[Callable[..., dict], Callable[..., dict]]:
        return (
            lambda duration: wrk(self.bare.baseline_url, duration=duration),
            lambda duration: wrk(self.stack.baseline_url, duration=duration),
        )

    def against_baselines(self, load: Callable[..., dict], rounds: int = ROUNDS) -> dict:
        """Rounds of bare baseline, stack baseline, `load`: the medians, and the load's req/s against
        each baseline's (`ratio_to_bare`, `ratio_to_baseline` for the one through the stack)."""
        bare_load, stack_load = self.baselines()
        bare, stack, measured = [], [], []
        for _ in range(rounds):
            bare.append(self.run(bare_load))
            stack.append(self.run(stack_load))
            measured.append(self.run(load))
        return with_ratios(summary(measured), summary(bare), summary(stack))


def with_ratios(measured: dict, bare: dict, stack: dict) -> dict:
    return {
        **measured,
        "ratio_to_bare": measured["rps"] / bare["rps"],
        "ratio_to_baseline": measured["rps"] / stack["rps"],
        "bare_rps": bare["rps"],
        "bare_p99_ms": bare.get("p99_ms"),
        "stack_rps": stack["rps"],
        "stack_p99_ms": stack.get("p99_ms"),
    }
