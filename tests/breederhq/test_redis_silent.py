"""Redis down or silent: a request that enqueues work never waits on the broker.

The broker is pointed at a socket that accepts connections and never answers (a Redis that hangs,
the worst case: a closed port at least fails fast). Each connection to it is held until the test
says the request is over, or until a generous cap; it records whether the request had finished
when the connection ended. A request that published itself would still be waiting on the socket,
so the connection would end (at the cap, or when the client gave up) with the request unfinished.
"""

from __future__ import annotations

import re
import socket
import threading
from pathlib import Path

import pytest
from django.db import transaction

from breederhq.databases import DATABASE_ALIASES, MARKETPLACE_DB, TENANT_DB
from breederhq.jobs.publish_later import wait_until_published
from breederhq.models import OutboundEmail
from breederhq.tenancy import tenant_context
from tenant_app.models import Invoice
from tests.api.conftest import bearer, send_json
from tests.factories.tenant import ContactFactory, TenantFactory, make_invoice
from tests.waiting import wait_until

BASE_DIR = Path(__file__).resolve().parent.parent.parent


class SilentRedis:
    """A listening socket that never answers. `connections` gets one entry per connection:
    whether the request was over (`request_done`) when that connection ended."""

    def __init__(self, cap: float = 20):
        self.cap = cap
        self.request_done = threading.Event()
        self.connections: list[bool] = []
        self.accepted = 0  # connections accepted so far (each one a client's attempt)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(50)
        self.port = self.sock.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._hold, args=(conn,), daemon=True).start()

    def _hold(self, conn):
        conn.settimeout(0.05)
        waited = 0.0
        while not self.request_done.is_set() and waited < self.cap:
            try:
                if conn.recv(65536) == b"":  # the client gave up
                    break
            except TimeoutError:
                waited += 0.05
            except OSError:
                break
        self.connections.append(self.request_done.is_set())
        conn.close()

    def close(self):
        self.closed = True
        self.sock.close()


@pytest.fixture
def silent_broker():
    from config.celery import app

    server = SilentRedis()
    saved = app.conf.broker_url
    app._after_fork()  # forget pooled connections, as Celery does after a fork
    app.conf.broker_url = f"redis://127.0.0.1:{server.port}/0"
    try:
        yield server
    finally:
        server.request_done.set()
        assert wait_until_published(60)
        app._after_fork()
        app.conf.broker_url = saved
        server.close()


@pytest.mark.worker
@pytest.mark.django_db(databases=list(DATABASE_ALIASES), transaction=True)
def test_an_invoice_send_with_redis_silent_answers_without_waiting_and_the_sweep_sends_later(
    silent_broker, celery_worker
):
    kennel = TenantFactory()
    with tenant_context(kennel.pk):
        contact = ContactFactory(tenant=kennel, email="jamie@example.test")
        invoice = make_invoice(contact=contact)
    client = bearer(kennel.owner_user)

    response = send_json(client, "patch", f"/api/v1/invoices/{invoice.pk}/", {"action": "send", "version": 1})
    silent_broker.request_done.set()

    assert response.status_code == 200, response.content
    with tenant_context(kennel.pk):
        assert Invoice.objects.get(pk=invoice.pk).status == "sent"  # committed
    email = OutboundEmail.objects.using(TENANT_DB).get(template="invoice_sent")
    assert email.status == "queued"
    assert wait_until_published(60)
    # The publish was tried (off the request) and every broker connection outlived the request.
    assert silent_broker.connections and all(silent_broker.connections), silent_broker.connections

    # Redis answers again: the beat sweep publishes it and the worker sends it, once.
    from breederhq.tasks import send_due_emails
    from config.celery import app

    app._after_fork()
    app.conf.broker_url = f"redis://{_redis_host_port()}/0"
    assert send_due_emails()["default"] == 1
    assert wait_until(lambda: OutboundEmail.objects.using(TENANT_DB).get(pk=email.pk).status == "sent", timeout=60)


@pytest.mark.django_db(databases=list(DATABASE_ALIASES), transaction=True)
def test_every_enqueue_after_commit_goes_through_the_publisher_thread(silent_broker):
    """The outbox relay and the email send, both enqueued by a committed transaction, are handed to
    the publisher thread: the committing thread returns while the broker hangs."""
    from breederhq.email import email_enqueue
    from breederhq.models import OutboxMessage
    from breederhq.outbox import outbox_enqueue

    with transaction.atomic(using=MARKETPLACE_DB):
        outbox_enqueue(using=MARKETPLACE_DB, topic="crossdb_test.transaction_cancelled", payload={"id": 0})
        email_enqueue(
            using=MARKETPLACE_DB,
            event_key="silent:1",
            template="welcome",
            to=["a@example.test"],
            context={"name": "A", "url": "https://x.test"},
        )
    silent_broker.request_done.set()
    assert wait_until_published(60)
    assert silent_broker.connections and all(silent_broker.connections)
    assert OutboundEmail.objects.using(MARKETPLACE_DB).get(event_key="silent:1").status == "queued"
    assert OutboxMessage.objects.using(MARKETPLACE_DB).get().status == "pending"  # the sweep relays it


def test_nothing_outside_a_worker_publishes_a_task_itself():
    """Services, views and other request code enqueue through breederhq/jobs/publish_later.py
    (after commit, off the request thread); only task modules (running in a worker) and the job
    machinery in breederhq/jobs/ (the publisher thread, beat's scheduler) publish directly."""
    offenders = []
    for package in ("breederhq", "tenant_app", "marketplace_app", "payments_app", "config"):
        for path in (BASE_DIR / package).rglob("*.py"):
            if path.name == "tasks.py" or "migrations" in path.parts:
                continue
            if path.parent == BASE_DIR / "breederhq" / "jobs":
                continue  # the publisher thread, beat's scheduler and the job wrapper themselves
            for number, line in enumerate(path.read_text().splitlines(), 1):
                code = line.split("#", 1)[0]
                if (
                    re.search(r"\.(delay|apply_async|delay_on_commit|send_task)\(", code)
                    and "publish_later" not in code
                ):
                    offenders.append(f"{path.relative_to(BASE_DIR)}:{number}: {line.strip()}")
    assert offenders == []


def _redis_host_port() -> str:
    from django.conf import settings

    return settings.REDIS_URL.split("://", 1)[1].rsplit("/", 1)[0]
