"""The servers the bench measures: gunicorn as deployed (`-c python:config.gunicorn`), serving the
platform under `bench.settings` (the whole stack) or the bare baseline under `bench.bare_settings`
(no middleware), and the pause between two measurements that lets a server finish what the last
one queued."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from bench.environment import BASE_DIR

#: After a load run: the least pause, and the longest wait for the servers to be idle again.
DRAIN_PAUSE_SECONDS = float(os.environ.get("BENCH_DRAIN_SECONDS", "0.5"))
DRAIN_LIMIT_SECONDS = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def deployed_workers(environment: dict) -> int:
    from bench.probes.run import probe

    return int(probe(environment, "gunicorn_workers"))


def deployed_label(environment: dict) -> str:
    return f"{deployed_workers(environment)} sync workers (config/gunicorn.py, as deployed)"


def gunicorn_choices(environment: dict) -> dict[str, list[str]]:
    """What a 2-core host could run, each on top of the deployed config (options on the command line
    override the file's); the main figures use the deployed one."""
    deployed = deployed_workers(environment)
    choices = {deployed_label(environment): []}
    for workers in (2, 3):
        if workers != deployed:
            choices[f"{workers} sync workers"] = ["--workers", str(workers)]
    choices["5 sync workers (2 x cores + 1)"] = ["--workers", "5"]
    choices["2 gthread workers x 4 threads"] = ["--workers", "2", "--worker-class", "gthread", "--threads", "4"]
    return choices


class Server:
    """gunicorn with the deployed settings plus any options that override them. `bare`: the same
    gunicorn setup serving `bench.bare_settings` (the baseline view, no middleware)."""

    def __init__(self, environment: dict, options: list[str] = (), *, bare: bool = False):
        self.bare = bare
        self.environment = {**environment, "DJANGO_SETTINGS_MODULE": "bench.bare_settings"} if bare else environment
        self.port = free_port()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                "python:config.gunicorn",
                *options,
                "--bind",
                f"127.0.0.1:{self.port}",
                "--log-level",
                "warning",
            ],
            cwd=BASE_DIR,
            env=self.environment,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not start")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def baseline_url(self) -> str:
        return f"{self.url}/bench/baseline?id=1"

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=30)


def _active_statements(environment: dict) -> int:
    """Statements the platform's connections are running now, on both bench databases."""
    import psycopg

    total = 0
    for variable in ("TENANT_DATABASE_URL", "MARKETPLACE_DATABASE_URL"):
        with psycopg.connect(environment[variable], autocommit=True) as conn:
            total += conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'active'"
                " AND application_name = 'breederhq' AND pid <> pg_backend_pid()"
            ).fetchone()[0]
    return total


def _answers(server: Server) -> bool:
    """One baseline request answered: whatever was queued in front of it is done."""
    try:
        with urllib.request.urlopen(server.baseline_url, timeout=5) as response:
            response.read()
    except OSError:
        return False
    return True


def drain(environment: dict, servers: list[Server]) -> float:
    """Waits until what the last load run queued is done: a fixed pause, then until no statement of
    the platform is running and every server has answered a baseline request, twice in a row (at
    most DRAIN_LIMIT_SECONDS). Returns the seconds waited."""
    started = time.monotonic()
    time.sleep(DRAIN_PAUSE_SECONDS)
    quiet = 0
    while quiet < 2 and time.monotonic() - started < DRAIN_LIMIT_SECONDS:
        if _active_statements(environment) == 0 and all(_answers(s) for s in servers):
            quiet += 1
        else:
            quiet = 0
            time.sleep(0.2)
    return time.monotonic() - started
