"""The point-in-time recovery drill on a cluster of its own (docs/operations/runbook.md#drill).

A small PostgreSQL cluster from the suite's own binaries, archiving its WAL, holding both databases
with the application's schema (the session's migrated test databases copied in with pg_dump, so the
owner and application roles, grants and row-level security come along); a base backup; then, as
the application role through the ORM, link A (a tenant-side invoice and the marketplace row that
points at it), the moment T, link B. A restore to T into a new data directory, once with
PostgreSQL's own tools and once with pgBackRest (when installed), must hold A and not B, and the
application's own `crossdb_check` must pass on the restored pair. A pair restored to two different
moments (the tenant database from before A, the marketplace database from T) must fail it: the
marketplace row points at an invoice the tenant database never got.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections

from breederhq.databases import DATABASE_ALIASES, MARKETPLACE_DB, TENANT_DB
from breederhq.db_roles import ensure_roles
from breederhq.pitr import (
    PitrError,
    RestoredCluster,
    archive_command,
    free_port,
    hand_to_server_user,
    parse_target,
    restore_from_archive,
    run_tool,
    take_base_backup,
)
from tests.crossdb_app.factories import InvoiceFactory, TransactionFactory
from tests.pg_binaries import find_bindir, major_version
from tests.scratch import scratch_dir
from tests.waiting import wait_until

#: What the drill runs: its clusters' server and tools, and the copy of the test databases' schema.
DRILL_BINARIES = ("initdb", "pg_ctl", "pg_basebackup", "postgres", "psql", "pg_dump", "pg_restore")
pytestmark = pytest.mark.skipif(
    find_bindir(needed=DRILL_BINARIES) is None,
    reason="no PostgreSQL binaries (pg_config --bindir, /usr/lib/postgresql/*/bin, the pgserver package)",
)

BROKEN_LINK = {"dangling_reference", "reference_to_hard_deleted_row"}


class DrillCluster(RestoredCluster):
    """The live side of the drill: a fresh cluster archiving its WAL."""

    def init(self, archive: str, *, settings: dict[str, str] | None = None, env: dict[str, str] | None = None) -> None:
        """initdb, `archive_command` = `archive` and any other `settings` (postgresql.conf), and
        start it on a private socket (port: `self.port` when set), with `env` added to the server's
        environment (the archive_command's)."""
        self.data_dir.mkdir()
        hand_to_server_user(self.data_dir)
        run_tool(
            [self.bindir / "initdb", "-D", self.data_dir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]
        )
        settings = {
            "archive_mode": "on",
            "wal_level": "replica",
            "max_wal_senders": "2",
            "fsync": "off",
            "shared_buffers": "16MB",
            **(settings or {}),
            "archive_command": archive,
        }
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{name} = '{value.replace(chr(39), chr(39) * 2)}'\n" for name, value in settings.items())
        self.port = self.port or free_port()
        self.socket_dir.mkdir()
        hand_to_server_user(self.data_dir)
        run_tool(
            [
                self.bindir / "pg_ctl",
                "-D",
                self.data_dir,
                "-l",
                self.log_file,
                "-w",
                "-t",
                "60",
                "-o",
                f"-p {self.port} -c listen_addresses='' -k {self.socket_dir}",
                "start",
            ],
            env={**os.environ, **(env or {})},
        )


def wait_archived(cluster: RestoredCluster, segment: str, timeout: float = 30) -> None:
    query = "SELECT last_archived_wal >= %s FROM pg_stat_archiver".replace("%s", f"'{segment}'")
    if wait_until(lambda: cluster.sql("postgres", query) == "t", timeout=timeout):
        return
    raise AssertionError(f"WAL segment {segment} was not archived within {timeout} s\n{cluster.log_tail()}")


def copy_application_schema(cluster: RestoredCluster, dump_dir: Path) -> None:
    """Both databases as the migrations left them (the session's test databases, with their
    migration records): the roles first (roles are cluster-wide), then each database, owned by the
    owner role, restored from a pg_dump of the test database of the same name.

    pg_dump is a client of the suite's own server and runs as this process's user, who reaches that
    server as every test does; only the drill's own clusters are the server OS user's (run_tool). That
    user may not reach the suite's server: the embedded one (config/launcher.py) has its socket in its
    data directory, which PostgreSQL keeps private to the user it runs as."""
    with (
        psycopg.connect(
            host=str(cluster.socket_dir), port=cluster.port, user="postgres", dbname="postgres", autocommit=True
        ) as conn,
        conn.cursor() as cursor,
    ):
        ensure_roles(cursor, log=lambda message: None)
    for alias in DATABASE_ALIASES:
        source = connections[alias].settings_dict
        name, dump = source["NAME"], dump_dir / f"{alias}.dump"
        cluster.sql("postgres", f'CREATE DATABASE "{name}" OWNER "{settings.DATABASE_OWNER_USER}"')
        dumped = subprocess.run(
            [
                cluster.bindir / "pg_dump",
                "-h",
                source["HOST"] or "127.0.0.1",
                "-p",
                str(source["PORT"] or 5432),
                "-U",
                settings.DATABASE_OWNER_USER,
                "-Fc",
                "--enable-row-security",  # the owner is subject to the policies too (FORCE)
                "-f",
                dump,
                name,
            ],
            env={**os.environ, "PGPASSWORD": settings.DATABASE_OWNER_PASSWORD},
            capture_output=True,
            text=True,
        )
        assert dumped.returncode == 0, f"pg_dump of {name} failed: {dumped.stderr}"
        hand_to_server_user(dump)  # pg_restore, below, runs as the server's user
        run_tool(
            [cluster.bindir / "pg_restore", "--exit-on-error", "-h", cluster.socket_dir, "-p", str(cluster.port)]
            + ["-U", "postgres", "-d", name, dump]
        )


@contextmanager
def orm_on(cluster: RestoredCluster, *, marketplace: RestoredCluster | None = None):
    """Both connections on `cluster` (its socket, as the application role), or the marketplace one
    on `marketplace` when given, then back."""
    saved = {}
    for alias in DATABASE_ALIASES:
        on = marketplace if alias == MARKETPLACE_DB and marketplace is not None else cluster
        connections[alias].close()
        saved[alias] = dict(connections[alias].settings_dict)
        connections[alias].settings_dict.update(HOST=str(on.socket_dir), PORT=str(on.port), PASSWORD="")
    try:
        yield
    finally:
        for alias in DATABASE_ALIASES:
            connections[alias].close()
            connections[alias].settings_dict.clear()
            connections[alias].settings_dict.update(saved[alias])


def write_link(cluster: RestoredCluster) -> tuple[int, int]:
    """A tenant-side invoice and the marketplace transaction pointing at it (registered, as the
    application writes it). Returns (invoice id, transaction id)."""
    with orm_on(cluster):
        invoice = InvoiceFactory()
        transaction = TransactionFactory(invoice_type="tenant", invoice_id=invoice.pk)
    return invoice.pk, transaction.pk


def now_on(cluster: RestoredCluster) -> datetime:
    return parse_target(
        cluster.sql(
            "postgres", "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
        )
    )


@pytest.fixture
def app_databases(django_db_setup, django_db_blocker):
    """The session's test databases, created and migrated (the drill copies their schema), and
    database access without a test transaction around it: `orm_on` closes and repoints the
    connections, which a transaction could not survive. Every write of the drill goes to its own
    clusters, never to the test databases, so there is nothing to flush from them afterwards (a
    `transaction=True` mark would flush both, about 9 s of the drill)."""
    with django_db_blocker.unblock():
        yield


@pytest.fixture
def bindir(app_databases, monkeypatch) -> Path:
    """The binaries of the test server's major version (pgserver's on the embedded default, often
    newer than the system's), else newer ones: the drill's clusters take a pg_dump of the test
    databases, which needs a pg_dump and a server at least as new. PG_BIN_DIR names them to
    `pitr_restore` too."""
    major = connections[TENANT_DB].pg_version // 10000
    found = find_bindir(major, needed=DRILL_BINARIES)
    if found is None or (major_version(found) or 0) < major:
        pytest.skip(f"no PostgreSQL binaries of version {major} (the test server's) or newer: found {found}")
    monkeypatch.setenv("PG_BIN_DIR", found)
    return Path(found)


@pytest.fixture
def workdir():
    # Not pytest's tmp_path: the server's OS user must be able to reach it (and in memory when there
    # is room: tests/scratch.py).
    path = scratch_dir("pitr-drill-")
    clusters: list[RestoredCluster] = []
    yield path, clusters
    for cluster in clusters:
        try:
            cluster.stop()
        except PitrError:
            pass
    shutil.rmtree(path, ignore_errors=True)


@dataclass
class History:
    live: DrillCluster
    before_a: datetime  # after the base backup, before link A
    target: datetime  # T: after A, before B
    a: tuple[int, int]
    b: tuple[int, int]


def live_history(workdir, bindir: Path, archive: str, take_backup) -> History:
    """Start the live cluster with the application's databases, take the base backup, note a
    moment, write link A, note T, write link B, archive it all."""
    path, clusters = workdir
    live = DrillCluster(path / "live", bindir)
    clusters.append(live)
    live.init(archive)
    dumps = path / "dumps"
    dumps.mkdir()
    hand_to_server_user(dumps)
    copy_application_schema(live, dumps)
    take_backup(live)
    before_a = now_on(live)
    time.sleep(0.05)  # A commits strictly after it
    a = write_link(live)
    target = now_on(live)
    time.sleep(0.05)  # B commits strictly after T
    b = write_link(live)
    segment = live.sql("postgres", "SELECT pg_walfile_name(pg_switch_wal())")
    wait_archived(live, segment)
    return History(live, before_a, target, a, b)


def assert_restored_to_target(restored: RestoredCluster, history: History) -> None:
    """A is there and B is not, in both databases, and recovery stopped at a commit."""
    assert restored.sql("postgres", "SELECT pg_is_in_recovery()") == "f"  # promoted: usable
    tenant, marketplace = (connections[alias].settings_dict["NAME"] for alias in DATABASE_ALIASES)
    invoice_a, transaction_a = history.a  # and nothing of B
    assert restored.sql(tenant, "SELECT string_agg(id::text, ',' ORDER BY id) FROM crossdb_test_invoices") == str(
        invoice_a
    )
    assert (
        restored.sql(
            marketplace,
            "SELECT string_agg(id::text || ':' || invoice_id, ',' ORDER BY id) FROM crossdb_test_transactions",
        )
        == f"{transaction_a}:{invoice_a}"
    )
    assert any("recovery stopping before commit" in line for line in restored.recovery_summary())


def assert_crossdb_check_passes(output: str) -> None:
    """crossdb_check's text report on the restored pair: the link's tables checked, no problem."""
    report = output.split("crossdb_check on the restored databases:")[1].split("both databases restored")[0]
    assert "marketplace:crossdb_test_transactions 1" in report, output  # link A, and not B
    assert "marketplace:cross_db_references 1" in report, output
    assert report.splitlines()[-1] == "OK", output


def test_restore_with_postgresql_tools_to_a_moment_between_two_writes(workdir, bindir):
    path, clusters = workdir
    archive_dir, backups_dir = path / "wal-archive", path / "base-backups"
    archive_dir.mkdir()
    hand_to_server_user(archive_dir)

    def take_backup(live):
        take_base_backup(
            {"host": str(live.socket_dir), "port": live.port, "user": "postgres"}, backups_dir, bindir=bindir
        )

    history = live_history(workdir, bindir, archive_command(archive_dir), take_backup)
    history.live.stop()  # as after a disaster: only the backups and the archive are left

    # Through the command, as an operator runs it: restore, replay, promote, crossdb_check.
    out = io.StringIO()
    call_command(
        "pitr_restore",
        "--to",
        history.target.isoformat(),
        "--into",
        str(path / "restored"),
        "--backups",
        str(backups_dir),
        "--wal-archive",
        str(archive_dir),
        "--keep-running",
        stdout=out,
    )
    restored = RestoredCluster(path / "restored", bindir)
    clusters.append(restored)
    assert "recovery stopping before commit" in out.getvalue()
    assert_crossdb_check_passes(out.getvalue())
    assert f"both databases restored to {history.target.isoformat()}" in out.getvalue()
    restored.port = int(out.getvalue().split(", port ")[1].split()[0])
    assert_restored_to_target(restored, history)

    # An unsound pair: the tenant database from before link A, the marketplace database from T.
    # The marketplace row of A points at an invoice the tenant database never got, and the check
    # says so (the invoice id counts as handed out and deleted when the tenant side's sequence, which
    # PostgreSQL logs ahead of the rows, was replayed past it: either way a broken link is named).
    early = RestoredCluster(path / "restored-early", bindir)
    clusters.append(early)
    restore_from_archive(backups_dir, archive_dir, history.before_a, early.data_dir)
    early.start(timeout=60)
    assert early.sql(connections[TENANT_DB].settings_dict["NAME"], "SELECT count(*) FROM crossdb_test_invoices") == "0"
    # The check in this process, its connections on the two copies (the command above already ran it
    # in a process of its own, from the URLs, as an operator does: a second start of the application
    # would cost seconds and prove nothing more).
    report = io.StringIO()
    with orm_on(early, marketplace=restored), pytest.raises(CommandError) as refused:
        call_command("crossdb_check", "--json", stdout=report)
    assert refused.value.returncode == 1, refused.value
    invoice_a, transaction_a = history.a
    problems = json.loads(report.getvalue())["problems"]
    assert [(p["kind"] in BROKEN_LINK, p["table"], p["id"], p["value"]) for p in problems] == [
        (True, "crossdb_test_transactions", transaction_a, invoice_a)
    ], problems


def test_pitr_restore_refuses_a_time_without_zone_and_a_missing_source(tmp_path):
    with pytest.raises(CommandError, match="no time zone"):
        call_command("pitr_restore", "--to", "2026-12-06T12:00:00", "--into", str(tmp_path / "x"), "--stanza", "s")
    with pytest.raises(CommandError, match="--backups and --wal-archive"):
        call_command("pitr_restore", "--to", "2026-12-06T12:00:00Z", "--into", str(tmp_path / "x"))
    assert not (tmp_path / "x").exists()


def test_restore_refuses_a_target_before_every_base_backup(workdir):
    path, _ = workdir
    backups_dir = path / "base-backups"
    (backups_dir / "20260101T000000Z").mkdir(parents=True)
    (backups_dir / "20260101T000000Z" / "backup_label").write_text("START TIME: 2026-01-01 00:00:00 UTC\n")
    with pytest.raises(PitrError, match="no base backup .* started before"):
        restore_from_archive(backups_dir, path / "archive", parse_target("2025-12-31T23:00:00Z"), path / "into")


@pytest.mark.skipif(
    shutil.which("pgbackrest") is None, reason="pgbackrest is not installed (Debian package `pgbackrest`)"
)
def test_restore_with_pgbackrest_to_a_moment_between_two_writes(workdir, bindir):
    path, clusters = workdir
    repo, spool = path / "pgbackrest-repo", path / "pgbackrest-run"
    for folder in (repo, spool):
        folder.mkdir()
        hand_to_server_user(folder)
    config = path / "pgbackrest.conf"
    live_dir = path / "live"
    config.write_text(
        "[global]\n"
        f"repo1-path={repo}\nrepo1-retention-full=2\nlock-path={spool}\nlog-path={spool}\n"
        "log-level-console=warn\nlog-level-file=off\nstart-fast=y\ncompress-type=none\n"
        f"[drill]\npg1-path={live_dir}\npg1-socket-path={live_dir / 'socket'}\npg1-user=postgres\n"
    )
    hand_to_server_user(config)
    pgbackrest = ["pgbackrest", f"--config={config}", "--stanza=drill"]

    def take_backup(live):
        (config.write_text(config.read_text() + f"pg1-port={live.port}\n"))
        try:
            run_tool([*pgbackrest, "stanza-create"])
        except PitrError as exc:
            if "VersionNotSupportedError" not in str(exc):
                raise
            # The embedded default's server (pgserver's) can be newer than the pgBackRest installed.
            version = run_tool(["pgbackrest", "version"]).stdout.strip()
            pytest.skip(
                f"{version} does not support PostgreSQL {major_version(str(bindir))}, the test server's version"
            )
        run_tool([*pgbackrest, "--type=full", "backup"])
        time.sleep(1.1)  # pgBackRest keeps a backup's stop time in whole seconds: T must be past it

    archive = f"pgbackrest --config={config} --stanza=drill archive-push %p"
    history = live_history(workdir, bindir, archive, take_backup)
    history.live.stop()

    out = io.StringIO()
    call_command(
        "pitr_restore",
        "--to",
        history.target.isoformat(),
        "--into",
        str(path / "restored"),
        "--stanza",
        "drill",
        "--pgbackrest-config",
        str(config),
        "--keep-running",
        stdout=out,
    )
    restored = RestoredCluster(path / "restored", bindir)
    clusters.append(restored)
    assert_crossdb_check_passes(out.getvalue())
    restored.port = int(out.getvalue().split(", port ")[1].split()[0])
    assert_restored_to_target(restored, history)
