"""Recompute every provider's denormalised counters and report drift (exit 1 when there is any)."""

from django.core.management.base import BaseCommand

from marketplace_app.selectors import provider_stats_drift
from marketplace_app.services import provider_stats_fix


class Command(BaseCommand):
    help = (
        "Recompute total_listings, total_transactions and total_revenue_cents of every provider and "
        "report where the stored values drifted. --fix corrects them. Exit status 1 when drift was "
        "found (fixed or not): drift means some write path is wrong and someone should look."
    )

    def add_arguments(self, parser):
        parser.add_argument("--fix", action="store_true", help="Set drifted counters to the recomputed values.")

    def handle(self, *args, fix=False, **options):
        drift = provider_stats_drift()
        for row in drift:
            details = ", ".join(
                f"{name} stored {stored} actual {actual}" for name, (stored, actual) in row["fields"].items()
            )
            self.stdout.write(f"provider #{row['provider_id']} ({row['business_name']}): {details}")
            if fix:
                provider_stats_fix(provider_id=row["provider_id"])
                self.stdout.write(f"provider #{row['provider_id']}: fixed")
        if not drift:
            self.stdout.write("provider stats: no drift")
            return
        self.stderr.write(f"provider stats: {len(drift)} provider(s) drifted" + (", fixed" if fix else ""))
        raise SystemExit(1)
