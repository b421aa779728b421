from django.db import models


class IdempotencyKey(models.Model):
    """One `Idempotency-Key` a client sent, with the response it got (docs/security/data-layer.md).

    Lives in the database the request writes to, so the stored response commits in the same
    transaction as the request's effect: either both are there or neither is.
    """

    class Status(models.TextChoices):
        IN_FLIGHT = "in_flight", "In flight"
        COMPLETED = "completed", "Completed"

    key = models.CharField(max_length=255)
    #: Who sent it: keys are private to a user (or an anonymous client's scope).
    scope = models.CharField(max_length=120)
    #: Where it acted: `tenant:<id>` for a tenant endpoint, `marketplace:<marketplace user id>` for a
    #: marketplace one, `none` when neither applies. The same user's key in another tenant is
    #: another key. '' only on rows written before the column existed (they expire within 24 h).
    context = models.CharField(max_length=120, default="", db_default="", blank=True)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    request_fingerprint = models.CharField(max_length=64)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.IN_FLIGHT)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_content_type = models.CharField(max_length=100, blank=True)
    response_body = models.TextField(blank=True)
    #: The response headers a client relies on (ETag, Location, ...), replayed with the body.
    response_headers = models.JSONField(default=dict, db_default={}, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        db_table = "idempotency_keys"
        constraints = [
            models.UniqueConstraint(
                fields=["scope", "context", "method", "path", "key"], name="idempotency_keys_unique_in_context"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.path} [{self.key}] {self.status}"
