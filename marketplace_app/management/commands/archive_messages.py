"""Move messages older than two years to message_archive, in batches, without loss."""

from breederhq.db_timeouts import LongRunningCommand
from marketplace_app.partitions import archive_messages


class Command(LongRunningCommand):
    help = "Move messages older than two years from `messages` to `message_archive`, one batch per transaction."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=1000)

    def handle(self, *args, batch_size=1000, **options):
        moved = archive_messages(batch_size=batch_size)
        self.stdout.write(f"archived {moved} message(s)")
