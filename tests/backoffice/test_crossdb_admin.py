"""The outbox, applied-message and reference-registry pages (one per database): stuck messages are
found with the "stuck" filter and requeued through an audited action, after which the relay delivers
them; the registry links each reference's target in the other database, resolved in batch."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from breederhq.backoffice.models import StaffActionAudit
from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.models import OutboxMessage
from breederhq.outbox import (
    RelayOutcome,
    outbox_message_requeue,
    outbox_relay_due,
    outbox_relay_message,
    outbox_step,
)
from breederhq.tenancy import tenant_context
from marketplace_app.services import marketplace_user_erase
from tenant_app.models import Contact
from tests.backoffice.conftest import work_on
from tests.backoffice.test_actions import run
from tests.factories.marketplace import MarketplaceUserFactory, ProviderFactory
from tests.factories.tenant import ContactFactory, TenantFactory

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])

OUTBOX = {
    alias: reverse(f"admin:breederhq_{name}dboutboxmessage_changelist")
    for alias, name in ((TENANT_DB, "tenant"), (MARKETPLACE_DB, "marketplace"))
}
APPLIED = {
    alias: reverse(f"admin:breederhq_{name}dbappliedmessage_changelist")
    for alias, name in ((TENANT_DB, "tenant"), (MARKETPLACE_DB, "marketplace"))
}
REGISTRY = {
    alias: reverse(f"admin:breederhq_{name}dbcrossdbreference_changelist")
    for alias, name in ((TENANT_DB, "tenant"), (MARKETPLACE_DB, "marketplace"))
}


class _Outage:
    """Makes the relay fail for one message, the way a real failure in the handler would."""

    def __init__(self, message_id):
        self.message_id = message_id

    def __call__(self, sender, step, message, **kwargs):
        if step == "relay.before_effect" and message.message_id == self.message_id:
            raise RuntimeError("tenant database unreachable")


@pytest.fixture
def erased_buyer(settings):
    """A marketplace user linked from a tenant contact, erased: the unlink message (marketplace DB
    -> tenant DB) failed twice and gave up (OUTBOX_MAX_ATTEMPTS = 2)."""
    settings.OUTBOX_MAX_ATTEMPTS = 2
    tenant = TenantFactory()
    buyer = MarketplaceUserFactory()
    with tenant_context(tenant.pk):
        contact = ContactFactory(tenant=tenant, marketplace_user_id=buyer.pk)
    marketplace_user_erase(user_id=buyer.pk)
    message = OutboxMessage.objects.using(MARKETPLACE_DB).get(topic="marketplace.user_erased")
    outage = _Outage(message.message_id)
    outbox_step.connect(outage)
    try:
        now = timezone.now()
        for attempt in range(2):
            outbox_relay_message(source=MARKETPLACE_DB, message_pk=message.pk, now=now + timedelta(hours=attempt))
    finally:
        outbox_step.disconnect(outage)
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("stuck", 2)
    return tenant, contact, message


def _linked(tenant, contact):
    with tenant_context(tenant.pk):
        return Contact.all_objects.get(pk=contact.pk).marketplace_user_id


def test_requeue_a_stuck_message_and_the_relay_delivers_it(support_client, erased_buyer):
    tenant, contact, message = erased_buyer
    listed = support_client.get(OUTBOX[MARKETPLACE_DB] + "?stuck=yes").content.decode()
    assert str(message.message_id)[:8] in listed and "tenant database unreachable" in listed
    assert "tenant_app.outbox_handlers.unlink_contacts" in listed  # the handler that will apply it

    response = run(
        support_client,
        OUTBOX[MARKETPLACE_DB],
        "requeue_outbox_message",
        [message.pk],
        reason="INC-42: tenant database back",
    )
    assert response.status_code == 302
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("pending", 0)
    assert message.next_attempt_at <= timezone.now()
    assert list(
        StaffActionAudit.objects.values_list(
            "actor_username", "action", "target_model", "target_database", "target_id", "reason", "result"
        )
    ) == [
        (
            "sue.support@breederhq.test",
            "requeue_outbox_message",
            "breederhq.MarketplaceDbOutboxMessage",
            MARKETPLACE_DB,
            str(message.pk),
            "INC-42: tenant database back",
            "pending: attempts reset, due now",
        )
    ]

    assert _linked(tenant, contact) is not None
    assert outbox_relay_due() == {RelayOutcome.APPLIED: 1}  # the sweep picks it up
    message.refresh_from_db()
    assert message.status == "applied"
    assert _linked(tenant, contact) is None  # the effect happened in the tenant database
    # The applied page of the target database shows it, linked back to its outbox row.
    applied = support_client.get(APPLIED[TENANT_DB]).content.decode()
    assert str(message.message_id) in applied
    assert f"{OUTBOX[MARKETPLACE_DB]}?q={message.message_id}" in applied


def test_an_applied_message_is_not_requeued(support_client, erased_buyer):
    _, _, message = erased_buyer
    outbox_message_requeue(using=MARKETPLACE_DB, message_id=message.message_id)
    assert outbox_relay_due() == {RelayOutcome.APPLIED: 1}
    run(support_client, OUTBOX[MARKETPLACE_DB], "requeue_outbox_message", [message.pk])
    message.refresh_from_db()
    assert message.status == "applied"
    assert StaffActionAudit.objects.get().result.startswith("refused: outbox message")


def test_finance_and_ungrouped_staff_cannot_requeue(finance_client, bare_staff_client, erased_buyer):
    _, _, message = erased_buyer
    assert finance_client.get(OUTBOX[MARKETPLACE_DB]).status_code == 200  # finance reads
    assert "requeue_outbox_message" not in finance_client.get(OUTBOX[MARKETPLACE_DB]).content.decode()
    finance_client.post(
        OUTBOX[MARKETPLACE_DB],
        {
            "action": "requeue_outbox_message",
            "_selected_action": [message.pk],
            "confirmed": "yes",
            "reason": "trying anyway",
        },
    )
    assert bare_staff_client.get(OUTBOX[MARKETPLACE_DB]).status_code == 403
    message.refresh_from_db()
    assert message.status == "stuck"
    assert not StaffActionAudit.objects.exists()


def test_the_stuck_attempts_and_age_filters(support_client, erased_buyer):
    _, _, stuck = erased_buyer
    late = OutboxMessage.objects.using(MARKETPLACE_DB).create(
        topic="marketplace.user_erased", target_db=TENANT_DB, payload={"marketplace_user_id": 0}
    )
    fresh = OutboxMessage.objects.using(MARKETPLACE_DB).create(
        topic="marketplace.user_erased", target_db=TENANT_DB, payload={"marketplace_user_id": 0}
    )
    OutboxMessage.objects.using(MARKETPLACE_DB).filter(pk=late.pk).update(
        created_at=timezone.now() - timedelta(hours=2)
    )

    def shown(query):
        body = support_client.get(OUTBOX[MARKETPLACE_DB] + query).content.decode()
        return {m for m in (stuck, late, fresh) if str(m.message_id)[:8] in body}

    assert shown("?stuck=yes") == {stuck, late}
    assert shown("?stuck=no") == {fresh}
    assert shown("?attempts=0") == {late, fresh}
    assert shown("?attempts=1-3") == {stuck}
    assert shown("?age=5m") == {stuck, fresh}
    assert shown("?age=1h&status=pending") == {fresh}
    assert shown(f"?q={late.message_id}") == {late}
    assert shown("?stuck=yes&target_db=marketplace") == set()


def test_the_dashboard_links_its_stuck_figure_to_the_filtered_page(support_client, erased_buyer):
    body = support_client.get(reverse("backoffice:dashboard")).content.decode()
    assert f'href="{OUTBOX[MARKETPLACE_DB]}?stuck=yes"' in body
    assert f'href="{OUTBOX[TENANT_DB]}?stuck=yes"' in body


def _count(client, url) -> tuple[dict[str, int], str]:
    with (
        CaptureQueriesContext(connections[TENANT_DB]) as tenant_db,
        CaptureQueriesContext(connections[MARKETPLACE_DB]) as marketplace_db,
    ):
        response = client.get(url)
    assert response.status_code == 200
    return {TENANT_DB: len(tenant_db), MARKETPLACE_DB: len(marketplace_db)}, response.content.decode()


def test_the_marketplace_registry_links_tenants_in_constant_queries(support_client):
    counts = {}
    made = []
    for size in (1, 10, 50):
        while len(made) < size:
            tenant = TenantFactory()
            made.append((ProviderFactory(breeder=True, tenant_id=tenant.pk), tenant))
        counts[size], body = _count(support_client, REGISTRY[MARKETPLACE_DB])
        provider, tenant = made[-1]
        assert reverse("admin:tenant_app_tenant_change", args=[tenant.pk]) in body  # target, other database
        assert reverse("admin:marketplace_app_provider_change", args=[provider.pk]) in body  # source
    assert counts[1] == counts[10] == counts[50], counts


def test_the_tenant_registry_links_marketplace_users_in_constant_queries(support_client):
    tenant = TenantFactory()
    work_on(support_client, tenant)  # the sources (contacts) are tenant rows
    counts = {}
    users = []
    for size in (1, 10, 50):
        new = [MarketplaceUserFactory() for _ in range(size - len(users))]
        with tenant_context(tenant.pk):
            for user in new:
                ContactFactory(tenant=tenant, marketplace_user_id=user.pk)
        users += new
        counts[size], body = _count(support_client, REGISTRY[TENANT_DB])
        assert reverse("admin:marketplace_app_marketplaceuser_change", args=[users[-1].pk]) in body
    assert counts[1] == counts[10] == counts[50], counts


def test_the_registry_shows_soft_deleted_and_missing_targets(support_client):
    tenant = TenantFactory()
    gone, erased = MarketplaceUserFactory(display_name="Gone Buyer"), MarketplaceUserFactory()
    gone.delete(using=MARKETPLACE_DB)
    with tenant_context(tenant.pk):
        ContactFactory(tenant=tenant, marketplace_user_id=gone.pk)
        ContactFactory(tenant=tenant, marketplace_user_id=987_654)
        ContactFactory(tenant=tenant, marketplace_user_id=erased.pk)
    # Without a tenant chosen the sources (tenant contacts) are not visible; the targets are.
    body = support_client.get(REGISTRY[TENANT_DB]).content.decode()
    assert f"Gone Buyer (marketplace user #{gone.pk}) [deleted]" in body
    assert "marketplace user #987654 (missing)" in body
    assert "(other tenant or missing)" in body
    assert body.count(">live<") == 1 and body.count(">missing<") == 1 and ">deleted 20" in body
    work_on(support_client, tenant)
    assert "(other tenant or missing)" not in support_client.get(REGISTRY[TENANT_DB]).content.decode()
    # The change page shows the same links, resolved like a one-row list.
    from breederhq.models import TenantDbCrossDbReference

    ref = TenantDbCrossDbReference.objects.get(target_id=gone.pk)
    page = support_client.get(reverse("admin:breederhq_tenantdbcrossdbreference_change", args=[ref.pk]))
    assert f"Gone Buyer (marketplace user #{gone.pk}) [deleted]" in page.content.decode()
    assert reverse("admin:marketplace_app_marketplaceuser_change", args=[gone.pk]) in page.content.decode()
