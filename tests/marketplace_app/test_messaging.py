"""Threads: only participants see them, reads are per participant, blocks are enforced."""

import pytest

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.errors import NotFound, PermissionDenied
from marketplace_app import selectors, services
from marketplace_app.models import MarketplaceContact, MarketplaceTransaction, Message, MessageThread, UserBlock
from tests.factories.marketplace import MarketplaceUserFactory, ProviderFactory, make_listing

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])


@pytest.fixture
def provider():
    return ProviderFactory()


@pytest.fixture
def buyer():
    return MarketplaceUserFactory()


def test_open_thread_records_first_message_and_contact(provider, buyer):
    thread = services.message_thread_open(buyer_id=buyer.pk, provider_id=provider.pk, subject="Hi", body="Available?")
    messages = list(Message.objects.filter(thread=thread).values_list("sender_id", "body"))
    assert messages == [(buyer.pk, "Available?")]
    contact = MarketplaceContact.objects.get(provider=provider, user=buyer)
    assert contact.first_contact_at == contact.last_contact_at == thread.created_at


def test_only_participants_see_and_write_to_a_thread(provider, buyer):
    thread = services.message_thread_open(buyer_id=buyer.pk, provider_id=provider.pk, body="Hello")
    stranger = MarketplaceUserFactory()
    assert [t.pk for t in selectors.thread_list_for_user(user_id=buyer.pk)] == [thread.pk]
    assert [t.pk for t in selectors.thread_list_for_user(user_id=provider.user_id)] == [thread.pk]
    assert list(selectors.thread_list_for_user(user_id=stranger.pk)) == []
    with pytest.raises(NotFound):
        selectors.thread_get_for_user(thread_id=thread.pk, user_id=stranger.pk)
    with pytest.raises(NotFound):
        selectors.message_list(thread_id=thread.pk, user_id=stranger.pk)
    with pytest.raises(NotFound):
        services.message_send(thread_id=thread.pk, sender_id=stranger.pk, body="let me in")
    with pytest.raises(NotFound):
        services.message_thread_mark_read(thread_id=thread.pk, reader_id=stranger.pk)
    assert Message.objects.filter(thread=thread).count() == 1


def test_reads_are_marked_per_participant(provider, buyer):
    thread = services.message_thread_open(buyer_id=buyer.pk, provider_id=provider.pk, body="b1")
    services.message_send(thread_id=thread.pk, sender_id=buyer.pk, body="b2")
    services.message_send(thread_id=thread.pk, sender_id=provider.user_id, body="p1")

    assert selectors.unread_count(thread_id=thread.pk, user_id=provider.user_id) == 2
    assert selectors.unread_count(thread_id=thread.pk, user_id=buyer.pk) == 1

    assert services.message_thread_mark_read(thread_id=thread.pk, reader_id=provider.user_id) == 2
    assert selectors.unread_count(thread_id=thread.pk, user_id=provider.user_id) == 0
    # The buyer's own unread message from the provider is untouched by the provider's read.
    assert selectors.unread_count(thread_id=thread.pk, user_id=buyer.pk) == 1
    read = dict(Message.objects.filter(thread=thread).values_list("body", "read_at"))
    assert read["p1"] is None and read["b1"] is not None and read["b2"] is not None
    assert services.message_thread_mark_read(thread_id=thread.pk, reader_id=provider.user_id) == 0


def test_message_list_is_newest_first_with_a_keyset_cursor(provider, buyer):
    thread = services.message_thread_open(buyer_id=buyer.pk, provider_id=provider.pk, body="m0")
    for i in range(1, 5):
        services.message_send(thread_id=thread.pk, sender_id=buyer.pk, body=f"m{i}")
    first_page = selectors.message_list(thread_id=thread.pk, user_id=buyer.pk, limit=2)
    assert [m.body for m in first_page] == ["m4", "m3"]
    cursor = (first_page[-1].created_at, first_page[-1].id)
    second_page = selectors.message_list(thread_id=thread.pk, user_id=buyer.pk, before=cursor, limit=10)
    assert [m.body for m in second_page] == ["m2", "m1", "m0"]


def test_blocked_user_cannot_open_threads_message_or_buy(provider, buyer):
    listing = make_listing(provider)
    thread = services.message_thread_open(buyer_id=buyer.pk, provider_id=provider.pk, body="before block")
    services.user_block_create(provider_id=provider.pk, user_id=buyer.pk, reason="spam")
    assert services.user_block_create(provider_id=provider.pk, user_id=buyer.pk).reason == "spam"
    assert UserBlock.objects.count() == 1

    with pytest.raises(PermissionDenied) as refused:
        services.message_thread_open(buyer_id=buyer.pk, provider_id=provider.pk, body="again")
    assert refused.value.code == "blocked_by_provider"
    with pytest.raises(PermissionDenied):
        services.message_send(thread_id=thread.pk, sender_id=buyer.pk, body="still there?")
    with pytest.raises(PermissionDenied):
        services.transaction_create(provider_id=provider.pk, client_id=buyer.pk, listing_id=listing.pk)

    # Nothing happened on the refused paths.
    assert MessageThread.objects.count() == 1
    assert list(Message.objects.values_list("body", flat=True)) == ["before block"]
    assert MarketplaceTransaction.objects.count() == 0
    provider.refresh_from_db()
    assert provider.total_transactions == 0

    # The provider can still write to them, and other users are unaffected.
    services.message_send(thread_id=thread.pk, sender_id=provider.user_id, body="goodbye")
    other = MarketplaceUserFactory()
    services.message_thread_open(buyer_id=other.pk, provider_id=provider.pk, body="hi")
    services.transaction_create(provider_id=provider.pk, client_id=other.pk, listing_id=listing.pk)

    assert services.user_block_delete(provider_id=provider.pk, user_id=buyer.pk) == 1
    services.message_send(thread_id=thread.pk, sender_id=buyer.pk, body="unblocked")


def test_a_block_by_one_provider_does_not_affect_another(provider, buyer):
    other_provider = ProviderFactory()
    services.user_block_create(provider_id=provider.pk, user_id=buyer.pk)
    thread = services.message_thread_open(buyer_id=buyer.pk, provider_id=other_provider.pk, body="hi")
    assert thread.provider_id == other_provider.pk
    assert selectors.is_blocked(provider_id=provider.pk, user_id=buyer.pk) is True
    assert selectors.is_blocked(provider_id=other_provider.pk, user_id=buyer.pk) is False


def test_deleted_provider_cannot_be_contacted(provider, buyer):
    services.provider_delete(provider_id=provider.pk)
    with pytest.raises(NotFound):
        services.message_thread_open(buyer_id=buyer.pk, provider_id=provider.pk, body="hello?")
    assert MessageThread.objects.count() == 0


def _thread_over_months(provider, buyer, *, per_month: dict[int, int]) -> tuple[MessageThread, list[Message]]:
    """A thread opened on the first of this month with `per_month[k]` messages on day 10 of month
    this+k (the migration makes partitions for this month and the next two); returns it and its messages, newest first."""
    from datetime import UTC, datetime, timedelta

    from django.utils import timezone

    from marketplace_app.partitions import add_months, list_partitions, month_start, partition_name

    this_month = month_start(timezone.now())
    assert all(partition_name(add_months(this_month, k)) in list_partitions() for k in per_month)
    opened = datetime(*this_month.timetuple()[:3], tzinfo=UTC)
    thread = services.message_thread_open(buyer_id=buyer.pk, provider_id=provider.pk, body="opening")
    Message.objects.filter(thread=thread).update(created_at=opened)
    messages = [
        Message.objects.create(
            thread=thread,
            sender_id=buyer.pk,
            body=f"{k}/{i}",
            created_at=datetime(*add_months(this_month, k).timetuple()[:3], 10, tzinfo=UTC) + timedelta(minutes=i),
        )
        for k, count in sorted(per_month.items())
        for i in range(count)
    ]
    MessageThread.objects.filter(pk=thread.pk).update(created_at=opened, last_message_at=messages[-1].created_at)
    everything = list(Message.objects.filter(thread=thread).order_by("-created_at", "-id"))
    return thread, everything


def _partitions_scanned(captured) -> set[str]:
    """The `messages` partitions in the plans of the captured page queries."""
    import json
    import re

    from django.db import connections

    scanned = set()
    with connections[MARKETPLACE_DB].cursor() as cursor:
        for query in captured:
            if '"messages"' not in query["sql"]:
                continue
            cursor.execute(f"EXPLAIN (FORMAT JSON) {query['sql']}")
            scanned |= set(re.findall(r'"(messages_(?:p\d{4}_\d{2}|default))"', json.dumps(cursor.fetchone()[0])))
    return scanned


def test_a_deep_message_page_reads_only_the_partitions_of_its_window(provider, buyer):
    """The cursor's page is bounded on both sides of `created_at`, aligned with the monthly
    partitions: PostgreSQL opens the cursor's month, and the months before only when the page
    reaches into them, never the partitions of the rest of the thread's history."""
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    from marketplace_app.partitions import add_months, month_start, partition_name

    thread, everything = _thread_over_months(provider, buyer, per_month={0: 5, 1: 5, 2: 5})
    span = selectors.thread_span_for_user(thread_id=thread.pk, user_id=buyer.pk)
    month = month_start(everything[0].created_at)  # month 2: the newest

    with CaptureQueriesContext(connections[MARKETPLACE_DB]) as captured:
        page = selectors.message_page(
            thread_id=thread.pk, span=span, before=(everything[2].created_at, everything[2].id), limit=2
        )
    assert [m.pk for m in page] == [m.pk for m in everything[3:5]]
    assert len(captured) == 1
    assert _partitions_scanned(captured) == {partition_name(month)}

    with CaptureQueriesContext(connections[MARKETPLACE_DB]) as captured:
        page = selectors.message_page(
            thread_id=thread.pk, span=span, before=(everything[4].created_at, everything[4].id), limit=5
        )
    assert [m.pk for m in page] == [m.pk for m in everything[5:10]]  # month 1's
    assert len(captured) == 2  # the cursor's month (nothing older in it), then the two before
    assert _partitions_scanned(captured) == {partition_name(add_months(month, k)) for k in (0, -1, -2)}


def test_message_pages_walk_a_sparse_thread_in_widening_windows(provider, buyer):
    """A quiet thread's page reaches back through wider windows down to the thread's creation;
    walking every page returns each message once, in order."""
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    thread, everything = _thread_over_months(provider, buyer, per_month={0: 2, 2: 1})
    span = selectors.thread_span_for_user(thread_id=thread.pk, user_id=buyer.pk)

    with CaptureQueriesContext(connections[MARKETPLACE_DB]) as captured:
        newest = selectors.message_page(thread_id=thread.pk, span=span, limit=50)
    assert [m.pk for m in newest] == [m.pk for m in everything]
    # The newest message's month: one message, short; the next window (the two months before)
    # reaches the thread's creation, so it is the last.
    assert len(captured) == 2

    walked, before = [], None
    while True:
        page = selectors.message_page(thread_id=thread.pk, span=span, before=before, limit=2)
        walked += page
        if len(page) < 2:
            break
        before = (page[-1].created_at, page[-1].id)
    assert [m.pk for m in walked] == [m.pk for m in everything]

    values = selectors.message_page(thread_id=thread.pk, span=span, limit=2, values=("id", "body"))
    assert values == [{"id": m.id, "body": m.body} for m in everything[:2]]


@pytest.mark.slow
@pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB], transaction=True)
@pytest.mark.parametrize("action", ["buy", "open_thread", "message"])
def test_an_action_racing_a_block_waits_for_it_and_is_refused(action):
    """The block is created but not yet committed when the buyer acts: the buyer's action waits for
    the provider row lock and then sees the block. Without the lock it would slip through."""
    import threading

    from django.db import connections, transaction

    provider, buyer = ProviderFactory(), MarketplaceUserFactory()
    listing = make_listing(provider)
    thread = services.message_thread_open(buyer_id=buyer.pk, provider_id=provider.pk, body="hi")
    block_written, release_block = threading.Event(), threading.Event()
    outcome = []

    def block():
        try:
            with transaction.atomic(using=MARKETPLACE_DB):
                services.user_block_create(provider_id=provider.pk, user_id=buyer.pk)
                block_written.set()
                release_block.wait(timeout=30)
        finally:
            connections.close_all()

    def act():
        try:
            if action == "buy":
                services.transaction_create(provider_id=provider.pk, client_id=buyer.pk, listing_id=listing.pk)
            elif action == "open_thread":
                services.message_thread_open(buyer_id=buyer.pk, provider_id=provider.pk, body="again")
            else:
                services.message_send(thread_id=thread.pk, sender_id=buyer.pk, body="still there?")
            outcome.append("done")
        except PermissionDenied:
            outcome.append("refused")
        finally:
            connections.close_all()

    blocker = threading.Thread(target=block)
    blocker.start()
    assert block_written.wait(timeout=30)
    actor = threading.Thread(target=act)
    actor.start()
    actor.join(timeout=1)
    waited = actor.is_alive()
    release_block.set()
    blocker.join()
    actor.join()

    assert waited is True
    assert outcome == ["refused"]
    assert MarketplaceTransaction.objects.count() == 0
    assert MessageThread.objects.count() == 1
    assert list(Message.objects.values_list("body", flat=True)) == ["hi"]


def test_deleted_or_unknown_users_cannot_buy_or_open_threads(provider, buyer):
    buyer.delete()
    for user_id in (buyer.pk, 987654):
        with pytest.raises(NotFound):
            services.transaction_create(provider_id=provider.pk, client_id=user_id, amount_cents=1)
        with pytest.raises(NotFound):
            services.message_thread_open(buyer_id=user_id, provider_id=provider.pk, body="hi")
    assert (MarketplaceTransaction.objects.count(), MessageThread.objects.count()) == (0, 0)


def test_a_message_page_returns_message_fields_only(provider, buyer):
    thread, everything = _thread_over_months(provider, buyer, per_month={0: 2})
    span = selectors.thread_span_for_user(thread_id=thread.pk, user_id=buyer.pk)
    rows = selectors.message_page(
        thread_id=thread.pk,
        span=span,
        limit=5,
        values=("id", "thread_id", "sender_id", "body", "read_at", "created_at"),
    )
    assert rows == list(
        Message.objects.filter(thread=thread)
        .order_by("-created_at", "-id")
        .values("id", "thread_id", "sender_id", "body", "read_at", "created_at")
    )
    with pytest.raises(ValueError):
        selectors.message_page(thread_id=thread.pk, span=span, values=("thread__subject",))
