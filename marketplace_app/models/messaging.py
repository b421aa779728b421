"""Messaging between buyers and providers: threads, messages, their archive, and providers' blocks of users."""

from __future__ import annotations

from django.db import models
from django.db.models import F
from django.utils import timezone

from marketplace_app.models.listings import ServiceListing
from marketplace_app.models.providers import Provider
from marketplace_app.models.transactions import MarketplaceTransaction
from marketplace_app.models.users import MarketplaceUser


class MessageThread(models.Model):
    """A conversation between one buyer and one provider. Its two participants are `buyer` and the
    provider's user; nobody else may read it."""

    id = models.BigAutoField(primary_key=True)
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="threads")
    buyer = models.ForeignKey(MarketplaceUser, on_delete=models.PROTECT, related_name="threads")
    listing = models.ForeignKey(ServiceListing, on_delete=models.SET_NULL, null=True, blank=True)
    transaction = models.ForeignKey(MarketplaceTransaction, on_delete=models.SET_NULL, null=True, blank=True)
    subject = models.CharField(max_length=200, blank=True, default="")
    last_message_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "message_threads"
        indexes = [
            models.Index(F("buyer"), F("last_message_at").desc(), name="msg_threads_buyer_recent"),
            models.Index(F("provider"), F("last_message_at").desc(), name="msg_threads_provider_recent"),
        ]

    def __str__(self) -> str:
        return f"Thread #{self.pk}: " + (
            self.subject[:80] or f"user #{self.buyer_id} with provider #{self.provider_id}"
        )


class Message(models.Model):
    """One message. `messages` is RANGE-partitioned by `created_at` (monthly partitions
    `messages_pYYYY_MM` plus `messages_default`), created by SQL in the migration, so the primary key
    must include the partition key: (id, created_at). `id` comes from the `messages_id_seq` sequence.

    `read_at` is set when the message's recipient (the participant who did not send it) reads it.
    Always insert with `Message.objects.create(...)`.
    """

    pk = models.CompositePrimaryKey("id", "created_at")
    id = models.BigIntegerField(db_default=models.Func(models.Value("messages_id_seq"), function="nextval"))
    created_at = models.DateTimeField(default=timezone.now)
    thread = models.ForeignKey(MessageThread, on_delete=models.CASCADE, related_name="messages")
    sender = models.ForeignKey(MarketplaceUser, on_delete=models.PROTECT, related_name="+")
    body = models.TextField()
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "messages"
        indexes = [
            # The thread's newest-first index plus the keyset's tie-breaker `id`: a cursor page is then read in
            # index order across partitions (Merge Append, no Sort node; bench/run.py checks).
            models.Index(
                F("thread"), F("created_at").desc(), F("id").desc(), include=["read_at"], name="messages_thread_created"
            ),
        ]

    def __str__(self) -> str:
        return f"Message #{self.id} in thread #{self.thread_id}"


class MessageArchive(models.Model):
    """Messages older than two years, moved out of `messages` by `manage.py archive_messages`.
    Same ids as they had in `messages`."""

    id = models.BigIntegerField(primary_key=True)
    created_at = models.DateTimeField()
    thread = models.ForeignKey(MessageThread, on_delete=models.CASCADE, related_name="archived_messages")
    sender = models.ForeignKey(MarketplaceUser, on_delete=models.PROTECT, related_name="+")
    body = models.TextField()
    read_at = models.DateTimeField(null=True, blank=True)
    archived_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "message_archive"
        indexes = [models.Index(F("thread"), F("created_at").desc(), name="message_archive_thread_created")]

    def __str__(self) -> str:
        return f"Archived message #{self.id} in thread #{self.thread_id}"


class UserBlock(models.Model):
    """A provider blocks a user: the user can no longer open threads with, message or buy from it."""

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="blocks")
    blocked_user = models.ForeignKey(MarketplaceUser, on_delete=models.CASCADE, related_name="blocked_by")
    reason = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "marketplace_user_blocks"
        constraints = [
            models.UniqueConstraint(fields=["provider", "blocked_user"], name="marketplace_user_blocks_one_per_pair"),
        ]

    def __str__(self) -> str:
        return f"Provider #{self.provider_id} blocks user #{self.blocked_user_id}"
