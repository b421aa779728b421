"""Beat's scheduler: django-celery-beat's DatabaseScheduler, with `config/beat_schedule.py` as the
defaults. A job missing from the PeriodicTask table is created from the file; one that exists keeps
what support staff set in the admin (interval, crontab, enabled), across beat restarts and deploys.

Every message it sends carries the slot it belongs to (a `job_slot` header, see
breederhq/jobs/scheduled.py): however many beats run, a job runs once per slot."""

from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from breederhq.jobs.scheduled import SLOT_HEADER, slot_for


class ScheduleDefaultsDatabaseScheduler(DatabaseScheduler):
    def update_from_dict(self, mapping):
        existing = set(PeriodicTask.objects.filter(name__in=list(mapping)).values_list("name", flat=True))
        return super().update_from_dict({name: entry for name, entry in mapping.items() if name not in existing})

    def apply_async(self, entry, producer=None, advance=True, **kwargs):
        slot = slot_for(entry.schedule, now=self.app.now())
        options = dict(entry.options or {})
        options["headers"] = {**(options.get("headers") or {}), SLOT_HEADER: slot}
        entry.options = options
        return super().apply_async(entry, producer, advance, **kwargs)
