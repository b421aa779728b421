"""Messaging between buyers and providers: threads, messages, read marks."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from breederhq.email import email_enqueue
from breederhq.errors import Gone, NotFound, ValidationFailed
from marketplace_app.models import MarketplaceUser, Message, MessageThread, Provider, ServiceListing
from marketplace_app.provider_suspension import require_not_suspended
from marketplace_app.services.common import (
    DB,
    _get_locked,
    _live_provider,
    _refuse_if_blocked,
    _require_live_user,
    _touch_contact,
)


def _thread_participant_ids(thread: MessageThread) -> tuple[int, int]:
    provider_user_id = Provider.all_objects.using(DB).values_list("user_id", flat=True).get(pk=thread.provider_id)
    return thread.buyer_id, provider_user_id


def message_thread_open(
    *, buyer_id: int, provider_id: int, body: str, subject: str = "", listing_id: int | None = None
) -> MessageThread:
    if not body.strip():
        raise ValidationFailed("A message cannot be empty.", field_errors={"body": ["Required."]})
    with transaction.atomic(using=DB):
        provider = _live_provider(provider_id)
        require_not_suspended(provider.pk)
        _require_live_user(buyer_id)
        _refuse_if_blocked(provider_id=provider.pk, user_id=buyer_id, action="message them")
        if provider.user_id == buyer_id:
            raise ValidationFailed("You cannot open a thread with yourself.")
        if (
            listing_id is not None
            and not ServiceListing.objects.using(DB).filter(pk=listing_id, provider_id=provider.pk).exists()
        ):
            raise ValidationFailed("That listing is not this provider's.", field_errors={"listing_id": ["Unknown."]})
        now = timezone.now()
        thread = MessageThread.objects.using(DB).create(
            provider=provider,
            buyer_id=buyer_id,
            listing_id=listing_id,
            subject=subject,
            last_message_at=now,
            created_at=now,
        )
        first = Message.objects.using(DB).create(thread=thread, sender_id=buyer_id, body=body, created_at=now)
        _touch_contact(provider_id=provider.pk, user_id=buyer_id, at=now)
        _email_new_message(thread, first, recipient_id=provider.user_id)
    return thread


def message_send(*, thread_id: int, sender_id: int, body: str) -> Message:
    if not body.strip():
        raise ValidationFailed("A message cannot be empty.", field_errors={"body": ["Required."]})
    with transaction.atomic(using=DB):
        # The lock orders messages of one thread with the block check below.
        thread = _get_locked(MessageThread, thread_id)
        buyer_id, provider_user_id = _thread_participant_ids(thread)
        if sender_id not in (buyer_id, provider_user_id):
            # Same answer as for a thread that does not exist: non-participants learn nothing.
            raise NotFound(f"MessageThread #{thread_id} does not exist")
        if sender_id == buyer_id:
            if not MarketplaceUser.objects.using(DB).filter(pk=provider_user_id).exists():
                raise Gone("This provider's account was erased: it takes no new messages.", code="provider_gone")
            _refuse_if_blocked(provider_id=thread.provider_id, user_id=buyer_id, action="message them")
        now = timezone.now()
        message = Message.objects.using(DB).create(thread=thread, sender_id=sender_id, body=body, created_at=now)
        MessageThread.objects.using(DB).filter(pk=thread.pk).update(last_message_at=now)
        if sender_id == buyer_id:
            _touch_contact(provider_id=thread.provider_id, user_id=buyer_id, at=now)
        _email_new_message(thread, message, recipient_id=provider_user_id if sender_id == buyer_id else buyer_id)
    return message


def _email_new_message(thread: MessageThread, message: Message, *, recipient_id: int) -> None:
    recipient = MarketplaceUser.all_objects.using(DB).filter(pk=recipient_id, deleted_at__isnull=True).first()
    if recipient is None:
        return
    sender_name = MarketplaceUser.all_objects.using(DB).values_list("display_name", flat=True).get(pk=message.sender_id)
    email_enqueue(
        using=DB,
        event_key=f"marketplace_message:{message.pk}",
        template="marketplace_new_message",
        to=[recipient.email],
        context={
            "recipient": recipient.display_name,
            "sender": sender_name,
            "subject": thread.subject,
            "excerpt": message.body[:200],
        },
    )


def message_thread_mark_read(*, thread_id: int, reader_id: int) -> int:
    """Marks read what the *other* participant sent; returns how many messages changed."""
    with transaction.atomic(using=DB):
        try:
            thread = MessageThread.objects.using(DB).get(pk=thread_id)
        except MessageThread.DoesNotExist:
            raise NotFound(f"MessageThread #{thread_id} does not exist") from None
        if reader_id not in _thread_participant_ids(thread):
            raise NotFound(f"MessageThread #{thread_id} does not exist")
        return (
            Message.objects.using(DB)
            .filter(thread_id=thread_id, read_at__isnull=True)
            .exclude(sender_id=reader_id)
            .update(read_at=timezone.now())
        )
