from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _grant_app_role(sender, using, plan=None, **kwargs):
    """After a migrate run of `using`: the application role's rights on the tables it made. `flush`
    sends post_migrate too, without a plan: it makes no table, so there is nothing to grant."""
    if plan is None:
        return
    from breederhq.db_roles import grant_app_role

    grant_app_role(using=using)


class BreederhqCoreConfig(AppConfig):
    name = "breederhq"
    label = "breederhq"
    verbose_name = "BreederHQ core"

    def ready(self):
        # post_migrate fires once per app (with models) after all the migrations of a run, so this
        # app's own signal comes when every table exists: the grants are made once per run.
        post_migrate.connect(_grant_app_role, sender=self, dispatch_uid="breederhq-grant-app-role")
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
        from breederhq.api.strict_fields import install as refuse_non_strings_in_string_fields

        refuse_non_strings_in_string_fields()  # a JSON number is no string (breederhq/api/strict_fields.py)
        from breederhq.db_adapters import use_fast_timestamptz_loader

        use_fast_timestamptz_loader()
        # Outbox handlers live in each app's `outbox_handlers.py`; every process (web, worker, beat)
        # must know all of them before it relays anything.
        autodiscover_modules("outbox_handlers")
