from django.core.management.base import BaseCommand

from breederhq.backoffice.groups import backoffice_groups_sync


class Command(BaseCommand):
    help = "Create or reset the back-office groups `support` and `finance` to exactly their permissions."

    def handle(self, *args, **options):
        for name, count in backoffice_groups_sync().items():
            self.stdout.write(f"group {name}: {count} permissions")
