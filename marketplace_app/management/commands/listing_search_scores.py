"""Give every listing its search score (marketplace_app/listing_score.py), in batches by id."""

import time

from django.core.management.base import BaseCommand

from marketplace_app.listing_score import backfill_batch


class Command(BaseCommand):
    help = (
        "Compute service_listings.search_score where it is missing or out of date, --batch-size rows "
        "per statement (each its own short transaction), optionally pausing --sleep seconds between "
        "batches. Safe to run on a live database and to run again: it resumes from the start and "
        "skips rows already right."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=5000)
        parser.add_argument("--sleep", type=float, default=0.0, help="Seconds between batches (load shedding).")

    def handle(self, *args, batch_size=5000, sleep=0.0, **options):
        if batch_size < 1:
            self.stderr.write("--batch-size must be at least 1")
            raise SystemExit(2)
        after, batches, changed = 0, 0, 0
        while True:
            last_id, rows = backfill_batch(after_id=after, batch_size=batch_size)
            if last_id is None:
                break
            after, batches, changed = last_id, batches + 1, changed + rows
            if sleep:
                time.sleep(sleep)
        self.stdout.write(f"listing search scores: {changed} listing(s) scored in {batches} batch(es)")
