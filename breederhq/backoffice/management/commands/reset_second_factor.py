"""Reset a staff member's second factor from a shell, for when nobody who may do it in the back
office can sign in (the only superuser lost their phone and recovery codes). Audited like the admin
action, with `manage.py` as the actor."""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from breederhq.backoffice.models import StaffActionAudit
from breederhq.backoffice.second_factor import RESET, second_factor_reset
from breederhq.databases import TENANT_DB


class Command(BaseCommand):
    help = "Remove every second-factor device of one staff member (they enrol again at their next sign-in)."

    def add_arguments(self, parser):
        parser.add_argument("login", help="The staff member's username or email.")
        parser.add_argument("--reason", required=True, help="Why (kept in the staff action audit).")

    def handle(self, *args, login, reason, **options):
        from django.db.models import Q

        from tenant_app.models import User

        if len(reason.strip()) < 5:
            raise CommandError("Give a reason of at least five characters.")
        user = User.objects.using(TENANT_DB).filter(Q(username=login) | Q(email=login)).first()
        if user is None or not (user.is_staff or user.is_superuser):
            raise CommandError(f"No staff account {login!r}.")
        result = second_factor_reset(target=user, actor=None)
        with transaction.atomic(using=TENANT_DB):
            StaffActionAudit.objects.using(TENANT_DB).create(
                actor_id=0,
                actor_username="manage.py",
                action=RESET,
                target_model=user._meta.label,
                target_database=TENANT_DB,
                target_id=str(user.pk),
                reason=reason,
                result=result,
            )
        self.stdout.write(f"{user.get_username()}: {result}; they set up a new second factor at their next sign-in.")
