from django.db import models


class JobStatus(models.Model):
    """One row per scheduled job: when it last ran and how it ended, for support staff."""

    class Outcome(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped (already running elsewhere)"

    name = models.CharField(max_length=200, unique=True)
    last_started_at = models.DateTimeField(null=True, blank=True)
    last_finished_at = models.DateTimeField(null=True, blank=True)
    last_outcome = models.CharField(max_length=20, choices=Outcome.choices, blank=True)
    last_result = models.TextField(blank=True)
    last_error = models.TextField(blank=True)
    last_duration_ms = models.PositiveIntegerField(null=True, blank=True)
    runs = models.PositiveIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0)
    skips = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "job_statuses"
        verbose_name_plural = "job statuses"

    def __str__(self) -> str:
        return f"{self.name}: {self.last_outcome or 'never run'}"


class JobCheckpoint(models.Model):
    """Where a job that works through a table in steps stands: one row per (job, key), e.g. the
    cross-database check's watermark per source table (breederhq/crossdb_check/)."""

    job = models.CharField(max_length=200)
    key = models.CharField(max_length=200)
    position = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "job_checkpoints"
        constraints = [models.UniqueConstraint(fields=["job", "key"], name="job_checkpoints_job_key")]

    def __str__(self) -> str:
        return f"{self.job} {self.key}: {self.position}"
