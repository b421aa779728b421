"""Beat's scheduler: django-celery-beat's DatabaseScheduler, with `config/beat_schedule.py` as the
defaults. A job missing from the PeriodicTask table is created from the file; one that exists keeps
what support staff set in the admin (interval, crontab, enabled), across beat restarts and deploys."""

from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler


class ScheduleDefaultsDatabaseScheduler(DatabaseScheduler):
    def update_from_dict(self, mapping):
        existing = set(PeriodicTask.objects.filter(name__in=list(mapping)).values_list("name", flat=True))
        return super().update_from_dict({name: entry for name, entry in mapping.items() if name not in existing})
