"""`manage.py pitr_restore --to TIME --into DIR (--backups DIR --wal-archive DIR | --stanza NAME)`:
both databases as they were at TIME, in a new data directory, checked by crossdb_check
(docs/operations/runbook.md#point-in-time-recovery)."""

from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from breederhq.databases import DATABASE_ALIASES
from breederhq.pitr import (
    PitrError,
    RestoredCluster,
    crossdb_check_process,
    find_bindir,
    parse_target,
    restore_from_archive,
    restore_pgbackrest,
)


class Command(BaseCommand):
    help = (
        "Restore the cluster holding both databases to one moment into a new data directory, start "
        "it on a private socket, and run crossdb_check on it. The live databases are not touched."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--to", required=True, metavar="TIME", help='the moment, ISO 8601 with a time zone: "2026-12-06T12:00:00Z"'
        )
        parser.add_argument("--into", required=True, metavar="DIR", help="a new (missing or empty) data directory")
        parser.add_argument("--backups", metavar="DIR", help="pg_basebackup folders (PostgreSQL's own tools)")
        parser.add_argument("--wal-archive", metavar="DIR", help="the archive_command's folder")
        parser.add_argument("--stanza", help="restore with pgBackRest from this stanza instead")
        parser.add_argument("--pgbackrest-config", metavar="FILE", help="pgbackrest.conf (default: pgBackRest's)")
        parser.add_argument(
            "--keep-running",
            action="store_true",
            help="leave the restored cluster running (on its socket) after the check",
        )
        parser.add_argument("--skip-check", action="store_true", help="do not run crossdb_check")

    def handle(self, *args, **options):
        try:
            target = parse_target(options["to"])
        except PitrError as exc:
            raise CommandError(str(exc)) from exc
        into = Path(options["into"]).resolve()
        if options["stanza"] is None and not (options["backups"] and options["wal_archive"]):
            raise CommandError("give --backups and --wal-archive (PostgreSQL's own tools) or --stanza (pgBackRest)")
        bindir = find_bindir()
        if bindir is None:
            raise CommandError(
                "no PostgreSQL binaries found (pg_config --bindir, /usr/lib/postgresql/*/bin, or set PG_BIN_DIR)"
            )
        superuser = urlsplit(settings.DATABASE_ADMIN_URL).username if settings.DATABASE_ADMIN_URL else None
        cluster = RestoredCluster(into, bindir, superuser=superuser or "postgres")
        try:
            if options["stanza"]:
                restore_pgbackrest(options["stanza"], target, into, config=options["pgbackrest_config"])
                self.stdout.write(f"pgBackRest restored stanza {options['stanza']} into {into}")
            else:
                base = restore_from_archive(Path(options["backups"]), Path(options["wal_archive"]), target, into)
                self.stdout.write(f"base backup {base} copied into {into}")
            self.stdout.write(f"replaying WAL up to {target.isoformat()} ...")
            cluster.start()
        except PitrError as exc:
            raise CommandError(str(exc)) from exc
        for line in cluster.recovery_summary():
            self.stdout.write(f"  {line}")
        self.stdout.write(f"restored cluster up on socket {cluster.socket_dir}, port {cluster.port}")
        try:
            if not options["skip_check"]:
                self._crossdb_check(cluster)
        finally:
            if not options["keep_running"]:
                cluster.stop()
                self.stdout.write(f"restored cluster stopped; its data directory is {into}")
        self.stdout.write(self.style.SUCCESS(f"both databases restored to {target.isoformat()}"))

    def _crossdb_check(self, cluster: RestoredCluster) -> None:
        """crossdb_check in its own process, with the database URLs pointing at the restored copy
        (same roles and names as the live cluster; its private socket trusts them)."""
        urls = {}
        for alias in DATABASE_ALIASES:
            config = settings.DATABASES[alias]
            urls[alias] = cluster.url(config.get("APP_USER") or config["USER"], config["NAME"])
        self.stdout.write("crossdb_check on the restored databases:")
        result = crossdb_check_process(urls, base_dir=Path(settings.BASE_DIR))
        self.stdout.write(result.stdout.rstrip())
        if result.returncode != 0:
            raise CommandError(
                f"crossdb_check on the restored databases failed ({result.returncode}): {result.stderr.strip()[-2000:]}"
            )
