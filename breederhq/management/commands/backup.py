from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from breederhq.backup import BackupError, backup


class Command(BaseCommand):
    help = "Dump both databases with their WAL positions, checksums and row counts into one folder."

    def add_arguments(self, parser):
        parser.add_argument("--out", default=None, help="folder to write (default: .local/backups/<timestamp>)")

    def handle(self, *args, out=None, **options):
        from django.conf import settings

        folder = (
            Path(out)
            if out
            else Path(settings.BASE_DIR) / ".local" / "backups" / timezone.now().strftime("%Y%m%dT%H%M%SZ")
        )
        try:
            manifest = backup(folder)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        for alias, entry in manifest["databases"].items():
            self.stdout.write(
                f"{alias}: {entry['name']} at WAL {entry['wal_lsn_before_dump']}, "
                f"{sum(entry['row_counts'].values())} rows in {len(entry['row_counts'])} tables"
            )
        self.stdout.write(self.style.SUCCESS(f"backup written to {folder}"))
