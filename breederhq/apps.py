from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _grant_app_role(sender, using, **kwargs):
    from breederhq.db_roles import grant_app_role

    grant_app_role(using=using)


class BreederhqCoreConfig(AppConfig):
    name = "breederhq"
    label = "breederhq"
    verbose_name = "BreederHQ core"

    def ready(self):
        # post_migrate fires once per app after all migrations of a run; granting is idempotent and
        # cheap, so every app's signal re-grants rather than depending on which apps have models.
        post_migrate.connect(_grant_app_role, dispatch_uid="breederhq-grant-app-role")
        from django.core.signals import request_finished

        from breederhq.observability import celery_signals  # noqa: F401  (task id in logs, task metrics)
        from breederhq.observability.middleware import clear_request_context

        request_finished.connect(clear_request_context, dispatch_uid="breederhq-clear-request-context")

        from django.utils.module_loading import autodiscover_modules

        from breederhq.crossdb import connect_registry_signals

        connect_registry_signals()

        from breederhq.db_timeouts import connect_signals as connect_database_timeouts

        connect_database_timeouts()
        from breederhq.api.identity_cache import connect_invalidation

        connect_invalidation()
        from breederhq.db_adapters import use_fast_timestamptz_loader

        use_fast_timestamptz_loader()
        # Outbox handlers live in each app's `outbox_handlers.py`; every process (web, worker, beat)
        # must know all of them before it relays anything.
        autodiscover_modules("outbox_handlers")
