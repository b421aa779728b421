"""The compose PostgreSQL's pgBackRest side, run without Docker: the repository's own
docker/postgres/pgbackrest.conf (copied as is) and docker/postgres/backup-schedule.sh, and the
archive_command and server settings parsed from docker-compose.yml, on a throwaway cluster from the
system's PostgreSQL binaries. The schedule script creates the stanza, checks archiving (a WAL
segment pushed by the archive_command and found in the repository) and takes its first backup; a
broken configuration file, script or archive_command fails here.

Only the paths change, through pgBackRest's own environment variables (which take precedence over
the file): the repository, spool, log and lock folders, and the cluster's data folder, socket and
port, which in the image are volumes and the default port."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

from breederhq.pitr import PitrError, find_bindir, free_port, hand_to_server_user, run_tool, server_os_user
from tests.breederhq.test_pitr_drill import DrillCluster
from tests.waiting import wait_until

BASE_DIR = Path(__file__).resolve().parent.parent.parent
BINDIR = find_bindir()
pytestmark = [
    pytest.mark.skipif(BINDIR is None, reason="no PostgreSQL binaries (pg_config --bindir, PG_BIN_DIR)"),
    pytest.mark.skipif(
        shutil.which("pgbackrest") is None, reason="pgbackrest is not installed (Debian package `pgbackrest`)"
    ),
]


def postgres_settings() -> dict[str, str]:
    """The `-c name=value` pairs of the compose postgres service's command."""
    command = yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())["services"]["postgres"]["command"]
    assert command[0] == "postgres"
    pairs = command[1:]
    assert pairs[::2] == ["-c"] * (len(pairs) // 2), command
    return dict(value.split("=", 1) for value in pairs[1::2])


@pytest.fixture
def folder():
    # Not pytest's tmp_path: the server's OS user must be able to reach it.
    path = Path(tempfile.mkdtemp(prefix="compose-pgbackrest-"))
    clusters: list[DrillCluster] = []
    yield path, clusters
    for cluster in clusters:
        try:
            cluster.stop()
        except PitrError:
            pass
    shutil.rmtree(path, ignore_errors=True)


def test_the_schedule_script_and_config_back_up_a_cluster_archiving_with_the_compose_archive_command(folder):
    path, clusters = folder
    settings = postgres_settings()
    assert "--config" not in settings["archive_command"]  # the image's /etc/pgbackrest/pgbackrest.conf
    stanza = settings["archive_command"].split("--stanza=")[1].split()[0]

    config = path / "pgbackrest.conf"
    shutil.copyfile(BASE_DIR / "docker" / "postgres" / "pgbackrest.conf", config)
    script = path / "breederhq-backup-schedule"
    shutil.copyfile(BASE_DIR / "docker" / "postgres" / "backup-schedule.sh", script)
    script.chmod(0o755)
    folders = {name: path / name for name in ("repo", "spool", "log", "lock")}
    for name in folders.values():
        name.mkdir()
    cluster = DrillCluster(path / "data", BINDIR)
    clusters.append(cluster)
    cluster.port = free_port()
    environment = {
        "PGBACKREST_CONFIG": str(config),
        "PGBACKREST_REPO1_PATH": str(folders["repo"]),
        "PGBACKREST_SPOOL_PATH": str(folders["spool"]),
        "PGBACKREST_LOG_PATH": str(folders["log"]),
        "PGBACKREST_LOCK_PATH": str(folders["lock"]),
        "PGBACKREST_PG1_PATH": str(cluster.data_dir),
        "PGBACKREST_PG1_SOCKET_PATH": str(cluster.socket_dir),
        "PGBACKREST_PG1_PORT": str(cluster.port),
        # The script's pg_isready and the system binaries the image has on its PATH.
        "PGHOST": str(cluster.socket_dir),
        "PGPORT": str(cluster.port),
        "PATH": f"{BINDIR}:{os.environ.get('PATH', '/usr/bin:/bin')}",
    }
    hand_to_server_user(path)
    cluster.init(settings.pop("archive_command"), settings=settings, env=environment)
    hand_to_server_user(path)

    output = path / "schedule.out"
    with output.open("w") as out:
        schedule = subprocess.Popen(
            [str(script)],
            env={**os.environ, **environment},
            stdout=out,
            stderr=subprocess.STDOUT,
            user=server_os_user(),
            start_new_session=True,  # its own process group: the script and its `sleep` end together
        )
    try:
        # The script runs until stopped: wait for its first `pgbackrest info` after the backup.
        assert wait_until(lambda: "full backup:" in output.read_text() or schedule.poll() is not None, timeout=240), (
            output.read_text()
        )
        assert schedule.poll() is None, f"the schedule script exited {schedule.returncode}:\n{output.read_text()}"
    finally:
        if schedule.poll() is None:
            os.killpg(schedule.pid, signal.SIGTERM)
        schedule.wait(timeout=30)

    log = output.read_text()
    assert "stanza-create command end: completed successfully" in log, log
    assert "check command end: completed successfully" in log, log
    assert f"stanza: {stanza}\n    status: ok" in log, log
    assert "FAILED" not in log, log
    # archive-push through the compose archive_command, as the server runs it.
    archived, failed = cluster.sql("postgres", "SELECT archived_count, failed_count FROM pg_stat_archiver").split("|")
    assert int(archived) >= 1 and int(failed) == 0, cluster.log_tail()
    info = run_tool(["pgbackrest", f"--stanza={stanza}", "info"], env={**os.environ, **environment}).stdout
    assert "wal archive min/max" in info and "full backup:" in info, info
