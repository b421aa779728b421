"""docker-compose.yml speaks the settings' language (Docker itself does not run on our machines)."""

import re
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from tests.config.settings_variables import READ_ELSEWHERE, variables_read_by_settings

BASE_DIR = Path(__file__).resolve().parent.parent.parent
APP_SERVICES = ("migrate", "web", "worker", "beat")
REQUIRED = {
    "DJANGO_SETTINGS_MODULE",
    "SECRET_KEY",
    "TENANT_DATABASE_URL",
    "MARKETPLACE_DATABASE_URL",
    "REDIS_URL",
    "DATABASE_OWNER_USER",
    "DATABASE_OWNER_PASSWORD",
}


def compose() -> dict:
    return yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())


def test_compose_has_every_service():
    assert set(compose()["services"]) == {"postgres", "pgbackrest", "redis", "migrate", "web", "worker", "beat"}


def test_postgres_archives_wal_into_the_pgbackrest_stanza_the_backups_use():
    """Point-in-time recovery (docs/decisions/0008-point-in-time-recovery.md): the archive_command,
    the scheduled backups and pgbackrest.conf name one stanza, and a segment is archived at least
    once a minute (the RPO is 5 minutes)."""
    settings = dict(arg.split("=", 1) for arg in compose()["services"]["postgres"]["command"] if "=" in arg)
    assert settings["archive_mode"] == "on"
    assert int(settings["archive_timeout"]) <= 300
    stanza = re.search(r"--stanza=(\w+) archive-push %p", settings["archive_command"]).group(1)
    conf = (BASE_DIR / "docker" / "postgres" / "pgbackrest.conf").read_text()
    assert f"[{stanza}]" in conf and "pg1-path=/var/lib/postgresql/data" in conf
    assert f"STANZA={stanza}" in (BASE_DIR / "docker" / "postgres" / "backup-schedule.sh").read_text()
    volumes = set(compose()["services"]["pgbackrest"]["volumes"]) & set(compose()["services"]["postgres"]["volumes"])
    assert {"postgres-data:/var/lib/postgresql/data", "pgbackrest-repo:/var/lib/pgbackrest"} <= volumes


def test_every_app_service_sets_only_variables_the_settings_read_and_all_required_ones():
    known = variables_read_by_settings() | READ_ELSEWHERE
    for name in APP_SERVICES:
        environment = compose()["services"][name]["environment"]
        assert set(environment) - known == set(), f"{name} sets variables nothing reads"
        assert REQUIRED - set(environment) == set(), f"{name} misses required variables"


def test_database_urls_name_roles_and_databases_the_postgres_init_creates():
    init_sql = (BASE_DIR / "docker" / "postgres" / "init.sql").read_text()
    roles = set(re.findall(r"CREATE ROLE (\w+)", init_sql))
    databases = dict(re.findall(r"CREATE DATABASE (\w+) OWNER (\w+)", init_sql))
    environment = compose()["services"]["web"]["environment"]
    owner = environment["DATABASE_OWNER_USER"]
    for variable in ("TENANT_DATABASE_URL", "MARKETPLACE_DATABASE_URL"):
        url = urlsplit(environment[variable])
        assert url.hostname == "postgres"
        assert url.username in roles and url.username != owner
        assert databases[url.path.lstrip("/")] == owner
    assert owner in roles


def test_web_worker_and_beat_wait_for_migrations_and_restart():
    services = compose()["services"]
    migrate = services["migrate"]
    assert "migrate --database default" in migrate["command"]
    assert "migrate --database marketplace" in migrate["command"]
    assert migrate.get("restart", "no") == "no"  # one-shot
    for name in ("web", "worker", "beat"):
        service = services[name]
        assert service["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}, name
        assert service["restart"] in {"unless-stopped", "always", "on-failure"}, name
        assert "migrate" not in service["command"], f"{name} must not migrate (the migrate service does)"
        assert "collectstatic" not in service["command"], f"{name} must not write static files at run time"
    for name in ("web", "worker"):
        assert services[name]["healthcheck"]["test"], name


def test_the_image_runs_as_an_unprivileged_user_after_its_build_steps():
    lines = [line.strip() for line in (BASE_DIR / "Dockerfile").read_text().splitlines()]
    build = lines.index("RUN sh docker/build-app.sh breederhq")
    user = next(i for i, line in enumerate(lines) if line.startswith("USER "))
    assert lines[user] == "USER breederhq" and user > build
    assert not any(line.startswith("RUN") for line in lines[user:]), "nothing runs as root after USER"
