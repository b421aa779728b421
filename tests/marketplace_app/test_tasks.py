"""The periodic marketplace tasks run in a real worker process against the test databases."""

from datetime import timedelta

import pytest
from django.utils import timezone

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from marketplace_app import services, tasks
from marketplace_app.models import Message, MessageArchive, Provider
from marketplace_app.partitions import add_months, list_partitions, month_start, partition_name
from tests.factories.marketplace import MarketplaceUserFactory, ProviderFactory, make_listing

# The worker reads what the test wrote, so the rows must be committed.
pytestmark = [pytest.mark.worker, pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB], transaction=True)]


def test_maintenance_tasks_in_a_worker(celery_worker):
    far = partition_name(add_months(month_start(timezone.now()), 30))
    created = tasks.ensure_message_partitions.delay(months_ahead=30).get(timeout=60)
    assert far in created and far in list_partitions()
    assert tasks.ensure_message_partitions.delay(months_ahead=30).get(timeout=60) == []

    provider = ProviderFactory()
    buyer = MarketplaceUserFactory()
    thread = services.message_thread_open(buyer_id=buyer.pk, provider_id=provider.pk, body="new")
    old = Message.objects.create(
        thread=thread, sender_id=buyer.pk, body="old", created_at=timezone.now() - timedelta(days=800)
    )
    assert tasks.archive_old_messages.delay(batch_size=10).get(timeout=60) == 1
    assert list(MessageArchive.objects.values_list("id", flat=True)) == [old.id]

    make_listing(provider)
    assert tasks.provider_stats_check.delay().get(timeout=60) == []
    Provider.objects.filter(pk=provider.pk).update(total_listings=9)
    assert tasks.provider_stats_check.delay().get(timeout=60) == [
        {"provider_id": provider.pk, "business_name": provider.business_name, "fields": {"total_listings": [9, 1]}}
    ]
    assert tasks.expire_pending_confirmations.delay().get(timeout=60) == 0
