"""`migrate`, run as the owner role.

The platform connects as the application role, which may not create tables. This override swaps
the connection to the owner role (DATABASE_OWNER_USER) for the migration and back afterwards; the
post_migrate hook then grants the application role its DML rights.
"""

from django.core.management.commands.migrate import Command as DjangoMigrateCommand

from breederhq.db_roles import owner_credentials


class Command(DjangoMigrateCommand):
    def handle(self, *args, **options):
        with owner_credentials():
            return super().handle(*args, **options)
