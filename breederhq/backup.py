"""Coordinated backup and restore of both databases (docs/operations/runbook.md#backup-and-restore).

A backup is a folder: one `pg_dump` custom-format archive per database, and `manifest.json` with
the databases, each one's WAL position (`pg_current_wal_lsn()`) taken before its dump, each
archive's SHA-256, and the row count of every table. The two dumps are each consistent on their
own (pg_dump reads one snapshot); cross-database links are made whole after a restore by the outbox
relay and checked by `crossdb_check`, which `restore` runs at the end.

Both need a connection that bypasses row-level security (`DATABASE_ADMIN_URL`, a superuser):
tenant tables FORCE RLS, so even the owner role would dump no tenant rows.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from django.conf import settings
from psycopg import sql

from breederhq.databases import DATABASE_ALIASES

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


class BackupError(RuntimeError):
    pass


def admin_url_for(database: str) -> str:
    if not settings.DATABASE_ADMIN_URL:
        raise BackupError(
            "DATABASE_ADMIN_URL is not set: backup and restore need a superuser connection "
            "(tenant tables force row-level security)."
        )
    parts = urlsplit(settings.DATABASE_ADMIN_URL)
    return urlunsplit(parts._replace(path=f"/{database}"))


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        parts = parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1))
    return urlunsplit(parts)


def setup_statements(database: str) -> str:
    """The SQL a superuser runs by hand to prepare `database` as a restore target."""
    owner = settings.DATABASE_OWNER_USER
    lines = [
        f"CREATE ROLE {owner} LOGIN CREATEDB NOSUPERUSER NOBYPASSRLS NOCREATEROLE PASSWORD '...';  -- if missing",
    ]
    for alias in DATABASE_ALIASES:
        config = settings.DATABASES[alias]
        app_user = config.get("APP_USER") or config["USER"]
        line = f"CREATE ROLE {app_user} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD '...';  -- if missing"
        if line not in lines:
            lines.append(line)
    lines.append(f"CREATE DATABASE {database} OWNER {owner};")
    return "\n".join(f"  {line}" for line in lines)


def prepare_target(database: str, *, log=print) -> None:
    """Make `database` ready for a restore on this server: the owner and application roles (cluster-
    wide, absent on a new server) and the database itself, owned by the owner role, when missing.
    Raises BackupError saying exactly what to run when that is not possible."""
    from breederhq.db_roles import ensure_roles

    if not settings.DATABASE_ADMIN_URL:
        admin_url_for(database)  # raises the "not set" error
    try:
        with psycopg.connect(settings.DATABASE_ADMIN_URL, autocommit=True) as conn, conn.cursor() as cursor:
            ensure_roles(cursor, log=log)
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database])
            if cursor.fetchone() is None:
                cursor.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(database), sql.Identifier(settings.DATABASE_OWNER_USER)
                    )
                )
                log(f"created database {database} owned by {settings.DATABASE_OWNER_USER}")
    except psycopg.errors.InsufficientPrivilege as exc:
        raise BackupError(
            f"cannot prepare the target database {database} as the DATABASE_ADMIN_URL role ({exc}). "
            f"Run as a superuser (psql), then restore again:\n{setup_statements(database)}"
        ) from exc
    except psycopg.OperationalError as exc:
        raise BackupError(
            f"cannot connect with DATABASE_ADMIN_URL ({_redacted(settings.DATABASE_ADMIN_URL)}): "
            f"{str(exc).strip()}. Point DATABASE_ADMIN_URL at a superuser of the target server."
        ) from exc


def pg_tool(name: str, server_major: int) -> str:
    """A pg_dump/pg_restore at least as new as the server (PG_BIN_DIR overrides the search)."""
    candidates = []
    if os.environ.get("PG_BIN_DIR"):
        candidates.append(Path(os.environ["PG_BIN_DIR"]) / name)
    try:
        import pgserver

        candidates.append(Path(pgserver.__file__).parent / "pginstall" / "bin" / name)
    except ImportError:
        pass
    candidates += sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)
    if shutil.which(name):
        candidates.append(Path(shutil.which(name)))
    for candidate in candidates:
        if not candidate.exists():
            continue
        version = subprocess.run([str(candidate), "--version"], capture_output=True, text=True).stdout
        match = re.search(r"(\d+)(?:\.\d+)?", version)
        if match and int(match.group(1)) >= server_major:
            return str(candidate)
    raise BackupError(f"no {name} of version {server_major} or newer found (set PG_BIN_DIR)")


def table_row_counts(conn) -> dict[str, int]:
    with conn.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
        tables = [t for (t,) in cursor.fetchall()]
        counts = {}
        for table in tables:
            cursor.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
            counts[table] = cursor.fetchone()[0]
    return counts


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def backup(out_dir: Path) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = {"format": FORMAT_VERSION, "created_at": datetime.now(UTC).isoformat(), "databases": {}}
    for alias in DATABASE_ALIASES:
        name = settings.DATABASES[alias]["NAME"]
        url = admin_url_for(name)
        with psycopg.connect(url, autocommit=True) as conn:
            major = conn.info.server_version // 10000
            with conn.cursor() as cursor:
                cursor.execute("SELECT pg_current_wal_lsn()::text")
                lsn = cursor.fetchone()[0]
            counts = table_row_counts(conn)
        archive = out_dir / f"{alias}.dump"
        result = subprocess.run(
            # Owners, grants and row-level security policies travel with the dump; the roles
            # themselves are cluster-wide (manage.py db_bootstrap creates them on a new server).
            [pg_tool("pg_dump", major), "--format=custom", f"--file={archive}", f"--dbname={url}"],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise BackupError(f"pg_dump of {alias} ({name}) failed: {result.stderr.strip()}")
        manifest["databases"][alias] = {
            "name": name,
            "wal_lsn_before_dump": lsn,
            "server_major": major,
            "file": archive.name,
            "sha256": _sha256(archive),
            "row_counts": counts,
        }
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return manifest


def restore(from_dir: Path, *, targets: dict[str, str] | None = None, log=print) -> dict[str, dict[str, int]]:
    """Restore each archive into its (empty) target database; returns the restored row counts.

    `targets` maps alias -> database name (default: the configured names). A missing target database
    is created (owned by the owner role, with the roles created too when the server has none).
    Refuses a target that has tables, and an archive whose checksum does not match the manifest.
    """
    if not (from_dir / MANIFEST).is_file():
        raise BackupError(f"{from_dir} is not a backup folder (no {MANIFEST}); `manage.py backup` writes one")
    manifest = json.loads((from_dir / MANIFEST).read_text())
    if manifest.get("format") != FORMAT_VERSION:
        raise BackupError(f"unknown backup format {manifest.get('format')!r}")
    restored = {}
    for alias, entry in manifest["databases"].items():
        archive = from_dir / entry["file"]
        if _sha256(archive) != entry["sha256"]:
            raise BackupError(f"{archive.name} does not match its checksum in the manifest")
        name = (targets or {}).get(alias) or settings.DATABASES[alias]["NAME"]
        url = admin_url_for(name)
        prepare_target(name, log=log)
        with psycopg.connect(url, autocommit=True) as conn:
            if table_row_counts(conn):
                raise BackupError(f"target database {name} is not empty; restore only into an empty database")
            major = conn.info.server_version // 10000
        result = subprocess.run(
            [pg_tool("pg_restore", major), "--exit-on-error", f"--dbname={url}", str(archive)],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise BackupError(f"pg_restore of {alias} into {name} failed: {result.stderr.strip()}")
        with psycopg.connect(url, autocommit=True) as conn:
            restored[alias] = table_row_counts(conn)
        if restored[alias] != entry["row_counts"]:
            raise BackupError(f"{alias}: restored row counts differ from the manifest")
    return restored
