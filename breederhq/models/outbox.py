import uuid

from django.db import models


class OutboxMessage(models.Model):
    """A change in this database that must cause a change in the other one.

    Written by `breederhq.outbox.outbox_enqueue` in the same transaction as the change that causes
    it, and applied in `target_db` by the relay. The payload carries lookup keys, never copies of
    data: the handler reads the current state where it applies.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPLIED = "applied", "Applied"
        # Gave up after OUTBOX_MAX_ATTEMPTS: stays here, visible to crossdb_check and admin, until
        # someone fixes the cause and requeues it (breederhq.outbox.outbox_message_requeue).
        STUCK = "stuck", "Stuck"

    message_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    topic = models.CharField(max_length=100)
    payload = models.JSONField(default=dict)
    target_db = models.CharField(max_length=50)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    # When the relay tries next; None once applied or stuck.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "outbox_messages"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=["pending", "applied", "stuck"]), name="outbox_messages_status_valid"
            ),
        ]
        indexes = [
            # The sweep's question: which pending messages are due?
            models.Index(
                fields=["next_attempt_at", "id"],
                condition=models.Q(status="pending"),
                name="outbox_messages_due_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.topic} {self.message_id} ({self.status}, {self.attempts} attempts)"


class AppliedMessage(models.Model):
    """The other half of exactly-once: a message id recorded in the *target* database in the same
    transaction as the message's effect. Its uniqueness makes a second application impossible."""

    message_id = models.UUIDField(unique=True)
    source_db = models.CharField(max_length=50)
    topic = models.CharField(max_length=100)
    applied_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "outbox_applied_messages"

    def __str__(self) -> str:
        return f"{self.topic} {self.message_id} from {self.source_db}"
