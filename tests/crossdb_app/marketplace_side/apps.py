from django.apps import AppConfig


class CrossdbMarketplaceConfig(AppConfig):
    name = "tests.crossdb_app.marketplace_side"
    label = "crossdb_marketplace"
    default_auto_field = "django.db.models.BigAutoField"
