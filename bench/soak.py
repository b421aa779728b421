"""The fault soak (`--only soak`): a bounded mixed load (bench/soak_load.py) against gunicorn as
deployed, a real Celery worker (every queue) and beat, all on a Redis the bench starts itself on
its own port (the shared one is never touched), through five phases:

    steady -> worker_killed (SIGKILL, restarted after BENCH_SOAK_WORKER_DOWN_SECONDS) -> steady_2
    -> redis_restart (stopped for BENCH_SOAK_REDIS_DOWN_SECONDS, then started) -> recovery

Then the load stops, the worker and beat drain what is left (until no outbox message is pending,
no email queued or sending and no webhook event waiting, at most BENCH_SOAK_DRAIN_SECONDS), and the
invariants are read and judged (bench/soak_check.py), with `crossdb_check` run as beat runs it.
Each phase lasts BENCH_SOAK_PHASE_SECONDS; BENCH_SOAK_CLIENTS client threads.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime

from bench.environment import BASE_DIR, admin_url, log
from bench.probes.run import probe
from bench.servers import Server, free_port
from bench.soak_check import collect_facts, evaluate, phase_summary
from bench.soak_load import SoakLoad

PHASE_SECONDS = int(os.environ.get("BENCH_SOAK_PHASE_SECONDS", "30"))
WORKER_DOWN_SECONDS = int(os.environ.get("BENCH_SOAK_WORKER_DOWN_SECONDS", "8"))
REDIS_DOWN_SECONDS = int(os.environ.get("BENCH_SOAK_REDIS_DOWN_SECONDS", "20"))
DRAIN_SECONDS = int(os.environ.get("BENCH_SOAK_DRAIN_SECONDS", "180"))
CLIENTS = int(os.environ.get("BENCH_SOAK_CLIENTS", "4"))


class OwnRedis:
    """redis-server on a free port, no persistence: stopped and started again by the soak."""

    def __init__(self):
        self.port, self.process = free_port(), None
        self.directory = tempfile.mkdtemp(prefix="bench-soak-redis-")
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.directory,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError("the soak's redis-server did not start")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


def celery(environment: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", *args, "--loglevel", "WARNING"],
        cwd=BASE_DIR,
        env=environment,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def start_worker(environment: dict) -> subprocess.Popen:
    return celery(environment, "worker", "-Q", "default,email,webhooks,maintenance", "--concurrency", "2")


def stop(process: subprocess.Popen | None, sig: int = signal.SIGTERM) -> None:
    if process and process.poll() is None:
        os.killpg(process.pid, sig)
        process.wait(timeout=60)


def waiting_work(environment: dict, run: int) -> int:
    """What the worker still has to do: outbox messages pending, emails queued or being sent (both
    databases), this run's webhook events not in a final state."""
    import psycopg

    total = 0
    for variable in ("TENANT_DATABASE_URL", "MARKETPLACE_DATABASE_URL"):
        with psycopg.connect(admin_url(environment, variable)) as conn:
            total += conn.execute(
                "SELECT (SELECT count(*) FROM outbox_messages WHERE status = 'pending')"
                " + (SELECT count(*) FROM outbound_emails WHERE status IN ('queued', 'sending'))"
            ).fetchone()[0]
            if variable == "TENANT_DATABASE_URL":
                total += conn.execute(
                    "SELECT count(*) FROM stripe_webhook_events WHERE status IN ('received', 'failed')"
                    " AND stripe_event_id LIKE %s",
                    [f"evt\\_soak\\_{run}\\_%"],
                ).fetchone()[0]
    return total


def crossdb_check(environment: dict) -> dict:
    result = subprocess.run(
        [sys.executable, "manage.py", "crossdb_check", "--json"],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
    )
    try:
        report = json.loads(result.stdout)
    except ValueError:
        return {"error": (result.stderr.strip().splitlines() or [f"exit code {result.returncode}"])[-1][:300]}
    problems = report["problems"]
    return {
        "problems": len(problems),
        "checked_rows": sum(report["checked"].values()),
        "summary": "; ".join(json.dumps(p, default=str)[:200] for p in problems[:3]),
    }


def scenario_soak(environment: dict) -> dict:
    run = time.time_ns() // 1000
    redis = OwnRedis()
    env = {**environment, "REDIS_URL": redis.url, "CELERY_BROKER_URL": redis.url, "CELERY_RESULT_BACKEND": redis.url}
    setup = {**probe(env, "soak_setup"), "run": run}
    schedule = os.path.join(redis.directory, "beat-schedule")
    server = worker = beat = None
    threads = []
    try:
        server, worker = Server(env), start_worker(env)
        beat = celery(env, "beat", "--schedule", schedule)
        load = SoakLoad(server.url, setup, env["STRIPE_WEBHOOK_SECRET"])
        started = datetime.now(UTC)
        threads = load.start(CLIENTS)
        log("soak: steady")
        time.sleep(PHASE_SECONDS)
        load.phase = "worker_killed"
        log("soak: worker SIGKILLed")
        stop(worker, signal.SIGKILL)
        time.sleep(WORKER_DOWN_SECONDS)
        worker = start_worker(env)
        time.sleep(max(0, PHASE_SECONDS - WORKER_DOWN_SECONDS))
        load.phase = "steady_2"
        log("soak: steady again")
        time.sleep(PHASE_SECONDS)
        load.phase = "redis_restart"
        log("soak: Redis stopped")
        redis.stop()
        time.sleep(REDIS_DOWN_SECONDS)
        redis.start()
        log("soak: Redis started again")
        time.sleep(max(5, PHASE_SECONDS - REDIS_DOWN_SECONDS))
        load.phase = "recovery"
        log("soak: recovery")
        time.sleep(PHASE_SECONDS)
        load.stop(threads)
        threads = []
        log("soak: draining")
        drain_started = time.monotonic()
        while waiting_work(env, run) and time.monotonic() - drain_started < DRAIN_SECONDS:
            time.sleep(1)
        drain_seconds = time.monotonic() - drain_started
        left = waiting_work(env, run)
        drained = datetime.now(UTC)
        log("soak: checking")
        facts = collect_facts(env, started, drained)
        crossdb = crossdb_check(env)
    finally:
        if threads:
            load.stop(threads)
        if server:
            server.stop()
        stop(worker)
        stop(beat)
        redis.stop()
    outcomes = [asdict(o) for o in load.outcomes]
    return {
        "config": {
            "clients": CLIENTS,
            "steady_seconds": PHASE_SECONDS,
            "worker_down_seconds": WORKER_DOWN_SECONDS,
            "redis_down_seconds": REDIS_DOWN_SECONDS,
            "drain_limit_seconds": DRAIN_SECONDS,
        },
        "phases": phase_summary(outcomes),
        "drain_seconds": drain_seconds,
        "left_after_drain": left,
        "facts": facts,
        "crossdb_check": crossdb,
        "invariants": evaluate(facts, load.replay_mismatches, crossdb),
    }
