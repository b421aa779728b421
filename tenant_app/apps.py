from django.apps import AppConfig


class TenantAppConfig(AppConfig):
    name = "tenant_app"
    verbose_name = "Tenants (breeders)"

    def ready(self):
        # The core's request plumbing asks who the caller is through the identity port.
        from breederhq.identity import register_tenant_identity
        from tenant_app.identity import TenantAppIdentity

        register_tenant_identity(TenantAppIdentity())
