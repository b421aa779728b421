"""Point-in-time recovery of the PostgreSQL cluster that holds both databases
(docs/decisions/0008-point-in-time-recovery.md, docs/operations/runbook.md#point-in-time-recovery).

Both databases live in one cluster, so one cluster restored to one moment gives both databases as
they were at that moment. Two ways to get the base backup and the WAL:

* pgBackRest (production, `docker/postgres/`): `restore_pgbackrest` runs `pgbackrest restore
  --type=time` into a new data directory;
* PostgreSQL's own tools (any other server): `archive_command` copies each WAL segment into a
  folder, `take_base_backup` runs `pg_basebackup` into `<backups>/<UTC timestamp>/`, and
  `restore_from_archive` copies the newest base backup started before the target and sets
  `restore_command` and `recovery_target_time`.

Either way `RestoredCluster` then starts the copy on a private Unix socket (never on a TCP port,
never archiving into the live archive), waits until recovery has reached the target and the copy
is promoted, and gives the URLs that `manage.py pitr_restore` runs `crossdb_check` against.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import tarfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from breederhq.databases import MARKETPLACE_DB, TENANT_DB

REQUIRED_BINARIES = ("initdb", "pg_ctl", "pg_basebackup", "postgres")
#: A restored copy uses its own authentication file, written beside it: only the Unix socket, in a
#: folder only the server's user (and root) can open, so `trust` lets the operator's check in
#: without the application passwords and nobody else at all.
RESTORE_HBA = "pitr_hba.conf"
#: The variables the settings read each database's URL from, by alias.
URL_VARS = {TENANT_DB: "TENANT_DATABASE_URL", MARKETPLACE_DB: "MARKETPLACE_DATABASE_URL"}


class PitrError(RuntimeError):
    pass


def system_bindirs() -> list[Path]:
    """The folders of PostgreSQL binaries installed on this host: `pg_config --bindir`, then
    /usr/lib/postgresql/*/bin, newest first (whatever they hold)."""
    found = []
    if shutil.which("pg_config"):
        result = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        if result.returncode == 0:
            found.append(Path(result.stdout.strip()))
    found += sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(re.sub(r"\D", "", p.parent.name) or 0),
        reverse=True,
    )
    return list(dict.fromkeys(found))  # pg_config names one of the others, usually


def find_bindir() -> Path | None:
    """The folder with initdb, pg_ctl, pg_basebackup and postgres: PG_BIN_DIR, then
    `system_bindirs()`. None when there is none."""
    candidates = [Path(os.environ["PG_BIN_DIR"])] if os.environ.get("PG_BIN_DIR") else []
    candidates += system_bindirs()
    for candidate in candidates:
        if all((candidate / name).is_file() for name in REQUIRED_BINARIES):
            return candidate
    return None


def server_os_user() -> str | None:
    """PostgreSQL refuses to run as root: as root, the server runs as PITR_OS_USER (default
    `postgres`, the Debian packages' user). None when not root."""
    if os.geteuid() != 0:
        return None
    name = os.environ.get("PITR_OS_USER", "postgres")
    try:
        pwd.getpwnam(name)
    except KeyError as exc:
        raise PitrError(
            f"running as root and there is no OS user {name!r} to run PostgreSQL as (set PITR_OS_USER)"
        ) from exc
    return name


def hand_to_server_user(path: Path) -> None:
    """Make `path` (recursively) the server user's, and its parents traversable."""
    user = server_os_user()
    if user is None:
        return
    entry = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        for name in (root, *(os.path.join(root, d) for d in dirs), *(os.path.join(root, f) for f in files)):
            os.chown(name, entry.pw_uid, entry.pw_gid, follow_symlinks=False)
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if mode & 0o011 != 0o011:
            os.chmod(parent, mode | 0o011)


def run_tool(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run a PostgreSQL (or pgBackRest) program as the server's user; raise PitrError on failure."""
    result = subprocess.run([str(c) for c in command], capture_output=True, text=True, user=server_os_user(), **kwargs)
    if result.returncode != 0:
        raise PitrError(
            f"{Path(str(command[0])).name} failed ({result.returncode}): "
            f"{(result.stderr or result.stdout).strip()[-2000:]}"
        )
    return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def parse_target(value: str) -> datetime:
    """An ISO 8601 moment with a time zone ("2026-12-06T12:00:00Z"); a naive one is refused."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise PitrError(f"not an ISO 8601 time: {value!r} (example: 2026-12-06T12:00:00Z)") from exc
    if moment.tzinfo is None:
        raise PitrError(f"{value!r} has no time zone; give one, e.g. 2026-12-06T12:00:00Z")
    return moment.astimezone(UTC)


def _pg_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00")


# --- PostgreSQL's own tools: WAL archive folder and pg_basebackup --------------------------------


def archive_command(archive_dir: Path) -> str:
    """An archive_command that copies a segment into `archive_dir` once: it refuses to overwrite a
    segment already archived (PostgreSQL then retries and the failure shows in
    pg_stat_archiver), and writes through a temporary name so a half-copied file is never taken
    for a segment."""
    target = f"{archive_dir}/%f"
    return f"test ! -f '{target}' && cp %p '{target}.part' && mv '{target}.part' '{target}'"


def take_base_backup(connection: dict, backups_dir: Path, *, bindir: Path | None = None) -> Path:
    """`pg_basebackup` of the whole cluster (both databases) into `<backups_dir>/<UTC timestamp>/`.
    `connection`: host (a socket folder or a host name), port, user (a superuser or a role with
    REPLICATION), password (optional). The WAL it needs comes from the archive, so the archive must
    be on."""
    bindir = bindir or find_bindir()
    if bindir is None:
        raise PitrError("no PostgreSQL binaries found (set PG_BIN_DIR)")
    backups_dir.mkdir(parents=True, exist_ok=True)
    hand_to_server_user(backups_dir)
    target = backups_dir / datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    run_tool(
        [
            bindir / "pg_basebackup",
            "-h",
            connection["host"],
            "-p",
            str(connection["port"]),
            "-U",
            connection["user"],
            "-D",
            target,
            "--checkpoint=fast",
            "--wal-method=none",
            "--no-password",
        ],
        env={**os.environ, **({"PGPASSWORD": connection["password"]} if connection.get("password") else {})},
    )
    return target


def backup_start_time(backup: Path) -> datetime:
    """The START TIME of a pg_basebackup folder (its backup_label), or of a tar-format one."""
    label = backup / "backup_label"
    if label.is_file():
        text = label.read_text()
    elif (backup / "base.tar").is_file() or (backup / "base.tar.gz").is_file():
        tar_path = backup / ("base.tar" if (backup / "base.tar").is_file() else "base.tar.gz")
        with tarfile.open(tar_path) as archive:
            text = archive.extractfile("backup_label").read().decode()
    else:
        raise PitrError(f"{backup} is not a pg_basebackup folder (no backup_label, no base.tar)")
    match = re.search(r"^START TIME: (.+)$", text, re.MULTILINE)
    return datetime.strptime(match.group(1).strip(), "%Y-%m-%d %H:%M:%S %Z").replace(tzinfo=UTC)


def choose_base_backup(backups_dir: Path, target: datetime) -> Path:
    """The newest base backup in `backups_dir` that started before `target` (recovery replays
    forward only)."""
    found = []
    for child in sorted(backups_dir.iterdir()) if backups_dir.is_dir() else []:
        try:
            found.append((backup_start_time(child), child))
        except PitrError:
            continue
    usable = [(started, path) for started, path in found if started < target]
    if not usable:
        oldest = min((s for s, _ in found), default=None)
        raise PitrError(
            f"no base backup in {backups_dir} started before {target.isoformat()}"
            + (f" (the oldest started {oldest.isoformat()})" if oldest else "")
        )
    return max(usable)[1]


def restore_from_archive(backups_dir: Path, archive_dir: Path, target: datetime, into: Path) -> Path:
    """Prepare `into` to recover to `target`: the base backup copied, recovery.signal, and the
    recovery settings. Returns the base backup used. `into` must not exist or be empty."""
    base = choose_base_backup(backups_dir, target)
    _require_empty(into)
    if (base / "backup_label").is_file():
        shutil.copytree(base, into, dirs_exist_ok=True)
    else:
        into.mkdir(parents=True, exist_ok=True)
        for name in ("base.tar", "base.tar.gz"):
            if (base / name).is_file():
                with tarfile.open(base / name) as archive:
                    archive.extractall(into, filter="tar")
    for leftover in ("postmaster.pid", "postmaster.opts", "standby.signal"):
        (into / leftover).unlink(missing_ok=True)
    _write_recovery_settings(
        into,
        {
            "restore_command": f"cp '{archive_dir}/%f' '%p'",
            "recovery_target_time": _pg_time(target),
            "recovery_target_action": "promote",
        },
    )
    return base


# --- pgBackRest ---------------------------------------------------------------------------------


def restore_pgbackrest(
    stanza: str, target: datetime, into: Path, *, config: str | None = None, extra: tuple[str, ...] = ()
) -> None:
    """`pgbackrest restore --type=time` of `stanza` into `into` (a new data directory); it picks
    the backup itself and writes restore_command and the recovery target. Archiving is turned off
    in the copy, so it never pushes into the live repository."""
    if shutil.which("pgbackrest") is None:
        raise PitrError("pgbackrest is not installed here (Debian package `pgbackrest`)")
    _require_empty(into)
    into.mkdir(parents=True, exist_ok=True)
    hand_to_server_user(into)
    command = [
        "pgbackrest",
        f"--stanza={stanza}",
        f"--pg1-path={into}",
        "--type=time",
        f"--target={_pg_time(target)}",
        "--target-action=promote",
        "--archive-mode=off",
        *extra,
    ]
    if config:
        command.insert(1, f"--config={config}")
    run_tool([*command, "restore"])


# --- The restored copy ----------------------------------------------------------------------------


def _require_empty(into: Path) -> None:
    if into.exists() and any(into.iterdir()):
        raise PitrError(f"{into} is not empty; restore into a new folder")


def _write_recovery_settings(into: Path, settings: dict[str, str]) -> None:
    lines = "".join(f"{name} = '{value.replace(chr(39), chr(39) * 2)}'\n" for name, value in settings.items())
    with (into / "postgresql.auto.conf").open("a") as handle:
        handle.write("# point-in-time recovery (breederhq/pitr.py)\n" + lines)
    (into / "recovery.signal").touch()


@dataclass
class RestoredCluster:
    """A restored data directory started on a private socket, for checking before it is used."""

    data_dir: Path
    bindir: Path
    port: int = 0
    #: A superuser of the restored cluster (the live cluster's, which the copy has).
    superuser: str = "postgres"

    @property
    def socket_dir(self) -> Path:
        return self.data_dir / "socket"

    def start(self, *, timeout: int = 300) -> None:
        """Start the copy and wait until recovery has reached its target and the copy is promoted
        (it then accepts writes). Raises PitrError with the server log's tail when it does not."""
        self.port = self.port or free_port()
        self.socket_dir.mkdir(exist_ok=True)
        os.chmod(self.data_dir, 0o700)
        if not (self.data_dir / "postgresql.conf").is_file():
            # A Debian cluster keeps its configuration outside the data directory.
            (self.data_dir / "postgresql.conf").write_text("# written by breederhq/pitr.py\n")
        (self.data_dir / RESTORE_HBA).write_text("local all all trust\n")
        hand_to_server_user(self.data_dir)
        os.chmod(self.socket_dir, 0o700)
        options = (
            f"-p {self.port} -c listen_addresses='' -k {self.socket_dir} -c archive_mode=off "
            f"-c hba_file={self.data_dir / RESTORE_HBA} -c logging_collector=off"
        )
        try:
            run_tool(
                [
                    self.bindir / "pg_ctl",
                    "-D",
                    self.data_dir,
                    "-l",
                    self.log_file,
                    "-o",
                    options,
                    "-w",
                    "-t",
                    str(timeout),
                    "start",
                ]
            )
        except PitrError as exc:
            raise PitrError(f"the restored cluster did not start: {exc}\n{self.log_tail()}") from exc
        deadline = time.monotonic() + timeout
        while self.sql("postgres", "SELECT pg_is_in_recovery()") == "t":
            if time.monotonic() > deadline:
                raise PitrError(f"recovery did not finish within {timeout} s\n{self.log_tail()}")
            time.sleep(0.2)

    @property
    def log_file(self) -> Path:
        return self.data_dir / "pitr-restore.log"

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text().splitlines()[-lines:])
        except OSError:
            return ""

    def recovery_summary(self) -> list[str]:
        """The server log's lines about where recovery stopped."""
        try:
            text = self.log_file.read_text()
        except OSError:
            return []
        return [
            line.split("LOG:", 1)[-1].strip()
            for line in text.splitlines()
            if "recovery stopping" in line
            or "last completed transaction" in line
            or "selected new timeline" in line
            or "consistent recovery state" in line
        ]

    def sql(self, database: str, query: str) -> str:
        result = run_tool(
            [
                self.bindir / "psql",
                "-X",
                "-A",
                "-t",
                "-h",
                self.socket_dir,
                "-p",
                str(self.port),
                "-U",
                self.superuser,
                "-d",
                database,
                "-c",
                query,
            ]
        )
        return result.stdout.strip()

    def url(self, user: str, database: str, password: str | None = None) -> str:
        credentials = f"{quote(user, safe='')}:{quote(password, safe='')}" if password else quote(user, safe="")
        return f"postgres://{credentials}@{quote(str(self.socket_dir), safe='')}:{self.port}/{database}"

    def stop(self) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            run_tool([self.bindir / "pg_ctl", "-D", self.data_dir, "-m", "fast", "-w", "stop"])


def crossdb_check_process(urls: dict[str, str], *, base_dir: Path, args: tuple[str, ...] = ()):
    """`manage.py crossdb_check` in its own process, each database's URL replaced by `urls`
    (alias -> URL): the application's own check, its settings and roles, against restored copies.
    Returns the CompletedProcess (exit 1: problems found)."""
    import sys

    environment = {**os.environ, **{URL_VARS[alias]: url for alias, url in urls.items()}}
    return subprocess.run(
        [sys.executable, str(Path(base_dir) / "manage.py"), "crossdb_check", *args],
        env=environment,
        capture_output=True,
        text=True,
        cwd=base_dir,
    )
