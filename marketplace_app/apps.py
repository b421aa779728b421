from django.apps import AppConfig


class MarketplaceAppConfig(AppConfig):
    name = "marketplace_app"
    verbose_name = "Marketplace"

    def ready(self):
        from marketplace_app.search_cache import connect_invalidation

        connect_invalidation()
