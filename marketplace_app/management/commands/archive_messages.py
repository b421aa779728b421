"""Move messages older than two years to message_archive, in batches, without loss."""

from django.core.management.base import BaseCommand

from marketplace_app.partitions import archive_messages


class Command(BaseCommand):
    help = "Move messages older than two years from `messages` to `message_archive`, one batch per transaction."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=1000)

    def handle(self, *args, batch_size=1000, **options):
        moved = archive_messages(batch_size=batch_size)
        self.stdout.write(f"archived {moved} message(s)")
