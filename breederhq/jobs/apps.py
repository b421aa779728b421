from django.apps import AppConfig


class JobsConfig(AppConfig):
    """Scheduled-job bookkeeping (last run and outcome per job). Tenant database only."""

    name = "breederhq.jobs"
    label = "jobs"
    verbose_name = "Scheduled jobs"
