"""`manage.py crossdb_check [--json] [--stuck-after-minutes N] [--incremental] [--time-budget S]`: exit 1
when anything is wrong. A full pass by default; exits 0 with a notice when another check is running."""

import json

from django.core.management.base import BaseCommand, CommandError

from breederhq.crossdb_check import run_crossdb_check
from breederhq.db_timeouts import MAINTENANCE, session_limits


class Command(BaseCommand):
    help = (
        "Check the links between the two databases: dangling references, references to hard-deleted "
        "rows, registry rows without their source row, unregistered reference values, and outbox "
        "messages stuck past the threshold. Exits 1 when anything is wrong."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")
        parser.add_argument(
            "--stuck-after-minutes",
            type=int,
            default=30,
            help="A pending outbox message older than this is reported as stuck (default 30).",
        )
        parser.add_argument(
            "--incremental",
            action="store_true",
            help="Only the rows changed since the last incremental run (as the 15-minute job).",
        )
        parser.add_argument(
            "--time-budget",
            type=float,
            default=None,
            metavar="SECONDS",
            help="Stop after the batch that crosses this; the next run of the mode resumes there.",
        )

    def handle(self, *args, **options):
        with session_limits(MAINTENANCE):  # a scan of every table: not cut off by the web limits
            report = run_crossdb_check(
                stuck_after_minutes=options["stuck_after_minutes"],
                mode="incremental" if options["incremental"] else "full",
                time_budget_seconds=options["time_budget"],
            )
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2, sort_keys=True, default=str))
        else:
            for problem in report["problems"]:
                details = ", ".join(f"{k}={v}" for k, v in problem.items() if k != "kind")
                self.stdout.write(f"{problem['kind']}: {details}")
            for fault in report.get("demo_faults", []):
                self.stdout.write(
                    f"demo data, not a problem: {fault['kind']} {fault['message_id']} ({fault['demo_fault']})"
                )
            if "skipped" in report:
                self.stdout.write(f"skipped: {report['skipped']}")
                return
            checked = ", ".join(f"{name} {count}" for name, count in report["checked"].items())
            self.stdout.write(f"checked: {checked or 'nothing'}")
            if not report["complete"]:
                self.stdout.write("stopped by the time budget: the next run resumes where this one stopped")
            self.stdout.write(f"{len(report['problems'])} problem(s)" if report["problems"] else "OK")
        if not report["ok"]:
            raise CommandError(f"crossdb_check found {len(report['problems'])} problem(s)", returncode=1)
