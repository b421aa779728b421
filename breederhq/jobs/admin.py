from django.contrib import admin

from breederhq.backoffice.admin_tools import LargeTableAdminMixin, ReadOnlyAdminMixin
from breederhq.jobs.models import JobStatus


@admin.register(JobStatus)
class JobStatusAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "name",
        "last_outcome",
        "last_started_at",
        "last_finished_at",
        "last_duration_ms",
        "runs",
        "failures",
        "skips",
    )
    list_filter = ("last_outcome",)
    search_fields = ("=name",)
    readonly_fields = [f.name for f in JobStatus._meta.fields]
