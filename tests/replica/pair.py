"""A real PostgreSQL primary and hot standby (streaming replication) for the replica tests.

The shared test server may refuse replication connections, so the harness starts its own small pair
from the same PostgreSQL binaries the suite uses: `initdb` into a temporary folder (in memory when
there is room, tests/scratch.py; a free loopback port, wal_level=replica, a replication line in
pg_hba.conf), the marketplace test database's schema copied over (`pg_dump --schema-only`), then
`pg_basebackup -R` with an immediate checkpoint for a standby on another free port. Nobody recovers
these clusters after a crash, so they run without fsync and full-page writes.
Run as root (containers), the servers run as an unprivileged system user, as PostgreSQL requires.

The binaries: `find_bindir()` (tests/pg_binaries.py), of the major version of the server the suite
runs on when there are such.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
from pathlib import Path

import psycopg

from tests.scratch import scratch_dir
from tests.waiting import wait_until

APP_ROLE = "breederhq_app"
DATABASE = "breederhq_marketplace"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresPair:
    """A primary and its standby on loopback ports, data under one temporary folder."""

    def __init__(self, bindir: str):
        self.bindir = bindir
        # PostgreSQL refuses to run as root: then as the `postgres` system user (or pgserver's).
        self.user = None
        if os.geteuid() == 0:
            for name in ("postgres", "pgserver"):
                try:
                    self.user = pwd.getpwnam(name)
                    break
                except KeyError:
                    continue
            else:  # as the pgserver package does in a bare container
                subprocess.run(["useradd", "-s", "/bin/sh", "pgserver"], check=True, capture_output=True)
                self.user = pwd.getpwnam("pgserver")
        self.root = scratch_dir("bhq-replica-")  # in memory when there is room
        self.primary_dir, self.standby_dir = self.root / "primary", self.root / "standby"
        self.primary_port, self.standby_port = _free_port(), _free_port()
        if self.user is not None:
            os.chown(self.root, self.user.pw_uid, self.user.pw_gid)

    def _run(self, name: str, *args: str, input: str | None = None) -> str:
        result = subprocess.run(
            [os.path.join(self.bindir, name), *args],
            input=input,
            capture_output=True,
            text=True,
            user=self.user.pw_uid if self.user else None,
            group=self.user.pw_gid if self.user else None,
            cwd=self.root,
            env={**os.environ, "PGCONNECT_TIMEOUT": "5", "LC_ALL": "C"},
        )
        if result.returncode:
            raise RuntimeError(f"{name} {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def psql(self, sql: str, *, port: int | None = None, database: str = DATABASE) -> str:
        return self._run(
            "psql",
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-p",
            str(port or self.primary_port),
            "-U",
            "postgres",
            "-d",
            database,
            "-At",
            input=sql,
        )

    def value(self, sql: str, *, port: int | None = None) -> object:
        """The first column of the first row of one statement (None without a row), as the
        superuser on the marketplace database: a connection, not a psql process, for the queries
        the tests repeat (polling for replay above all)."""
        with psycopg.connect(
            host="127.0.0.1",
            port=port or self.primary_port,
            user="postgres",
            dbname=DATABASE,
            connect_timeout=5,
            autocommit=True,
        ) as conn:
            row = conn.execute(sql).fetchone()
        return None if row is None else row[0]

    def _start(self, data_dir: Path) -> None:
        self._run("pg_ctl", "-D", str(data_dir), "-l", str(data_dir / "server.log"), "-w", "-t", "60", "start")

    def start(self, *, schema_sql: str, settings: dict[str, str] | None = None) -> None:
        """The primary with `schema_sql` loaded, then its standby. `settings`: postgresql.conf lines
        put after the harness's own (which they override), on both servers."""
        self._run(
            "initdb",
            "-D",
            str(self.primary_dir),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        with open(self.primary_dir / "postgresql.conf", "a") as conf:
            conf.write(
                f"\nport = {self.primary_port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.root}'\nwal_level = replica\nmax_wal_senders = 4\n"
                "hot_standby = on\nfsync = off\nfull_page_writes = off\nshared_buffers = 16MB\n"
                "max_connections = 40\nlc_messages = 'C'\nwal_keep_size = 64MB\n"
                # A paused standby must not cancel the primary's vacuum or its own reads.
                "max_standby_streaming_delay = -1\n"
            )
            conf.writelines(f"{name} = {value}\n" for name, value in (settings or {}).items())
        with open(self.primary_dir / "pg_hba.conf", "a") as hba:
            hba.write("host replication postgres 127.0.0.1/32 trust\n")
        self._start(self.primary_dir)
        self.psql(
            f"CREATE ROLE {APP_ROLE} LOGIN; CREATE ROLE breederhq_owner LOGIN; CREATE DATABASE {DATABASE};",
            database="postgres",
        )
        self.psql(schema_sql)
        self.psql(
            f"GRANT USAGE ON SCHEMA public TO {APP_ROLE};"
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLE};"
            f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE};"
        )
        self._run(
            "pg_basebackup",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.primary_port),
            "-U",
            "postgres",
            "-D",
            str(self.standby_dir),
            "-R",
            "-X",
            "stream",
            # An immediate checkpoint: the default ("spread") paces it over most of
            # checkpoint_timeout, which was about 105 s of the pair's start.
            "--checkpoint=fast",
            "--no-sync",
        )
        with open(self.standby_dir / "postgresql.conf", "a") as conf:
            conf.write(f"\nport = {self.standby_port}\n")
        self._start(self.standby_dir)
        # One commit replayed before any test: until then the standby has no last replayed
        # transaction, its lag reads as unknown (infinite) and every read goes to the primary, which
        # would fail whichever test happened to run first on a worker and paused replay at once.
        self.value("SELECT txid_current()")
        self.wait_replayed(timeout=60)

    def stop_standby(self) -> None:
        self._run("pg_ctl", "-D", str(self.standby_dir), "-m", "immediate", "-w", "stop")

    def start_standby(self) -> None:
        self._start(self.standby_dir)

    def wait_replayed(self, timeout: float = 10.0) -> None:
        """Until the standby has replayed everything the primary wrote so far."""
        lsn = self.value("SELECT pg_current_wal_lsn()::text")
        query = f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn"
        if wait_until(lambda: self.value(query, port=self.standby_port) is True, timeout=timeout, interval=0.05):
            return
        raise TimeoutError(f"the standby did not replay {lsn} within {timeout} s")

    def stop(self) -> None:
        for data_dir in (self.standby_dir, self.primary_dir):
            if (data_dir / "postmaster.pid").exists():
                try:
                    self._run("pg_ctl", "-D", str(data_dir), "-m", "immediate", "-w", "stop")
                except RuntimeError:
                    pass
        shutil.rmtree(self.root, ignore_errors=True)

    def django_settings(self, *, port: int) -> dict:
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": DATABASE,
            "USER": APP_ROLE,
            "PASSWORD": "",
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "CONN_MAX_AGE": 0,
            "CONN_HEALTH_CHECKS": True,
            "ATOMIC_REQUESTS": False,
            "OPTIONS": {"application_name": "breederhq-replica-test", "connect_timeout": 2},
        }
