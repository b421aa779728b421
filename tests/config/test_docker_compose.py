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


def test_every_dependency_exists_and_can_be_waited_for():
    """`depends_on` names services that exist; `service_healthy` only on a service with a health
    check, `service_completed_successfully` only on a one-shot service (compose would otherwise
    wait forever, or start nothing)."""
    services = compose()["services"]
    for name, service in services.items():
        for target, rule in (service.get("depends_on") or {}).items():
            assert target in services, f"{name} depends on a missing service {target}"
            assert target != name
            condition = rule["condition"]
            if condition == "service_healthy":
                assert services[target].get("healthcheck", {}).get("test"), f"{name} waits on {target}'s health"
            elif condition == "service_completed_successfully":
                assert services[target].get("restart", "no") == "no", f"{name} waits for one-shot {target}"
            else:
                assert condition == "service_started", (name, target, condition)


def test_migrate_is_the_only_one_shot_service_and_every_long_running_one_restarts():
    services = compose()["services"]
    one_shot = {name for name, service in services.items() if service.get("restart", "no") == "no"}
    assert one_shot == {"migrate"}
    assert "healthcheck" not in services["migrate"] and "ports" not in services["migrate"]
    waiting_for_migrate = {
        name
        for name, service in services.items()
        if (service.get("depends_on") or {}).get("migrate") == {"condition": "service_completed_successfully"}
    }
    assert waiting_for_migrate == {"web", "worker", "beat"}


def test_every_named_volume_is_declared_and_every_declared_volume_is_used():
    document = compose()
    declared = set(document["volumes"])
    used = set()
    for name, service in document["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith((".", "/")):  # a bind mount: a file of the repository
                assert (BASE_DIR / source).exists(), f"{name} mounts a missing {source}"
            else:
                used.add(source)
    assert used - declared == set(), "named volumes used but not declared"
    assert declared - used == set(), "declared volumes nobody mounts"


def test_every_built_image_has_its_build_context_and_services_sharing_an_image_share_its_build():
    services = compose()["services"]
    builds = {}
    for name, service in services.items():
        if "build" in service:
            assert (BASE_DIR / service["build"] / "Dockerfile").is_file(), name
            assert builds.setdefault(service["image"], service["build"]) == service["build"], name
    local = {service["image"] for service in services.values() if service["image"].endswith(":local")}
    assert local <= set(builds), "a :local image no service builds"
    # The pgbackrest service runs the postgres image's script, as the server's user.
    assert services["pgbackrest"]["image"] == services["postgres"]["image"]
    assert services["pgbackrest"]["command"] == ["breederhq-backup-schedule"]
    assert (
        "backup-schedule.sh /usr/local/bin/breederhq-backup-schedule"
        in (BASE_DIR / "docker" / "postgres" / "Dockerfile").read_text()
    )
