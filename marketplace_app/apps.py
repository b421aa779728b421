from django.apps import AppConfig


class MarketplaceAppConfig(AppConfig):
    name = "marketplace_app"
    verbose_name = "Marketplace"

    def ready(self):
        from marketplace_app.search_cache import connect_invalidation

        connect_invalidation()

        # The core's request plumbing asks who the caller is through the identity port.
        from breederhq.identity import register_marketplace_identity
        from marketplace_app.identity import MarketplaceAppIdentity, connect_identity_cache_invalidation

        register_marketplace_identity(MarketplaceAppIdentity())
        connect_identity_cache_invalidation()
