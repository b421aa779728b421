from django.db import models


class OutboundEmail(models.Model):
    """A business email, recorded in the same transaction as the event that causes it, then sent by
    a worker. Lives in the database of that event (both databases have this table).

    `event_key` names the event ("invoice_issued:tenant:12") and is unique: one event, one email,
    however often the code that records it runs.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending (claimed by a worker)"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed (gave up)"
        # A worker died during the provider call and the provider cannot deduplicate a retry: it
        # may or may not have gone out. Support staff decide (resend, or leave it).
        DELIVERY_UNKNOWN = "delivery_unknown", "Delivery unknown (worker died while sending)"

    event_key = models.CharField(max_length=200, unique=True)
    template = models.CharField(max_length=100)
    to = models.JSONField(help_text="list of recipient addresses")
    subject = models.CharField(max_length=300)
    text_body = models.TextField()
    html_body = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    provider_message_id = models.CharField(max_length=200, blank=True)
    # The idempotency key of the current attempt, given to the provider; kept when a claimed send
    # whose worker died is tried again, new for a fresh attempt after a failure or a resend.
    attempt_key = models.CharField(max_length=250, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    #: Files that go with the email, by reference, resolved when it is sent (breederhq.email
    #: ATTACHMENT_RESOLVERS): e.g. the invoice's PDF. An email whose attachment cannot be had yet is
    #: not sent yet.
    attachments = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "outbound_emails"
        indexes = [
            models.Index(
                fields=["next_attempt_at"], name="outbound_emails_due_idx", condition=models.Q(status="queued")
            ),
            models.Index(
                fields=["claimed_at"], name="outbound_emails_sending_idx", condition=models.Q(status="sending")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.template} to {', '.join(self.to)} [{self.status}]"
