"""Subject access: everything on one person, from both databases, audited."""

import json
from io import StringIO

import pytest
from django.core.management import call_command

from breederhq.backoffice.models import StaffActionAudit
from breederhq.databases import DATABASE_ALIASES, MARKETPLACE_DB, TENANT_DB
from breederhq.models import CrossTenantQueryAudit
from breederhq.tenancy import tenant_context
from marketplace_app import services as market
from tests.factories.marketplace import MarketplaceUserFactory, ProviderFactory, make_transaction
from tests.factories.tenant import ContactFactory, TenantFactory, make_invoice

pytestmark = pytest.mark.django_db(databases=list(DATABASE_ALIASES))


@pytest.fixture(autouse=True)
def sam():
    """The staff member who runs the command (`--staff sam`): named in both audits."""
    from tenant_app.models import User

    return User.objects.create_user(
        username="sam", email="sam@breederhq.test", password="pw-for-tests-123", is_staff=True
    )


def test_export_gathers_both_databases_and_is_audited(sam):
    buyer = MarketplaceUserFactory(email="bea@example.test", display_name="Bea")
    provider = ProviderFactory()
    make_transaction(provider, buyer, amount_cents=4_200)
    thread = market.message_thread_open(buyer_id=buyer.pk, provider_id=provider.pk, body="Hi there")
    market.message_send(thread_id=thread.pk, sender_id=provider.user_id, body="Hello Bea")
    kennel, cattery = TenantFactory(), TenantFactory()
    for tenant in (kennel, cattery):
        with tenant_context(tenant.pk):
            contact = ContactFactory(tenant=tenant, marketplace_user_id=buyer.pk, email="bea@example.test")
            make_invoice(contact=contact, amounts=(1_000,))
    with tenant_context(kennel.pk):
        ContactFactory(tenant=kennel, email="someone-else@example.test")  # not Bea: must not appear

    out = StringIO()
    call_command("export_personal_data", marketplace_user=buyer.pk, staff="sam", reason="SAR-17", stdout=out)
    export = json.loads(out.getvalue())
    assert export["marketplace_user"]["email"] == "bea@example.test"
    assert [p["amount_cents"] for p in export["purchases"]] == [4_200]
    assert [m["body"] for m in export["messages_sent"]] == ["Hi there"]  # only what she sent
    assert sorted(c["tenant_id"] for c in export["tenant_contacts"]) == sorted([kennel.pk, cattery.pk])
    assert {c["email"] for c in export["tenant_contacts"]} == {"bea@example.test"}
    assert len(export["tenant_invoices"]) == 2
    audit = StaffActionAudit.objects.get(action="export_personal_data")
    assert (audit.actor_username, audit.actor_id, audit.reason, audit.target_id) == (
        "sam",
        sam.pk,
        "SAR-17",
        str(buyer.pk),
    )
    # The cross-tenant read of the contacts names the staff member, not "a scheduled job".
    read = CrossTenantQueryAudit.objects.using(TENANT_DB).get(query_type="system:personal_data_export")
    assert (read.user_id, read.target_tenant_id) == (sam.pk, 0)


def test_staff_must_be_a_staff_account():
    from django.core.management.base import CommandError

    buyer = MarketplaceUserFactory()
    for who in ("nobody", "bea@example.test"):
        with pytest.raises(CommandError, match="not an active staff account"):
            call_command("export_personal_data", marketplace_user=buyer.pk, staff=who, reason="x")
    assert not StaffActionAudit.objects.exists()


def test_export_of_an_unknown_user_is_a_clear_error():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No marketplace user #999999"):
        call_command("export_personal_data", marketplace_user=999999, staff="sam", reason="x")


def test_a_tenant_contact_is_exported_and_erased_across_both_databases():
    from breederhq.models import OutboxMessage
    from breederhq.outbox import outbox_relay_due
    from marketplace_app.models import MarketplaceUser
    from tenant_app.models import Contact, Invoice

    buyer = MarketplaceUserFactory(email="bea@example.test")
    kennel = TenantFactory()
    with tenant_context(kennel.pk):
        contact = ContactFactory(
            tenant=kennel, marketplace_user_id=buyer.pk, email="bea@example.test", first_name="Bea", last_name="Jones"
        )
        invoice = make_invoice(contact=contact, amounts=(2_500, 500))

    out = StringIO()
    call_command("export_personal_data", contact=f"{kennel.pk}:{contact.pk}", staff="sam", reason="SAR-18", stdout=out)
    export = json.loads(out.getvalue())
    assert export["tenant_contact"]["last_name"] == "Jones"
    assert [i["total_cents"] for i in export["invoices"]] == [3_000]
    assert len(export["invoice_lines"]) == 2
    assert export["marketplace"]["marketplace_user"]["email"] == "bea@example.test"

    call_command(
        "export_personal_data",
        contact=f"{kennel.pk}:{contact.pk}",
        erase=True,
        staff="sam",
        reason="erasure request 18",
        stdout=StringIO(),
    )
    outbox_relay_due()
    with tenant_context(kennel.pk):
        erased = Contact.all_objects.get(pk=contact.pk)
        assert (erased.first_name, erased.last_name, erased.email, erased.marketplace_user_id) == (
            "Erased",
            "",
            "",
            None,
        )
        assert Invoice.all_objects.get(pk=invoice.pk).total_cents == 3_000  # the ledger keeps its amounts
    assert MarketplaceUser.all_objects.using(MARKETPLACE_DB).get(pk=buyer.pk).display_name == "Erased user"
    assert OutboxMessage.objects.using(MARKETPLACE_DB).filter(topic="marketplace.user_erased").count() == 1
    assert StaffActionAudit.objects.filter(action="erase_personal_data", target_id=str(contact.pk)).exists()
