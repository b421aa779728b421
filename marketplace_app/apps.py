from django.apps import AppConfig


class MarketplaceAppConfig(AppConfig):
    name = "marketplace_app"
    verbose_name = "Marketplace"
