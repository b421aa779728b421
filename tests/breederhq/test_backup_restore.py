"""A real pg_dump of both databases and a real restore into fresh databases, row for row."""

import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from psycopg import sql

from breederhq.backup import BackupError, admin_url_for, backup, restore, table_row_counts
from breederhq.databases import DATABASE_ALIASES, MARKETPLACE_DB, TENANT_DB
from marketplace_app.models import MarketplaceUser
from tenant_app.models import Tenant, User

pytestmark = pytest.mark.django_db(databases=list(DATABASE_ALIASES), transaction=True)


def _as_admin(statement: sql.Composable) -> None:
    with psycopg.connect(admin_url_for("postgres"), autocommit=True) as conn:
        conn.execute(statement)


def _drop_statement(name: str) -> sql.Composable:
    return sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))


@pytest.fixture(scope="module")
def drop_later():
    """Drop databases beside the tests that follow: a DROP DATABASE only waits for a checkpoint,
    and drops requested together share one. The module waits for them, and reports a failure, at
    its end."""
    with ThreadPoolExecutor(2) as pool:
        pending = []
        yield lambda names: pending.extend(pool.submit(_as_admin, _drop_statement(name)) for name in names)
        for done in pending:
            done.result()


@pytest.fixture
def scratch_databases(drop_later):
    """Two empty databases owned by the owner role (created side by side), dropped afterwards."""
    names = {alias: f"restore_{alias}_{uuid.uuid4().hex[:8]}" for alias in DATABASE_ALIASES}
    create = sql.SQL("CREATE DATABASE {} OWNER {}")
    owner = sql.Identifier(settings.DATABASE_OWNER_USER)
    with ThreadPoolExecutor(len(names)) as pool:
        for done in [pool.submit(_as_admin, create.format(sql.Identifier(name), owner)) for name in names.values()]:
            done.result()
    yield names
    drop_later(names.values())


def live_counts(alias: str) -> dict[str, int]:
    with psycopg.connect(admin_url_for(settings.DATABASES[alias]["NAME"]), autocommit=True) as conn:
        return table_row_counts(conn)


def seed():
    staff = User.objects.create(username="ada@example.test", email="ada@example.test")
    for index in range(3):
        Tenant.objects.create(name=f"Kennel {index}", slug=f"kennel-{index}")
    MarketplaceUser.objects.create(
        email="buyer@example.test", display_name="Buyer", kind="breeder", tenant_user_id=staff.pk
    )


def test_backup_then_restore_gives_the_same_rows_in_every_table(tmp_path, scratch_databases):
    seed()
    manifest = backup(tmp_path)
    assert json.loads((tmp_path / "manifest.json").read_text()) == manifest
    for alias in DATABASE_ALIASES:
        entry = manifest["databases"][alias]
        assert entry["row_counts"] == live_counts(alias)
        assert entry["wal_lsn_before_dump"].count("/") == 1
    assert manifest["databases"][TENANT_DB]["row_counts"]["tenants"] == 3
    assert manifest["databases"][MARKETPLACE_DB]["row_counts"]["cross_db_references"] == 1

    restored = restore(tmp_path, targets=scratch_databases)
    for alias in DATABASE_ALIASES:
        assert restored[alias] == manifest["databases"][alias]["row_counts"]

    # Owners and the application role's grants came back with the data.
    with psycopg.connect(admin_url_for(scratch_databases[TENANT_DB]), autocommit=True) as conn:
        owner = conn.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'tenants'").fetchone()[0]
        can_select = conn.execute(
            "SELECT has_table_privilege(%s, 'tenants', 'SELECT')",
            [settings.DATABASES[TENANT_DB].get("APP_USER", settings.DATABASES[TENANT_DB]["USER"])],
        ).fetchone()[0]
    assert owner == settings.DATABASE_OWNER_USER
    assert can_select is True


def test_restore_refuses_a_database_that_is_not_empty(tmp_path, scratch_databases):
    seed()
    backup(tmp_path)
    restore(tmp_path, targets=scratch_databases)
    with pytest.raises(BackupError, match="is not empty"):
        restore(tmp_path, targets=scratch_databases)


def test_restore_refuses_a_corrupted_archive(tmp_path, scratch_databases):
    seed()
    backup(tmp_path)
    archive = tmp_path / "default.dump"
    archive.write_bytes(archive.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(BackupError, match="does not match its checksum"):
        restore(tmp_path, targets=scratch_databases)


def test_the_commands_report_what_they_did(tmp_path, scratch_databases, capsys):
    seed()
    call_command("backup", out=str(tmp_path / "b"))
    call_command(
        "restore",
        str(tmp_path / "b"),
        tenant_database=scratch_databases[TENANT_DB],
        marketplace_database=scratch_databases[MARKETPLACE_DB],
    )
    output = capsys.readouterr().out
    assert "backup written to" in output
    assert "restore complete" in output


def _database_owner(name: str) -> str | None:
    with psycopg.connect(admin_url_for("postgres"), autocommit=True) as conn:
        row = conn.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", [name]).fetchone()
    return row[0] if row else None


@pytest.fixture
def missing_database_names(drop_later):
    """Names of databases that do not exist yet; whatever a test creates under them is dropped."""
    names = {alias: f"restore_new_{alias}_{uuid.uuid4().hex[:8]}" for alias in DATABASE_ALIASES}
    yield names
    drop_later(names.values())


def test_restore_command_creates_missing_target_databases_owned_by_the_owner_role(
    tmp_path, missing_database_names, capsys
):
    seed()
    call_command("backup", out=str(tmp_path / "b"))
    call_command(
        "restore",
        str(tmp_path / "b"),
        tenant_database=missing_database_names[TENANT_DB],
        marketplace_database=missing_database_names[MARKETPLACE_DB],
    )
    output = capsys.readouterr().out
    for name in missing_database_names.values():
        assert f"created database {name} owned by {settings.DATABASE_OWNER_USER}" in output
        assert _database_owner(name) == settings.DATABASE_OWNER_USER
    assert "restore complete" in output
    with psycopg.connect(admin_url_for(missing_database_names[TENANT_DB]), autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM tenants").fetchone()[0] == 3


def test_restore_command_says_what_to_run_when_it_may_not_create_the_database(
    tmp_path, missing_database_names, settings
):
    seed()
    call_command("backup", out=str(tmp_path / "b"))
    from urllib.parse import quote

    app = settings.DATABASES[TENANT_DB]
    # A role that may not create databases (the application role) in place of a superuser.
    settings.DATABASE_ADMIN_URL = (
        f"postgres://{app.get('APP_USER') or app['USER']}:{quote(app['PASSWORD'] or '', safe='')}"
        f"@{quote(app['HOST'] or '127.0.0.1', safe='')}:{app['PORT'] or 5432}/postgres"
    )
    target = missing_database_names[TENANT_DB]
    with pytest.raises(CommandError) as raised:
        call_command(
            "restore",
            str(tmp_path / "b"),
            tenant_database=target,
            marketplace_database=missing_database_names[MARKETPLACE_DB],
        )
    message = str(raised.value)
    assert f"CREATE DATABASE {target} OWNER {settings.DATABASE_OWNER_USER};" in message
    assert "Run as a superuser" in message
    assert _database_owner(target) is None


def test_restore_command_explains_an_unreachable_server_and_a_folder_that_is_no_backup(tmp_path, settings):
    with pytest.raises(CommandError, match="is not a backup folder"):
        call_command("restore", str(tmp_path))
    (tmp_path / "b").mkdir()
    seed()
    call_command("backup", out=str(tmp_path / "b"))
    settings.DATABASE_ADMIN_URL = "postgres://postgres:secret@127.0.0.1:1/postgres"
    with pytest.raises(CommandError, match=r"cannot connect with DATABASE_ADMIN_URL \(postgres://postgres:\*\*\*@"):
        call_command(
            "restore",
            str(tmp_path / "b"),
            tenant_database="restore_nowhere_t",
            marketplace_database="restore_nowhere_m",
        )
