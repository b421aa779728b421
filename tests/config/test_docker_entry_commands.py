"""The image's own commands, run as an unprivileged user on a read-only copy of the app directory,
as in the container (Docker itself does not run on our machines): the Dockerfile's COPY list is
copied, its build step (docker/build-app.sh) runs as root, then docker-compose.yml's migrate, web,
worker and beat commands and the web and worker health checks run as `nobody`. A command that
writes where the app user may not (static files, media, a schedule file, bytecode) fails here.

The commands work on copies of the migrated test databases (`CREATE DATABASE ... TEMPLATE`), so what
they write (beat's schedule rows) never reaches the databases other tests use and no flush follows;
the copies are dropped while the next tests run. As in compose, web, worker and beat start together
once migrate has finished, and are stopped together (SIGTERM, as `docker compose stop` does).
They reach the database server as the test process does, except where the app user cannot: the
embedded default's socket is in its server's private data directory, and a relay only the app user
can reach stands in for it (`app_user_hosts`).
"""

from __future__ import annotations

import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import psycopg
import pytest
import yaml
from django.conf import settings
from django.db import connections
from psycopg import sql

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from tests.unix_relay import UnixRelay
from tests.waiting import wait_until

BASE_DIR = Path(__file__).resolve().parent.parent.parent
DEADLINE_SECONDS = 120  # a bound on waiting for a process to come up, never an assertion on speed

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run commands as another user")


def compose() -> dict:
    return yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())


def _url(alias: str, name: str, host: str) -> str:
    """The URL of database `name` on `alias`'s server, reached at `host` (see `app_user_hosts`), as
    the application role."""
    from urllib.parse import quote

    settings_dict = connections[alias].settings_dict
    user = settings_dict.get("APP_USER") or settings_dict["USER"]
    return (
        f"postgres://{user}:{quote(settings_dict['PASSWORD'] or '', safe='')}@{quote(host, safe='')}:"
        f"{settings_dict['PORT'] or 5432}/{name}"
    )


def _app_user_reaches(socket_path: Path) -> bool:
    """Whether the app user may connect to the Unix socket at `socket_path` (write permission on it,
    every folder above it searchable), asked as that user."""
    return subprocess.run(["test", "-w", str(socket_path)], preexec_fn=_as_nobody).returncode == 0


@pytest.fixture(scope="module")
def app_user_hosts(app_copy):
    """{alias: the host the app user connects to}: the server's own, unless it is a Unix socket folder
    the app user cannot enter. The embedded default's server (config/launcher.py) keeps its socket in
    its data directory, which PostgreSQL keeps private to the user it runs as; then the app user
    connects through a relay (tests/unix_relay.py) whose socket only it can reach. A server on TCP
    (CI, compose) is used directly."""
    hosts, relays = {}, {}
    for alias in (TENANT_DB, MARKETPLACE_DB):
        settings_dict = connections[alias].settings_dict
        host, port = settings_dict["HOST"] or "127.0.0.1", str(settings_dict["PORT"] or 5432)
        name = f".s.PGSQL.{port}"
        if host.startswith("/") and not _app_user_reaches(Path(host) / name):
            if (host, port) not in relays:
                folder = app_copy.parent / f"postgres-socket-{len(relays)}"
                relays[host, port] = UnixRelay(folder, name, str(Path(host) / name), "nobody")
            host = str(relays[host, port].folder)
        hosts[alias] = host
    yield hosts
    for relay in relays.values():
        relay.close()


def _as_owner(server: dict, statement: sql.Composable) -> None:
    """`statement` on a database server as the owner role (which owns the test databases), retried
    while a database it names still has connections (a process another test left behind, exiting)."""

    def run() -> bool:
        try:
            with psycopg.connect(
                **server,
                user=settings.DATABASE_OWNER_USER,
                password=settings.DATABASE_OWNER_PASSWORD,
                dbname="postgres",
                autocommit=True,
            ) as connection:
                connection.execute(statement)
            return True
        except psycopg.errors.ObjectInUse:
            return False

    assert wait_until(run, timeout=30, interval=0.2), statement.as_string()


def _on_each(servers: dict, statement_for) -> None:
    """One statement per alias ({alias: server}), side by side: a DROP DATABASE waits for a
    checkpoint, and two requested together share one."""
    with ThreadPoolExecutor(len(servers)) as pool:
        for done in [pool.submit(_as_owner, server, statement_for(alias)) for alias, server in servers.items()]:
            done.result()


@pytest.fixture(scope="session")
def before_session_ends(django_db_setup):
    """Run clean-up that only waits (dropping a database waits for a checkpoint) beside the tests
    that follow; the session waits for it, and reports its failure, before its own tear-down."""
    with ThreadPoolExecutor(2) as pool:
        pending = []
        yield lambda function, *args: pending.append(pool.submit(function, *args))
        for done in pending:
            done.result()


@pytest.fixture(scope="module")
def image_databases(django_db_setup, before_session_ends):
    """{alias: name} of a copy of each migrated test database (`CREATE DATABASE ... TEMPLATE`),
    dropped afterwards. A template may have no other connections: this process's are closed first."""
    databases = {alias: connections[alias].settings_dict for alias in (TENANT_DB, MARKETPLACE_DB)}
    servers = {
        alias: {"host": db["HOST"] or "127.0.0.1", "port": db["PORT"] or 5432} for alias, db in databases.items()
    }
    templates = {alias: db["NAME"] for alias, db in databases.items()}
    names = {alias: f"{template}_image" for alias, template in templates.items()}

    def drop(alias: str) -> sql.Composable:
        return sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(names[alias]))

    _on_each(servers, drop)  # one a killed run left behind
    connections.close_all()
    _on_each(
        servers,
        lambda alias: sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(names[alias]), sql.Identifier(templates[alias])
        ),
    )
    yield names
    before_session_ends(_on_each, servers, drop)


@pytest.fixture(scope="module")
def app_copy(before_session_ends):
    """The files the Dockerfile copies, built as root, then read-only to everyone."""
    root = Path(tempfile.mkdtemp(prefix="breederhq-image-", dir="/tmp"))
    os.chmod(root, 0o755)
    app = root / "app"
    app.mkdir()
    for source, target in re.findall(r"^COPY (\S+) (\S+)$", (BASE_DIR / "Dockerfile").read_text(), re.M):
        destination = app / target.removeprefix("./") if target != "./" else app / source
        destination.parent.mkdir(parents=True, exist_ok=True)
        if (BASE_DIR / source).is_dir():
            shutil.copytree(BASE_DIR / source, destination, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(BASE_DIR / source, destination)
    _python_for_nobody(root / "venv")
    media = app / "media"
    # The build step's `python` is this test run's (its Django), whatever PATH the suite started with.
    environment = {
        **os.environ,
        "MEDIA_ROOT": str(media),
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
    }
    build = subprocess.run(
        ["sh", "docker/build-app.sh", "nobody"], cwd=app, env=environment, capture_output=True, text=True
    )
    assert build.returncode == 0, build.stderr
    for path in [app, *app.rglob("*")]:
        if path == media or media in path.parents:
            continue
        mode = path.stat().st_mode & 0o777
        path.chmod((mode | 0o444 | (0o111 if path.is_dir() else 0)) & ~0o222)
    yield app
    before_session_ends(shutil.rmtree, root, True)


def _python_for_nobody(venv: Path) -> None:
    """A Python the unprivileged user can run, with this environment's packages (the test
    interpreter may live where `nobody` cannot read), and `gunicorn` and `celery` as in the image."""
    import sysconfig

    base = Path(sys.base_prefix) / "bin" / "python3.11"
    candidates = [Path("/usr/bin/python3.11"), Path("/usr/local/bin/python3.11"), base]
    interpreter = next((c for c in candidates if c.exists() and _world_executable(c)), None)
    if interpreter is None:
        pytest.skip("no Python 3.11 that an unprivileged user can run")
    packages = Path(sysconfig.get_paths()["purelib"])
    if not _world_executable(packages):
        pytest.skip(f"the suite's packages ({packages}) sit in a folder an unprivileged user cannot enter")
    subprocess.run([str(interpreter), "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next(venv.glob("lib/python3.*/site-packages"))
    (site / "breederhq-test-packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # redis-py imports async_timeout on Pythons before 3.11.3 (a distribution's 3.11 may be older
    # than ours); the standard library's asyncio.timeout is the same thing.
    (site / "async_timeout.py").write_text("from asyncio import timeout  # noqa: F401\n")
    for tool in ("gunicorn", "celery"):
        script = venv / "bin" / tool
        script.write_text(f'#!/bin/sh\nexec "{venv / "bin" / "python"}" -m {tool} "$@"\n')
        script.chmod(0o755)
    for path in [venv, *venv.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o444 | (0o111 if path.is_dir() else 0))


def _world_executable(path: Path) -> bool:
    path = path.resolve()
    return all(p.stat().st_mode & 0o001 for p in [path, *path.parents]) if path.exists() else False


def _as_nobody():
    nobody = pwd.getpwnam("nobody")
    os.setgroups([])
    os.setgid(nobody.pw_gid)
    os.setuid(nobody.pw_uid)


def _metrics_volume(path: Path) -> Path:
    path.mkdir(exist_ok=True)
    nobody = pwd.getpwnam("nobody")
    os.chown(path, nobody.pw_uid, nobody.pw_gid)
    return path


@pytest.fixture(scope="module")
def service_env(app_copy, image_databases, app_user_hosts):
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("TENANT_", "MARKETPLACE_", "DATABASE_"))}
    environment.update({k: str(v) for k, v in compose()["services"]["web"]["environment"].items()})
    prefix = f"docker-test-{uuid.uuid4().hex[:8]}"
    environment.update(
        SECRET_KEY="docker-entry-test-" + "x1y2z3" * 10,
        TENANT_DATABASE_URL=_url(TENANT_DB, image_databases[TENANT_DB], app_user_hosts[TENANT_DB]),
        MARKETPLACE_DATABASE_URL=_url(MARKETPLACE_DB, image_databases[MARKETPLACE_DB], app_user_hosts[MARKETPLACE_DB]),
        REDIS_URL=os.environ["REDIS_URL"],
        CELERY_KEY_PREFIX=f"{prefix}:",
        CACHE_KEY_PREFIX=prefix,
        MEDIA_ROOT=str(app_copy / "media"),
        HOME="/nonexistent",
        # The metrics folder is a volume in compose (writable by the app user), here a folder beside
        # the read-only app directory.
        PROMETHEUS_MULTIPROC_DIR=str(_metrics_volume(app_copy.parent / "metrics")),
        HOSTNAME=socket.gethostname(),  # as in a container: the worker names itself celery@$HOSTNAME
        WEB_CONCURRENCY="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    environment["PATH"] = f"{app_copy.parent / 'venv' / 'bin'}:{environment['PATH']}"
    environment.pop("VIRTUAL_ENV", None)
    return environment


def _run(command: str, app: Path, environment: dict, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["sh", "-c", command],
        cwd=app,
        env=environment,
        preexec_fn=_as_nobody,
        capture_output=True,
        text=True,
        timeout=DEADLINE_SECONDS * 2,
        **kwargs,
    )


class Service:
    """A long-running command as the app user, its output in a log file beside the app directory
    (a file, not a pipe: a service that logs more than a pipe holds never blocks on it)."""

    def __init__(self, name: str, command: str, app: Path, environment: dict):
        self.log = app.parent / f"{name}.log"
        with self.log.open("wb") as output:
            self.process = subprocess.Popen(
                ["sh", "-c", f"exec {command}"],
                cwd=app,
                env=environment,
                preexec_fn=_as_nobody,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def until(self, check) -> bool:
        """`check()` came true while the service still runs (waiting at most DEADLINE_SECONDS)."""

        def exited() -> bool:
            return self.process.poll() is not None

        return wait_until(lambda: exited() or check(), timeout=DEADLINE_SECONDS, interval=0.2) and not exited()

    def signal_stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, 15)

    def stop(self) -> str:
        """SIGTERM (a container's stop), 30 s to exit, then SIGKILL; the output."""
        self.signal_stop()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, 9)
            self.process.wait()
        return self.output()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _compose_command(service: str) -> str:
    return " ".join(compose()["services"][service]["command"].split())


def _healthcheck(service: str, replacements: dict[str, str]) -> str:
    test = compose()["services"][service]["healthcheck"]["test"]
    command = test[1] if test[0] == "CMD-SHELL" else shlex.join(test[1:])
    command = command.replace("$$", "$")
    for old, new in replacements.items():
        command = command.replace(old, new)
    return command


def test_image_entry_commands_run_as_nobody_on_a_read_only_app_directory(app_copy, service_env):
    # The build step collected the static files into the image and compiled the app's bytecode
    # (the app user can write neither).
    assert (app_copy / "staticfiles" / "admin" / "css" / "base.css").is_file()
    assert next((app_copy / "config" / "settings" / "__pycache__").glob("production.*.pyc"), None)
    probe = _run("touch probe", app_copy, service_env)
    assert probe.returncode != 0, "the app directory must be read-only to the app user"

    migrate = _run(_compose_command("migrate"), app_copy, service_env)
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr

    port = _free_port()
    with ExitStack() as stack:
        services = {}
        for name, command in [
            ("web", _compose_command("web").replace("0.0.0.0:8000", f"127.0.0.1:{port}")),
            ("worker", _compose_command("worker")),
            ("beat", _compose_command("beat")),
        ]:
            services[name] = Service(name, command, app_copy, service_env)
            stack.callback(services[name].stop)
        # SIGTERM to all at once, so they shut down side by side (each `stop` then waits for its own).
        stack.callback(lambda: [service.signal_stop() for service in services.values()])
        web, worker, beat = services["web"], services["worker"], services["beat"]
        # The app user writes a media file (the media volume), meanwhile.
        saved = subprocess.Popen(
            [
                "sh",
                "-c",
                'python manage.py shell -c "from django.core.files.base import ContentFile; '
                "from django.core.files.storage import default_storage; "
                "print(default_storage.save('receipts/probe.txt', ContentFile(b'ok')))\"",
            ],
            cwd=app_copy,
            env=service_env,
            preexec_fn=_as_nobody,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        stack.callback(saved.kill)

        check_web = _healthcheck("web", {"127.0.0.1:8000": f"127.0.0.1:{port}"})

        def answering() -> bool:  # cheaper to poll than the health check's own Python process
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5):
                    return True
            except urllib.error.HTTPError:  # 503: up, something it depends on is not (yet)
                return True
            except OSError:
                return False

        def healthy() -> bool:  # the compose health check itself, as the app user
            return _run(check_web, app_copy, service_env).returncode == 0

        assert web.until(answering), web.stop()
        assert web.until(healthy), web.stop()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/static/admin/css/base.css", timeout=5) as response:
            assert response.status == 200

        # The worker's health check waits up to its --timeout for an answer: it is first run once the
        # worker says it is ready (consuming, its control mailbox among the queues), so a check sent
        # before that does not spend the whole timeout waiting.
        ready = f"celery@{service_env['HOSTNAME']} ready."
        assert worker.until(lambda: ready in worker.output()), worker.stop()

        def answers() -> bool:
            return _run(_healthcheck("worker", {}), app_copy, service_env).returncode == 0

        assert worker.until(answers), worker.stop()

        def scheduling() -> bool:
            # A schedule file it could not write would end the process before the first of these.
            output = beat.output()
            return "Scheduler: Sending due task" in output or "DatabaseScheduler: Schedule changed" in output

        assert beat.until(scheduling), beat.stop()

        stdout, stderr = saved.communicate(timeout=DEADLINE_SECONDS)
        assert saved.returncode == 0, stderr
        assert (app_copy / "media" / stdout.strip().splitlines()[-1]).is_file(), stdout
