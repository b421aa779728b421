import json

from django.core.management.base import BaseCommand, CommandError

from breederhq.backoffice.personal_data import export_marketplace_user
from breederhq.errors import NotFound


class Command(BaseCommand):
    help = ("Print, as JSON, everything the platform holds on one marketplace user, across both "
            "databases. Audited: --staff and --reason are required.")

    def add_arguments(self, parser):
        parser.add_argument("--marketplace-user", type=int, required=True)
        parser.add_argument("--staff", required=True, help="who asked (kept in the staff action audit)")
        parser.add_argument("--reason", required=True, help="why (e.g. the request's reference)")

    def handle(self, *args, marketplace_user, staff, reason, **options):
        try:
            export = export_marketplace_user(marketplace_user_id=marketplace_user, staff_username=staff, reason=reason)
        except NotFound as exc:
            raise CommandError(exc.detail) from exc
        self.stdout.write(json.dumps(export, indent=2, sort_keys=True, default=str))
