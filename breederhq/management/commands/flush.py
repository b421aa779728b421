"""`flush`, run as the owner role: TRUNCATE is an owner's right the application role never gets.

Transactional tests flush the databases between tests through this command.
"""

from django.core.management.commands.flush import Command as DjangoFlushCommand

from breederhq.db_roles import owner_credentials


class Command(DjangoFlushCommand):
    def handle(self, **options):
        with owner_credentials(aliases=[options["database"]]):
            return super().handle(**options)
