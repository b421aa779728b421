from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from breederhq.db_roles import RoleConfigurationError, bootstrap_roles_and_databases, verify_app_role


class Command(BaseCommand):
    help = (
        "Create the owner role, the application role and both databases when missing (needs "
        "DATABASE_ADMIN_URL, a superuser connection), then check the application role cannot "
        "bypass row-level security. Safe to run any number of times."
    )

    def add_arguments(self, parser):
        parser.add_argument("--admin-url", default=None, help="superuser URL; default DATABASE_ADMIN_URL")

    def handle(self, *args, admin_url=None, **options):
        admin_url = admin_url or settings.DATABASE_ADMIN_URL
        try:
            if admin_url:
                bootstrap_roles_and_databases(admin_url, log=lambda m: self.stdout.write(m))
            else:
                self.stdout.write("DATABASE_ADMIN_URL not set: assuming roles and databases exist")
                verify_app_role()
        except RoleConfigurationError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS("roles and databases ready"))
