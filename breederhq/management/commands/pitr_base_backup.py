"""`manage.py pitr_base_backup --into DIR`: a pg_basebackup of the cluster holding both databases,
for point-in-time recovery with PostgreSQL's own tools (pgBackRest takes its own backups)."""

from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from breederhq.pitr import PitrError, take_base_backup


class Command(BaseCommand):
    help = (
        "pg_basebackup of the whole cluster (both databases) into DIR/<UTC timestamp>/, through "
        "DATABASE_ADMIN_URL. The WAL it needs comes from the archive (archive_mode on)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--into", required=True, metavar="DIR", help="the base backups' folder")

    def handle(self, *args, into, **options):
        if not settings.DATABASE_ADMIN_URL:
            raise CommandError("DATABASE_ADMIN_URL is not set: a base backup needs a superuser or REPLICATION role")
        parts = urlsplit(settings.DATABASE_ADMIN_URL)
        connection = {
            "host": unquote(parts.hostname or "") or "/var/run/postgresql",
            "port": parts.port or 5432,
            "user": unquote(parts.username or "postgres"),
            "password": unquote(parts.password) if parts.password else None,
        }
        try:
            folder = take_base_backup(connection, Path(into).resolve())
        except PitrError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"base backup written to {folder}"))
