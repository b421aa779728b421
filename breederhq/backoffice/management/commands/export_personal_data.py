import json

from django.core.management.base import CommandError

from breederhq.backoffice.personal_data import erase_contact, export_contact, export_marketplace_user
from breederhq.databases import TENANT_DB
from breederhq.db_timeouts import LongRunningCommand
from breederhq.errors import NotFound


class Command(LongRunningCommand):
    help = (
        "Print, as JSON, everything the platform holds on one person across both databases: a "
        "marketplace user (--marketplace-user ID) or a tenant contact (--contact TENANT_ID:CONTACT_ID). "
        "With --erase (contacts) the contact is anonymised instead. Audited: --staff (a staff account) and "
        "--reason are required."
    )

    def add_arguments(self, parser):
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--marketplace-user", type=int)
        who.add_argument("--contact", help="TENANT_ID:CONTACT_ID")
        parser.add_argument("--erase", action="store_true", help="anonymise the contact (and its marketplace user)")
        parser.add_argument(
            "--staff", required=True, help="the staff account asking (username or email; kept in the audits)"
        )
        parser.add_argument("--reason", required=True, help="why (e.g. the request's reference)")

    def handle(self, *args, marketplace_user=None, contact=None, erase=False, staff, reason, **options):
        from django.contrib.auth import get_user_model
        from django.db.models import Q

        staff_user = (
            get_user_model()
            .objects.using(TENANT_DB)
            .filter(Q(username=staff) | Q(email=staff), is_staff=True, is_active=True)
            .first()
        )
        if staff_user is None:
            raise CommandError(f"--staff {staff!r} is not an active staff account (username or email)")
        who = {"staff_username": staff_user.get_username(), "staff_user_id": staff_user.pk}
        try:
            if contact:
                tenant_id, contact_id = (int(part) for part in contact.split(":", 1))
                if erase:
                    erase_contact(tenant_id=tenant_id, contact_id=contact_id, **who, reason=reason)
                    self.stdout.write(f"contact {contact_id} of tenant {tenant_id} anonymised")
                    return
                export = export_contact(tenant_id=tenant_id, contact_id=contact_id, **who, reason=reason)
            else:
                if erase:
                    raise CommandError("--erase takes a --contact; erase a marketplace user with its service")
                export = export_marketplace_user(marketplace_user_id=marketplace_user, **who, reason=reason)
        except NotFound as exc:
            raise CommandError(exc.detail) from exc
        except ValueError as exc:
            raise CommandError("--contact takes TENANT_ID:CONTACT_ID") from exc
        self.stdout.write(json.dumps(export, indent=2, sort_keys=True, default=str))
