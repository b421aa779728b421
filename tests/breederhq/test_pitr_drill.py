"""The point-in-time recovery drill on a cluster of its own (docs/operations/runbook.md#drill).

A small PostgreSQL cluster from the suite's own binaries, archiving its WAL; two databases shaped
like ours (a tenant-side row and a marketplace-side row pointing at it); a base backup; row A, the
moment T, row B; then a restore to T into a new data directory, once with PostgreSQL's own tools
and once with pgBackRest (when installed), and the checks: A in both databases, B in neither, every
marketplace reference to a tenant row resolves (the drill's share of crossdb_check).
"""

from __future__ import annotations

import io
import shutil
import tempfile
import time
from datetime import datetime
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from breederhq.pitr import (
    PitrError,
    RestoredCluster,
    archive_command,
    find_bindir,
    free_port,
    hand_to_server_user,
    parse_target,
    restore_from_archive,
    restore_pgbackrest,
    run_tool,
    take_base_backup,
)
from tests.waiting import wait_until

BINDIR = find_bindir()
pytestmark = pytest.mark.skipif(
    BINDIR is None, reason="no PostgreSQL binaries (pg_config --bindir, /usr/lib/postgresql/*/bin, PG_BIN_DIR)"
)

SCHEMA = {
    "drill_tenant": "CREATE TABLE tenants (id int PRIMARY KEY, name text NOT NULL)",
    "drill_marketplace": "CREATE TABLE buyers (id int PRIMARY KEY, name text NOT NULL, tenant_id int NOT NULL)",
}


class DrillCluster(RestoredCluster):
    """The live side of the drill: a fresh cluster archiving its WAL."""

    def init(self, archive: str) -> None:
        self.data_dir.mkdir()
        hand_to_server_user(self.data_dir)
        run_tool(
            [self.bindir / "initdb", "-D", self.data_dir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]
        )
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write(
                f"archive_mode = on\narchive_command = '{archive.replace(chr(39), chr(39) * 2)}'\n"
                "wal_level = replica\nmax_wal_senders = 2\nfsync = off\nshared_buffers = 16MB\n"
            )
        self.port = free_port()
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
            ]
        )


def wait_archived(cluster: RestoredCluster, segment: str, timeout: float = 30) -> None:
    query = "SELECT last_archived_wal >= %s FROM pg_stat_archiver".replace("%s", f"'{segment}'")
    if wait_until(lambda: cluster.sql("postgres", query) == "t", timeout=timeout):
        return
    raise AssertionError(f"WAL segment {segment} was not archived within {timeout} s\n{cluster.log_tail()}")


def write_rows(cluster: RestoredCluster, row_id: int, label: str) -> None:
    cluster.sql("drill_tenant", f"INSERT INTO tenants VALUES ({row_id}, 'kennel {label}')")
    cluster.sql("drill_marketplace", f"INSERT INTO buyers VALUES ({row_id}, 'buyer {label}', {row_id})")


@pytest.fixture
def workdir():
    # Not pytest's tmp_path: the server's OS user must be able to reach it.
    path = Path(tempfile.mkdtemp(prefix="pitr-drill-"))
    clusters: list[RestoredCluster] = []
    yield path, clusters
    for cluster in clusters:
        try:
            cluster.stop()
        except PitrError:
            pass
    shutil.rmtree(path, ignore_errors=True)


def live_history(workdir, archive: str, take_backup) -> tuple[DrillCluster, datetime]:
    """Start the live cluster, take the base backup, write A, note T, write B, archive it all."""
    path, clusters = workdir
    live = DrillCluster(path / "live", BINDIR)
    clusters.append(live)
    live.init(archive)
    for database, ddl in SCHEMA.items():
        live.sql("postgres", f"CREATE DATABASE {database}")
        live.sql(database, ddl)
    take_backup(live)
    write_rows(live, 1, "A")
    target = parse_target(
        live.sql(
            "postgres", "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
        )
    )
    time.sleep(0.05)  # B commits strictly after T
    write_rows(live, 2, "B")
    segment = live.sql("postgres", "SELECT pg_walfile_name(pg_switch_wal())")
    wait_archived(live, segment)
    return live, target


def assert_restored_to_target(restored: RestoredCluster) -> None:
    restored.start(timeout=60)
    assert restored.sql("postgres", "SELECT pg_is_in_recovery()") == "f"  # promoted: usable
    assert restored.sql("drill_tenant", "SELECT string_agg(name, ',' ORDER BY id) FROM tenants") == "kennel A"
    assert restored.sql("drill_marketplace", "SELECT string_agg(name, ',' ORDER BY id) FROM buyers") == "buyer A"
    # The drill's share of crossdb_check: every buyer's tenant id names a restored tenant row.
    tenant_ids = set(restored.sql("drill_tenant", "SELECT id FROM tenants").split())
    referenced = set(restored.sql("drill_marketplace", "SELECT tenant_id FROM buyers").split())
    assert referenced and referenced <= tenant_ids
    assert any("recovery stopping before commit" in line for line in restored.recovery_summary())


def test_restore_with_postgresql_tools_to_a_moment_between_two_writes(workdir):
    path, clusters = workdir
    archive_dir, backups_dir = path / "wal-archive", path / "base-backups"
    archive_dir.mkdir()
    hand_to_server_user(archive_dir)

    def take_backup(live):
        take_base_backup(
            {"host": str(live.socket_dir), "port": live.port, "user": "postgres"}, backups_dir, bindir=BINDIR
        )

    live, target = live_history(workdir, archive_command(archive_dir), take_backup)
    live.stop()  # as after a disaster: only the backups and the archive are left

    # Through the command, as an operator runs it; the drill's schema is not the application's, so
    # the test runs the drill's share of crossdb_check itself (assert_restored_to_target).
    out = io.StringIO()
    call_command(
        "pitr_restore",
        "--to",
        target.isoformat(),
        "--into",
        str(path / "restored"),
        "--backups",
        str(backups_dir),
        "--wal-archive",
        str(archive_dir),
        "--skip-check",
        stdout=out,
    )
    assert "recovery stopping before commit" in out.getvalue()
    assert f"both databases restored to {target.isoformat()}" in out.getvalue()
    restored = RestoredCluster(path / "restored", BINDIR)
    clusters.append(restored)
    assert_restored_to_target(restored)


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
def test_restore_with_pgbackrest_to_a_moment_between_two_writes(workdir):
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
        run_tool([*pgbackrest, "stanza-create"])
        run_tool([*pgbackrest, "--type=full", "backup"])
        time.sleep(1.1)  # pgBackRest keeps a backup's stop time in whole seconds: T must be past it

    archive = f"pgbackrest --config={config} --stanza=drill archive-push %p"
    live, target = live_history(workdir, archive, take_backup)
    live.stop()

    restored = RestoredCluster(path / "restored", BINDIR)
    clusters.append(restored)
    restore_pgbackrest("drill", target, restored.data_dir, config=str(config))
    assert_restored_to_target(restored)
