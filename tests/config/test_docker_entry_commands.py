"""The image's own commands, run as an unprivileged user on a read-only copy of the app directory,
as in the container (Docker itself does not run on our machines): the Dockerfile's COPY list is
copied, its build step (docker/build-app.sh) runs as root, then docker-compose.yml's migrate, web,
worker and beat commands and the web and worker health checks run as `nobody`. A command that
writes where the app user may not (static files, media, a schedule file, bytecode) fails here."""

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
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml
from django.db import connections

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from tests.waiting import wait_until

BASE_DIR = Path(__file__).resolve().parent.parent.parent
DEADLINE_SECONDS = 120  # a bound on waiting for a process to come up, never an assertion on speed

pytestmark = [
    pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB], transaction=True),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run commands as another user"),
]


def compose() -> dict:
    return yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())


def _url(alias: str, *, host_override: str | None = None) -> str:
    settings_dict = connections[alias].settings_dict
    user = settings_dict.get("APP_USER") or settings_dict["USER"]
    host = settings_dict["HOST"] or "127.0.0.1"
    from urllib.parse import quote

    return (
        f"postgres://{user}:{quote(settings_dict['PASSWORD'] or '', safe='')}@{quote(host, safe='')}:"
        f"{settings_dict['PORT'] or 5432}/{settings_dict['NAME']}"
    )


@pytest.fixture
def app_copy():
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
    shutil.rmtree(root, ignore_errors=True)


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


@pytest.fixture
def service_env(app_copy):
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("TENANT_", "MARKETPLACE_", "DATABASE_"))}
    environment.update({k: str(v) for k, v in compose()["services"]["web"]["environment"].items()})
    prefix = f"docker-test-{uuid.uuid4().hex[:8]}"
    environment.update(
        SECRET_KEY="docker-entry-test-" + "x1y2z3" * 10,
        TENANT_DATABASE_URL=_url(TENANT_DB),
        MARKETPLACE_DATABASE_URL=_url(MARKETPLACE_DB),
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


def _start(command: str, app: Path, environment: dict) -> subprocess.Popen:
    return subprocess.Popen(
        ["sh", "-c", f"exec {command}"],
        cwd=app,
        env=environment,
        preexec_fn=_as_nobody,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _stop(process: subprocess.Popen) -> str:
    if process.poll() is None:
        os.killpg(process.pid, 15)
    try:
        output, _ = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        output, _ = process.communicate()
    return output or ""


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


def _until(check, process: subprocess.Popen | None = None) -> bool:
    """`check()` came true while `process` (if any) still runs."""

    def exited() -> bool:
        return process is not None and process.poll() is not None

    return wait_until(lambda: exited() or check(), timeout=DEADLINE_SECONDS, interval=0.5) and not exited()


def test_image_entry_commands_run_as_nobody_on_a_read_only_app_directory(app_copy, service_env):
    # The build step collected the static files into the image.
    assert (app_copy / "staticfiles" / "admin" / "css" / "base.css").is_file()
    probe = _run("touch probe", app_copy, service_env)
    assert probe.returncode != 0, "the app directory must be read-only to the app user"

    migrate = _run(_compose_command("migrate"), app_copy, service_env)
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr

    port = _free_port()
    web = _start(_compose_command("web").replace("0.0.0.0:8000", f"127.0.0.1:{port}"), app_copy, service_env)
    try:
        check_web = _healthcheck("web", {"127.0.0.1:8000": f"127.0.0.1:{port}"})

        def healthy() -> bool:  # the compose health check itself, as the app user
            return _run(check_web, app_copy, service_env).returncode == 0

        assert _until(healthy, web), _stop(web)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/static/admin/css/base.css", timeout=5) as response:
            assert response.status == 200
        saved = _run(
            'python manage.py shell -c "from django.core.files.base import ContentFile; '
            "from django.core.files.storage import default_storage; "
            "print(default_storage.save('receipts/probe.txt', ContentFile(b'ok')))\"",
            app_copy,
            service_env,
        )
        assert saved.returncode == 0, saved.stderr
    finally:
        _stop(web)

    worker = _start(_compose_command("worker"), app_copy, service_env)
    try:

        def answers() -> bool:
            return _run(_healthcheck("worker", {}), app_copy, service_env).returncode == 0

        assert _until(answers, worker), _stop(worker)
    finally:
        _stop(worker)

    beat = _start(_compose_command("beat"), app_copy, service_env)
    try:
        seen: list[str] = []

        def scheduling() -> bool:
            return beat.poll() is None and _beat_started(beat, seen)

        assert _until(scheduling, beat), "".join(seen) + _stop(beat)
    finally:
        _stop(beat)


def _beat_started(process: subprocess.Popen, seen: list[str]) -> bool:
    import selectors

    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    while selector.select(timeout=0.1):
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        if "beat: Starting" in line:
            # The scheduler is set up right after this line; a schedule file it could not write
            # would end the process here.
            pass
        if "Scheduler: Sending due task" in line or "DatabaseScheduler: Schedule changed" in line:
            return True
    return False
