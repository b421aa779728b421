from pathlib import Path

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from breederhq.backup import BackupError, restore
from breederhq.databases import MARKETPLACE_DB, TENANT_DB


class Command(BaseCommand):
    help = (
        "Restore a `backup` folder into empty databases (the configured ones, or --tenant-database/"
        "--marketplace-database; missing ones are created with the owner and application roles), "
        "verify row counts against the manifest, then run crossdb_check."
    )

    def add_arguments(self, parser):
        parser.add_argument("folder")
        parser.add_argument("--tenant-database", default=None)
        parser.add_argument("--marketplace-database", default=None)
        parser.add_argument("--skip-check", action="store_true", help="do not run crossdb_check afterwards")

    def handle(self, folder, tenant_database=None, marketplace_database=None, skip_check=False, **options):
        targets = {
            alias: name
            for alias, name in ((TENANT_DB, tenant_database), (MARKETPLACE_DB, marketplace_database))
            if name
        }
        try:
            restored = restore(Path(folder), targets=targets, log=self.stdout.write)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        for alias, counts in restored.items():
            self.stdout.write(f"{alias}: {sum(counts.values())} rows in {len(counts)} tables restored")
        if not skip_check and not targets:
            call_command("crossdb_check", stdout=self.stdout)
        self.stdout.write(self.style.SUCCESS("restore complete"))
