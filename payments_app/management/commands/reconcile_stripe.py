from breederhq.db_timeouts import LongRunningCommand
from payments_app.reconciliation import stripe_reconcile


class Command(LongRunningCommand):
    help = "Compare local invoice payments with Stripe now (the nightly job, on demand). Exit 1 on any disagreement."

    def add_arguments(self, parser):
        parser.add_argument("--page-size", type=int, default=100)

    def handle(self, *args, page_size: int, **options):
        run = stripe_reconcile(trigger="command", page_size=page_size)
        self.stdout.write(
            f"reconciliation #{run.pk}: {run.remote_objects} in Stripe, {run.local_payments} local; "
            f"synced={run.synced} mismatch={run.mismatch} missing_remote={run.missing_remote} "
            f"missing_local={run.missing_local}"
        )
        for item in run.items.order_by("pk"):
            self.stdout.write(f"  {item.status}: {item.detail}")
        if run.mismatch or run.missing_remote or run.missing_local:
            raise SystemExit(1)
