"""Back-office pages for the platform's own records, and confirmed, audited actions."""

import pytest
from django.db import connections
from django.db.utils import ProgrammingError
from django.urls import reverse
from django.utils import timezone

from breederhq.backoffice.models import StaffActionAudit
from breederhq.databases import DATABASE_ALIASES, MARKETPLACE_DB, TENANT_DB
from breederhq.email import email_enqueue
from breederhq.models import MarketplaceDbOutboundEmail, TenantDbOutboundEmail
from payments_app.models import StripeWebhookEvent
from tenant_app.models import User
from tests.staff import staff_login

pytestmark = pytest.mark.django_db(databases=list(DATABASE_ALIASES))


@pytest.fixture
def staff_client(client):
    user = User.objects.create_superuser(
        username="sam@breederhq.test", email="sam@breederhq.test", password="pw-123456!"
    )
    return staff_login(client, user)


def dead_event():
    return StripeWebhookEvent.objects.create(
        stripe_event_id="evt_dead",
        event_type="invoice.paid",
        stripe_created=timezone.now(),
        payload={"data": {"object": {"id": "in_1"}}},
        status="dead",
        attempts=8,
        last_error="boom",
    )


@pytest.mark.parametrize(
    "model",
    ["tenantdboutboundemail", "marketplacedboutboundemail", "tenantdbidempotencykey", "marketplacedbidempotencykey"],
)
def test_each_database_has_its_own_changelist(staff_client, model):
    email_enqueue(
        using=MARKETPLACE_DB,
        event_key="welcome:m",
        template="welcome",
        to=["m@example.test"],
        context={"name": "M", "url": "u"},
    )
    response = staff_client.get(reverse(f"admin:breederhq_{model}_changelist"))
    assert response.status_code == 200
    if model == "marketplacedboutboundemail":
        assert b"m@example.test" in response.content
    if model == "tenantdboutboundemail":
        assert b"m@example.test" not in response.content


@pytest.mark.parametrize(
    "url",
    [
        "admin:payments_app_stripewebhookevent_changelist",
        "admin:jobs_jobstatus_changelist",
        "admin:backoffice_staffactionaudit_changelist",
        "admin:payments_app_stripeconnectaccount_changelist",
    ],
)
def test_pages_load_for_staff_and_redirect_others(client, staff_client, url):
    assert staff_client.get(reverse(url)).status_code == 200
    assert client.logout() is None
    assert client.get(reverse(url)).status_code == 302


def test_requeue_asks_for_a_reason_then_acts_and_audits(staff_client):
    event = dead_event()
    url = reverse("admin:payments_app_stripewebhookevent_changelist")
    form = {"action": "requeue_stripe_event", "_selected_action": [event.pk]}
    confirm = staff_client.post(url, form)
    assert confirm.status_code == 200
    assert b"are you sure" in confirm.content
    event.refresh_from_db()
    assert event.status == "dead"  # nothing happened yet
    assert not StaffActionAudit.objects.exists()

    done = staff_client.post(url, {**form, "confirmed": "yes", "reason": "Stripe fixed the outage"})
    assert done.status_code == 302
    event.refresh_from_db()
    assert (event.status, event.attempts) == ("failed", 0)
    audit = StaffActionAudit.objects.get()
    assert (audit.actor_username, audit.action, audit.target_model, audit.target_id, audit.reason, audit.result) == (
        "sam@breederhq.test",
        "requeue_stripe_event",
        "payments_app.StripeWebhookEvent",
        str(event.pk),
        "Stripe fixed the outage",
        "failed",
    )


def test_a_blank_reason_is_refused(staff_client):
    event = dead_event()
    url = reverse("admin:payments_app_stripewebhookevent_changelist")
    response = staff_client.post(
        url, {"action": "requeue_stripe_event", "_selected_action": [event.pk], "confirmed": "yes", "reason": ""}
    )
    assert response.status_code == 200
    event.refresh_from_db()
    assert event.status == "dead"
    assert not StaffActionAudit.objects.exists()


def test_resend_email_from_the_marketplace_database(staff_client):
    email = email_enqueue(
        using=MARKETPLACE_DB,
        event_key="welcome:r",
        template="welcome",
        to=["r@example.test"],
        context={"name": "R", "url": "u"},
    )
    MarketplaceDbOutboundEmail.objects.filter(pk=email.pk).update(status="failed", attempts=5)
    url = reverse("admin:breederhq_marketplacedboutboundemail_changelist")
    staff_client.post(
        url,
        {
            "action": "resend_email",
            "_selected_action": [email.pk],
            "confirmed": "yes",
            "reason": "customer asked again",
        },
    )
    email = MarketplaceDbOutboundEmail.objects.get(pk=email.pk)
    assert (email.status, email.attempts) == ("queued", 0)
    assert StaffActionAudit.objects.get().target_database == MARKETPLACE_DB
    assert not TenantDbOutboundEmail.objects.exists()


def test_the_staff_action_audit_is_append_only_for_the_app_role(staff_client):
    dead_event()
    StaffActionAudit.objects.create(
        actor_id=1,
        actor_username="x",
        action="a",
        target_model="m",
        target_database=TENANT_DB,
        target_id="1",
        reason="because",
    )
    with pytest.raises(ProgrammingError, match="permission denied"), connections[TENANT_DB].cursor() as cursor:
        cursor.execute("UPDATE staff_action_audit SET reason = 'rewritten'")


def test_an_idempotency_keys_page_shows_what_it_was_for_never_the_stored_response(staff_client):
    """A stored response is tenant data (a contact, an invoice): the admin shows its context, status
    and size, not its body or headers."""
    from datetime import timedelta

    from breederhq.models import TenantDbIdempotencyKey

    row = TenantDbIdempotencyKey.objects.using(TENANT_DB).create(
        key="k-1",
        scope="user:1",
        context="tenant:42",
        method="POST",
        path="/api/v1/contacts/",
        request_fingerprint="f" * 64,
        status="completed",
        response_status=201,
        response_content_type="application/json",
        response_body='{"first_name": "Secret-Contact-Name", "email": "hidden@example.test"}',
        response_headers={"Location": "/api/v1/contacts/secret-location/"},
        expires_at=timezone.now() + timedelta(hours=1),
    )
    listing = staff_client.get(reverse("admin:breederhq_tenantdbidempotencykey_changelist")).content.decode()
    assert "tenant:42" in listing
    page = staff_client.get(reverse("admin:breederhq_tenantdbidempotencykey_change", args=[row.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "tenant:42" in html and "201" in html and "bytes" in html
    assert "Secret-Contact-Name" not in html and "hidden@example.test" not in html and "secret-location" not in html


def test_a_sent_invitation_email_keeps_no_token_for_the_admin_to_show(staff_client):
    import re as _re

    from breederhq.email import email_send
    from breederhq.models import TenantDbOutboundEmail
    from tests.api.conftest import bearer, send_json
    from tests.factories.tenant import TenantFactory

    tenant = TenantFactory()
    response = send_json(
        bearer(tenant.owner_user),
        "post",
        "/api/v1/tenants/me/invitations/",
        {"email": "guest@example.test", "role": "staff"},
    )
    assert response.status_code == 201
    queued = TenantDbOutboundEmail.objects.using(TENANT_DB).get(template="tenant_invitation")
    token = _re.search(r"invitation code, if the app asks for it: (\S+)", queued.text_body).group(1)
    page = staff_client.get(reverse("admin:breederhq_tenantdboutboundemail_change", args=[queued.pk]))
    assert page.status_code == 200 and "guest@example.test" in page.content.decode()
    assert token not in page.content.decode()  # queued: stored, never shown
    email_send(using=TENANT_DB, pk=queued.pk)
    queued.refresh_from_db()
    assert token not in queued.text_body + queued.html_body  # sent: not even stored
    page = staff_client.get(reverse("admin:breederhq_tenantdboutboundemail_change", args=[queued.pk]))
    assert page.status_code == 200 and "guest@example.test" in page.content.decode()
    assert token not in page.content.decode()
