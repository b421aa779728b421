"""Business email: recorded with its event, sent by a worker, retried, never sent twice."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction

from breederhq.databases import DATABASE_ALIASES, MARKETPLACE_DB, TENANT_DB
from breederhq.email import email_enqueue, email_resend, email_send, emails_due
from breederhq.models import OutboundEmail
from tests.fakes.email_backend import delivered
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db(databases=list(DATABASE_ALIASES))
CONTEXT = {"name": "Ada", "url": "https://breederhq.test/welcome"}


def enqueue(key="welcome:1", using=TENANT_DB):
    return email_enqueue(using=using, event_key=key, template="welcome", to=["ada@example.test"], context=CONTEXT)


def test_enqueue_renders_text_and_html_and_is_idempotent_per_event():
    first = enqueue()
    again = enqueue()
    assert first.pk == again.pk
    assert OutboundEmail.objects.using(TENANT_DB).count() == 1
    assert first.subject == "Welcome to BreederHQ, Ada"
    assert "Your BreederHQ account is ready: https://breederhq.test/welcome" in first.text_body
    assert '<a href="https://breederhq.test/welcome">' in first.html_body
    assert first.status == "queued"


def test_the_subject_and_text_read_as_written_and_only_the_html_is_escaped():
    email = email_enqueue(
        using=TENANT_DB,
        event_key="invoice_sent:escape",
        template="invoice_sent",
        to=["maya@example.test"],
        context={"tenant": "Jo's <Kennels> & Co", "invoice_number": "JO-1", "total": "500.00 USD", "name": "Maya"},
    )
    assert email.subject == "Jo's <Kennels> & Co: invoice JO-1 (500.00 USD)"
    assert "Jo's <Kennels> & Co" in email.text_body and "&#x27;" not in email.text_body
    assert "Jo&#x27;s &lt;Kennels&gt; &amp; Co" in email.html_body


def test_an_email_lives_in_the_database_of_its_event():
    enqueue(using=MARKETPLACE_DB)
    assert OutboundEmail.objects.using(MARKETPLACE_DB).count() == 1
    assert OutboundEmail.objects.using(TENANT_DB).count() == 0


def test_an_event_rolled_back_leaves_no_email():
    with pytest.raises(RuntimeError), transaction.atomic(using=TENANT_DB):
        enqueue()
        raise RuntimeError("the event failed")
    assert not OutboundEmail.objects.using(TENANT_DB).exists()


def test_send_delivers_once_with_both_parts():
    email = enqueue()
    email_send(using=TENANT_DB, pk=email.pk)
    email_send(using=TENANT_DB, pk=email.pk)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ada@example.test"]
    assert message.alternatives[0][1] == "text/html"
    assert message.extra_headers["X-BreederHQ-Event"] == "welcome:1"
    email.refresh_from_db()
    assert (email.status, email.attempts) == ("sent", 1)
    assert email.sent_at is not None


def test_failures_back_off_then_give_up_and_support_can_resend(settings, tmp_path, monkeypatch):
    settings.EMAIL_BACKEND = "tests.fakes.email_backend.FlakyFileBackend"
    settings.EMAIL_MAX_ATTEMPTS = 2
    monkeypatch.setenv("FLAKY_EMAIL_DIR", str(tmp_path))
    monkeypatch.setenv("FLAKY_EMAIL_FAILURES", "2")
    email = enqueue()
    email = email_send(using=TENANT_DB, pk=email.pk)
    assert (email.status, email.attempts) == ("queued", 1)
    assert email.last_error == "ConnectionError: simulated provider outage #1"
    assert email.pk not in emails_due(using=TENANT_DB)  # backing off
    email = email_send(using=TENANT_DB, pk=email.pk)
    assert (email.status, email.attempts, email.next_attempt_at) == ("failed", 2, None)
    assert delivered(tmp_path) == []
    email_resend(using=TENANT_DB, pk=email.pk)
    email = email_send(using=TENANT_DB, pk=email.pk)
    assert email.status == "sent"
    assert len(delivered(tmp_path)) == 1


def test_redis_down_when_the_event_happens_loses_nothing(redis_broker_down):
    email = enqueue()
    assert email.pk in emails_due(using=TENANT_DB)
    email_send(using=TENANT_DB, pk=email.pk)
    assert len(mail.outbox) == 1


class _ResendFake(BaseHTTPRequestHandler):
    received: list = []

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _ResendFake.received.append({"path": self.path, "headers": dict(self.headers), "json": json.loads(body)})
        payload = json.dumps({"id": "re_fake_1"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def test_resend_backend_sends_our_idempotency_key(settings):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ResendFake)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
    try:
        settings.ANYMAIL = {
            "RESEND_API_KEY": "re_test",
            "RESEND_API_URL": f"http://127.0.0.1:{server.server_address[1]}/",
        }
        message = EmailMultiAlternatives("Hi", "Body", "from@breederhq.test", ["to@example.test"])
        message.idempotency_key = "invoice_issued:tenant:12"
        get_connection("breederhq.mail_backends.ResendEmailBackend").send_messages([message])
    finally:
        server.shutdown()
    request = _ResendFake.received[-1]
    assert request["path"] == "/emails"
    assert request["headers"]["Idempotency-Key"] == "invoice_issued:tenant:12"
    assert request["json"]["to"] == ["to@example.test"]
    assert message.anymail_status.message_id == "re_fake_1"


@pytest.mark.worker
@pytest.mark.django_db(databases=list(DATABASE_ALIASES), transaction=True)
def test_a_real_worker_sends_after_two_provider_failures_exactly_once(start_celery_worker, tmp_path):
    start_celery_worker(
        EMAIL_BACKEND="tests.fakes.email_backend.FlakyFileBackend",
        FLAKY_EMAIL_DIR=str(tmp_path),
        FLAKY_EMAIL_FAILURES="2",
        EMAIL_RETRY_BASE_SECONDS="1",
    )
    email = enqueue()
    wait_until(
        lambda: OutboundEmail.objects.using(TENANT_DB).get(pk=email.pk).status == "sent", timeout=40, interval=0.2
    )
    email.refresh_from_db()
    assert (email.status, email.attempts) == ("sent", 3)
    sent = delivered(tmp_path)
    assert len(sent) == 1
    assert sent[0]["subject"] == "Welcome to BreederHQ, Ada"
