"""`messages` is partitioned by month: partitions exist ahead of time, rows land in the right one,
the command is idempotent, and archival moves rows without losing any."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import connections
from django.utils import timezone

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from marketplace_app import services
from marketplace_app.models import Message, MessageArchive
from marketplace_app.partitions import (
    add_months,
    archive_cutoff,
    archive_messages,
    ensure_message_partitions,
    list_partitions,
    month_start,
    partition_name,
    partition_of,
)
from tests.factories.marketplace import MarketplaceUserFactory, ProviderFactory

# DDL runs on the owner's own connection, so the rows it must see have to be committed.
pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB], transaction=True)


def _thread():
    provider = ProviderFactory()
    buyer = MarketplaceUserFactory()
    return services.message_thread_open(buyer_id=buyer.pk, provider_id=provider.pk, body="hello"), buyer


def test_partitions_exist_for_the_current_and_next_months():
    this_month = month_start(timezone.now())
    partitions = list_partitions()
    assert partition_name(this_month) in partitions
    assert partition_name(add_months(this_month, 1)) in partitions
    assert partitions["messages_default"] == "DEFAULT"
    assert partitions[partition_name(this_month)] == (
        f"FOR VALUES FROM ('{this_month:%Y-%m}-01 00:00:00+00') TO ('{add_months(this_month, 1):%Y-%m}-01 00:00:00+00')"
    )


def test_messages_land_in_the_partition_of_their_month():
    thread, buyer = _thread()
    this_month = month_start(timezone.now())
    next_month = datetime(*add_months(this_month, 1).timetuple()[:3], 0, 0, 5, tzinfo=UTC)
    last_of_this_month = next_month - timedelta(seconds=10)
    far_past = datetime(2001, 3, 4, tzinfo=UTC)

    placed = {
        when: Message.objects.create(thread=thread, sender_id=buyer.pk, body="x", created_at=when)
        for when in (last_of_this_month, next_month, far_past)
    }
    assert partition_of(message_id=placed[last_of_this_month].id, created_at=last_of_this_month) == partition_name(
        this_month
    )
    assert partition_of(message_id=placed[next_month].id, created_at=next_month) == partition_name(
        add_months(this_month, 1)
    )
    assert partition_of(message_id=placed[far_past].id, created_at=far_past) == "messages_default"
    # ids come from one sequence across partitions.
    assert len({m.id for m in placed.values()}) == 3


def test_command_creates_months_ahead_idempotently():
    now = timezone.now()
    first = month_start(now)
    expected = {partition_name(add_months(first, step)) for step in range(7)}
    call_command("message_partitions", "--months-ahead", "6")
    assert expected <= set(list_partitions())
    before = list_partitions()
    assert ensure_message_partitions(months_ahead=6) == []
    assert list_partitions() == before


def test_new_partition_takes_over_rows_that_waited_in_the_default_partition():
    thread, buyer = _thread()
    # The first month from +20 on that no other test of the session has created yet.
    existing, steps = list_partitions(), 20
    while partition_name(add_months(month_start(timezone.now()), steps)) in existing:
        steps += 1
    far_month = add_months(month_start(timezone.now()), steps)
    when = datetime(far_month.year, far_month.month, 15, 12, tzinfo=UTC)
    message = Message.objects.create(thread=thread, sender_id=buyer.pk, body="early", created_at=when)
    assert partition_of(message_id=message.id, created_at=when) == "messages_default"

    created = ensure_message_partitions(months_ahead=steps)

    assert partition_name(far_month) in created
    assert partition_of(message_id=message.id, created_at=when) == partition_name(far_month)
    assert Message.objects.filter(thread=thread).count() == 2
    # The app role can write to the new partition directly, like to the ones made by migrate.
    with connections[MARKETPLACE_DB].cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {partition_name(far_month)}")
        assert cursor.fetchone() == (1,)


def test_archival_moves_only_old_rows_in_batches_without_loss():
    thread, buyer = _thread()
    now = timezone.now()
    cutoff = archive_cutoff(now)
    old = [
        Message.objects.create(
            thread=thread,
            sender_id=buyer.pk,
            body=f"old {i}",
            created_at=cutoff - timedelta(days=1 + i),
            read_at=cutoff,
        )
        for i in range(7)
    ]
    recent = Message.objects.create(
        thread=thread, sender_id=buyer.pk, body="recent", created_at=cutoff + timedelta(days=1)
    )
    before = {(m.id, m.created_at, m.body, m.read_at) for m in Message.objects.filter(thread=thread)}
    total_before = Message.objects.count() + MessageArchive.objects.count()

    moved = archive_messages(batch_size=3, now=now)

    assert moved == 7
    assert Message.objects.count() + MessageArchive.objects.count() == total_before
    assert set(MessageArchive.objects.values_list("id", flat=True)) == {m.id for m in old}
    remaining = set(Message.objects.filter(thread=thread).values_list("id", flat=True))
    assert recent.id in remaining and not remaining & {m.id for m in old}
    after = {(m.id, m.created_at, m.body, m.read_at) for m in Message.objects.filter(thread=thread)} | {
        (a.id, a.created_at, a.body, a.read_at) for a in MessageArchive.objects.filter(thread=thread)
    }
    assert after == before
    assert archive_messages(batch_size=3, now=now) == 0


def test_archive_command_moves_two_year_old_messages():
    thread, buyer = _thread()
    ancient = Message.objects.create(
        thread=thread, sender_id=buyer.pk, body="ancient", created_at=timezone.now() - timedelta(days=2 * 366 + 1)
    )
    call_command("archive_messages", "--batch-size", "1")
    assert MessageArchive.objects.filter(id=ancient.id, body="ancient").count() == 1
    assert not Message.objects.filter(id=ancient.id).exists()


def test_an_interrupted_archival_loses_nothing_and_the_next_run_finishes():
    thread, buyer = _thread()
    cutoff = archive_cutoff(timezone.now())
    for i in range(5):
        Message.objects.create(
            thread=thread, sender_id=buyer.pk, body=f"old {i}", created_at=cutoff - timedelta(hours=1 + i)
        )
    total = Message.objects.count() + MessageArchive.objects.count()

    assert archive_messages(batch_size=2, max_batches=1) == 2  # stopped after one batch
    assert (Message.objects.count(), MessageArchive.objects.count()) == (4, 2)
    assert Message.objects.count() + MessageArchive.objects.count() == total

    assert archive_messages(batch_size=2) == 3
    assert (Message.objects.count(), MessageArchive.objects.count()) == (1, 5)
