"""The admin app's configuration (its own module: an apps module may declare one default config)."""

from django.contrib.admin.apps import AdminConfig


class BackofficeAdminConfig(AdminConfig):
    """django.contrib.admin with the back office's site as `admin.site` (a second factor for staff)."""

    default_site = "breederhq.backoffice.site.BackofficeAdminSite"

    def ready(self):
        super().ready()  # autodiscover: every app's admin module registers its models
        from django.contrib import admin
        from django_otp.plugins.otp_static.models import StaticDevice
        from django_otp.plugins.otp_totp.models import TOTPDevice

        # django-otp's own device pages would show every staff member's TOTP secret and recovery
        # codes to anyone who may view them: devices are managed only through the second-factor
        # pages and the audited reset action on the user list.
        for model in (TOTPDevice, StaticDevice):
            if admin.site.is_registered(model):
                admin.site.unregister(model)
