from django.apps import AppConfig


class CrossdbTenantConfig(AppConfig):
    name = "tests.crossdb_app.tenant_side"
    label = "crossdb_tenant"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from tests.crossdb_app import faults

        faults.connect()
