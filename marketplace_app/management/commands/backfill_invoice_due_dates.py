"""Give every marketplace invoice the due date its `due_at` means (marketplace_app/invoice_due_dates.py)."""

import time

from django.core.management.base import BaseCommand

from marketplace_app.invoice_due_dates import backfill_all, missing_due_dates


class Command(BaseCommand):
    help = (
        "Set marketplace_invoices.due_date from due_at (its UTC date) where it is missing, --batch-size "
        "rows per statement (each its own short transaction), optionally pausing --sleep seconds between "
        "batches. Safe on a live database and to run again. Exits 1 if rows are still missing a due date."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=5000)
        parser.add_argument("--sleep", type=float, default=0.0, help="Seconds between batches (load shedding).")

    def handle(self, *args, batch_size=5000, sleep=0.0, **options):
        if batch_size < 1:
            self.stderr.write("--batch-size must be at least 1")
            raise SystemExit(2)
        batches, changed = backfill_all(batch_size=batch_size, pause=(lambda: time.sleep(sleep)) if sleep else None)
        self.stdout.write(f"invoice due dates: {changed} invoice(s) backfilled in {batches} batch(es)")
        if missing := missing_due_dates():
            self.stderr.write(f"{missing} invoice(s) still have due_at without due_date")
            raise SystemExit(1)
