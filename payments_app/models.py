from django.db import models

from breederhq.crossdb import CrossDatabaseReference, CrossDatabaseReferencesManager, CrossDatabaseReferencesMixin


class StripeConnectAccount(CrossDatabaseReferencesMixin, models.Model):
    """A Stripe Connect account of a breeder (tenant) or a non-breeder service provider.

    Its capability flags are kept current from `account.updated` events; `last_event_created` makes
    an older event that arrives late change nothing.

    A platform table, not tenant-owned data: it holds providers' accounts too, and webhook workers
    look accounts up by Stripe id before any tenant is known. Hence `owner_tenant`, not `tenant_id`
    (the RLS walk in tests/tenant_app/test_isolation.py treats every `tenant_id` as tenant-owned).
    Tenants reach their account only through services that check their membership.
    """

    class OwnerType(models.TextChoices):
        TENANT = "tenant", "Breeder (tenant)"
        PROVIDER = "provider", "Service provider"

    class Status(models.TextChoices):
        PENDING = "pending", "Onboarding"
        ENABLED = "enabled", "Enabled"
        RESTRICTED = "restricted", "Restricted"
        DISABLED = "disabled", "Disabled"

    stripe_account_id = models.CharField(max_length=50, unique=True)
    owner_type = models.CharField(max_length=20, choices=OwnerType.choices)
    owner_tenant = models.OneToOneField(
        "tenant_app.Tenant", null=True, blank=True, on_delete=models.PROTECT, related_name="stripe_account"
    )
    provider_id = CrossDatabaseReference("marketplace_app.Provider", null=True, blank=True, unique=True)
    charges_enabled = models.BooleanField(default=False)
    payouts_enabled = models.BooleanField(default=False)
    details_submitted = models.BooleanField(default=False)
    disabled_reason = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    last_event_created = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)


    objects = CrossDatabaseReferencesManager()  # bulk_create records references too
    class Meta:
        db_table = "stripe_connect_accounts"
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(owner_type="tenant", owner_tenant__isnull=False, provider_id__isnull=True)
                    | models.Q(owner_type="provider", owner_tenant__isnull=True, provider_id__isnull=False)
                ),
                name="stripe_connect_accounts_one_owner",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.stripe_account_id} ({self.status})"

    @property
    def can_take_payments(self) -> bool:
        return self.status == self.Status.ENABLED


class StripeWebhookEvent(models.Model):
    """The inbox: every verified Stripe event, stored before it is processed (DESIGN section 7).

    The unique `stripe_event_id` makes a duplicate delivery a no-op at the database, not a
    check-then-act race. Processing happens in a worker; a failure is retried with backoff and, after
    `MAX_ATTEMPTS`, dead-lettered for support staff.
    """

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed, will retry"
        DEAD = "dead", "Dead-lettered"
        IGNORED = "ignored", "Ignored (no handler)"

    stripe_event_id = models.CharField(max_length=100, unique=True)
    event_type = models.CharField(max_length=100, db_index=True)
    stripe_account_id = models.CharField(max_length=50, blank=True)
    livemode = models.BooleanField(default=False)
    stripe_created = models.DateTimeField()
    #: The id of the object the event is about (in_..., pi_..., ch_..., acct_...).
    object_id = models.CharField(max_length=100, blank=True, db_index=True)
    payload = models.JSONField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RECEIVED)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    #: What processing concluded, for support staff (e.g. "ignored: would move invoice backwards").
    outcome = models.CharField(max_length=300, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "stripe_webhook_events"
        indexes = [
            models.Index(
                fields=["next_attempt_at"], name="stripe_events_due_idx",
                condition=models.Q(status__in=["received", "failed"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.stripe_event_id} {self.event_type} [{self.status}]"
