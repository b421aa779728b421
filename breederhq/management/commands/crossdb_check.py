"""`manage.py crossdb_check [--json] [--stuck-after-minutes N]`: exit 1 when anything is wrong."""

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
            "--stuck-after-minutes", type=int, default=30,
            help="A pending outbox message older than this is reported as stuck (default 30).",
        )

    def handle(self, *args, **options):
        with session_limits(MAINTENANCE):  # a scan of every table: not cut off by the web limits
            report = run_crossdb_check(stuck_after_minutes=options["stuck_after_minutes"])
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2, sort_keys=True, default=str))
        else:
            for problem in report["problems"]:
                details = ", ".join(f"{k}={v}" for k, v in problem.items() if k != "kind")
                self.stdout.write(f"{problem['kind']}: {details}")
            for fault in report.get("demo_faults", []):
                self.stdout.write(f"demo data, not a problem: {fault['kind']} {fault['message_id']} "
                                  f"({fault['demo_fault']})")
            checked = ", ".join(f"{name} {count}" for name, count in report["checked"].items())
            self.stdout.write(f"checked: {checked or 'nothing'}")
            self.stdout.write(f"{len(report['problems'])} problem(s)" if report["problems"] else "OK")
        if not report["ok"]:
            raise CommandError(f"crossdb_check found {len(report['problems'])} problem(s)", returncode=1)
