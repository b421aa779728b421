from django.apps import AppConfig
from django.db.models.signals import post_migrate

from breederhq.databases import TENANT_DB


def _sync_groups(sender, using=TENANT_DB, **kwargs):
    # After every migrate of the tenant database (auth tables live there), so a fresh install has
    # both groups without a manual step; `manage.py backoffice_groups` does the same on demand.
    if using != TENANT_DB:
        return
    from breederhq.backoffice.groups import backoffice_groups_sync

    backoffice_groups_sync()


class BackofficeConfig(AppConfig):
    """The back office's own records (staff action audit). Tenant database only."""

    name = "breederhq.backoffice"
    label = "backoffice"
    verbose_name = "Back office"

    def ready(self):
        post_migrate.connect(_sync_groups, sender=self, dispatch_uid="backoffice_groups_sync")
        # Registers the schema extension for the API's session authentication.
        from breederhq.backoffice import schema  # noqa: F401
