"""Messaging: threads, messages, their pages, and providers' blocks of users."""

from __future__ import annotations

from rest_framework import serializers

from marketplace_app.api.serializers.providers import ProviderRef
from tenant_app.api.serializers import StrictSerializer


class UserRef(serializers.Serializer):
    id = serializers.IntegerField()
    display_name = serializers.CharField()


class ThreadOut(serializers.Serializer):
    id = serializers.IntegerField()
    subject = serializers.CharField()
    provider = ProviderRef()
    buyer = UserRef()
    listing_id = serializers.IntegerField(allow_null=True)
    last_message_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class ThreadIn(StrictSerializer):
    provider_id = serializers.IntegerField(min_value=1)
    body = serializers.CharField(max_length=10_000)
    subject = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    listing_id = serializers.IntegerField(min_value=1, required=False, allow_null=True, default=None)


class MessageOut(serializers.Serializer):
    id = serializers.IntegerField()
    thread_id = serializers.IntegerField()
    sender_id = serializers.IntegerField()
    body = serializers.CharField()
    read_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class MessageIn(StrictSerializer):
    body = serializers.CharField(max_length=10_000)


class MessagePageOut(serializers.Serializer):
    next = serializers.CharField(allow_null=True, help_text="Pass as `cursor` for older messages.")
    results = MessageOut(many=True)


class BlockOut(serializers.Serializer):
    blocked_user = UserRef()
    reason = serializers.CharField()
    created_at = serializers.DateTimeField()


class BlockIn(StrictSerializer):
    user_id = serializers.IntegerField(min_value=1)
    reason = serializers.CharField(required=False, allow_blank=True, default="")
