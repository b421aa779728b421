"""Create the monthly `messages` partitions ahead of time (idempotent; beat runs it daily)."""

from breederhq.db_timeouts import MAINTENANCE, LongRunningCommand
from marketplace_app.partitions import ensure_message_partitions


class Command(LongRunningCommand):
    session_limits_kind = MAINTENANCE  # DDL: may wait for locks held by long readers
    help = "Create messages_pYYYY_MM partitions for the current month and N months ahead, when missing."

    def add_arguments(self, parser):
        parser.add_argument(
            "--months-ahead", type=int, default=3, help="How many months after the current one (default 3)."
        )

    def handle(self, *args, months_ahead=3, **options):
        created = ensure_message_partitions(months_ahead=months_ahead)
        self.stdout.write(f"created: {', '.join(created)}" if created else "all partitions already exist")
