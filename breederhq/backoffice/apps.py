from django.apps import AppConfig


class BackofficeConfig(AppConfig):
    """The back office's own records (staff action audit). Tenant database only."""

    name = "breederhq.backoffice"
    label = "backoffice"
    verbose_name = "Back office"
