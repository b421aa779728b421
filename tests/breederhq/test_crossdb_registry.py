"""The registry follows every declared reference column through save, clear, polymorphic switches,
bulk_create and hard deletes; hard-deleting a referenced row is refused and changes nothing."""

import pytest
from django.db import connections

from breederhq.crossdb import CrossDatabaseReference, referencing_rows
from breederhq.databases import DATABASE_ALIASES, MARKETPLACE_DB, TENANT_DB
from breederhq.errors import ReferencedRowDeletion
from breederhq.models import CrossDbReference
from tests.crossdb_app.factories import (
    ContactFactory,
    InvoiceFactory,
    MarketplaceInvoiceFactory,
    MemberFactory,
    TransactionFactory,
)
from tests.crossdb_app.marketplace_side.models import MarketplaceInvoice, Member, Transaction
from tests.crossdb_app.tenant_side.models import Contact, Invoice

pytestmark = pytest.mark.django_db(databases=list(DATABASE_ALIASES))


def registry(alias, table):
    return sorted(
        CrossDbReference.objects.using(alias)
        .filter(source_table=table)
        .values_list("source_id", "source_column", "target_db", "target_table", "target_id")
    )


def test_a_reference_is_recorded_changed_and_cleared_with_its_column():
    first, second = MemberFactory(), MemberFactory()
    contact = ContactFactory(marketplace_member_id=first.pk)
    assert registry(TENANT_DB, "crossdb_test_contacts") == [
        (contact.pk, "marketplace_member_id", "marketplace", "crossdb_test_members", first.pk)
    ]
    created_at = CrossDbReference.objects.using(TENANT_DB).get(source_id=contact.pk).created_at

    contact.marketplace_member_id = second.pk
    contact.save()
    ref = CrossDbReference.objects.using(TENANT_DB).get(source_id=contact.pk)
    assert (ref.target_id, ref.created_at) == (second.pk, created_at)

    contact.marketplace_member_id = None
    contact.save(update_fields=["marketplace_member_id"])
    assert registry(TENANT_DB, "crossdb_test_contacts") == []
    assert not CrossDbReference.objects.using(MARKETPLACE_DB).exists()


def test_a_save_that_cannot_touch_a_reference_does_not_query_the_registry():
    from django.test.utils import CaptureQueriesContext

    contact = ContactFactory(marketplace_member_id=MemberFactory().pk)
    contact.name = "Renamed"
    with CaptureQueriesContext(connections[TENANT_DB]) as queries:
        contact.save(update_fields=["name"])
    assert len(queries) == 1
    assert "cross_db_references" not in queries[0]["sql"]


def test_polymorphic_reference_is_registered_only_while_it_points_into_the_other_database():
    tenant_invoice = InvoiceFactory()
    marketplace_invoice = MarketplaceInvoiceFactory()
    txn = TransactionFactory(invoice_type="tenant", invoice_id=tenant_invoice.pk)
    assert registry(MARKETPLACE_DB, "crossdb_test_transactions") == [
        (txn.pk, "invoice_id", "default", "crossdb_test_invoices", tenant_invoice.pk)
    ]

    txn.invoice_type, txn.invoice_id = "marketplace", marketplace_invoice.pk
    txn.save()
    assert registry(MARKETPLACE_DB, "crossdb_test_transactions") == []

    txn.invoice_type, txn.invoice_id = "tenant", tenant_invoice.pk
    txn.save(update_fields=["invoice_type", "invoice_id"])
    assert registry(MARKETPLACE_DB, "crossdb_test_transactions") == [
        (txn.pk, "invoice_id", "default", "crossdb_test_invoices", tenant_invoice.pk)
    ]
    # Changing only the discriminator moves the link too.
    txn.invoice_type = "marketplace"
    txn.save(update_fields=["invoice_type"])
    assert registry(MARKETPLACE_DB, "crossdb_test_transactions") == []
    assert not CrossDbReference.objects.using(TENANT_DB).exists()


def test_polymorphic_declaration_names_its_targets():
    field = Transaction._meta.get_field("invoice_id")
    assert field.is_polymorphic and field.discriminator == "invoice_type"
    assert field.target_models() == {"tenant": Invoice, "marketplace": MarketplaceInvoice}
    assert field.target_model_for(Transaction(invoice_type="tenant")) is Invoice
    assert field.target_model_for(Transaction(invoice_type="bogus")) is None
    with pytest.raises(TypeError, match="discriminator"):
        CrossDatabaseReference(targets={"a": "crossdb_tenant.Invoice"})
    with pytest.raises(TypeError, match="either target or targets"):
        CrossDatabaseReference("crossdb_tenant.Invoice", targets={"a": "crossdb_tenant.Invoice"})


def test_bulk_create_records_every_new_rows_reference_in_one_statement_per_field():
    members = [MemberFactory() for _ in range(3)]
    contacts = Contact.objects.using(TENANT_DB).bulk_create(
        [Contact(name=f"c{i}", marketplace_member_id=m.pk) for i, m in enumerate(members)] + [Contact(name="unlinked")]
    )
    assert registry(TENANT_DB, "crossdb_test_contacts") == sorted(
        (c.pk, "marketplace_member_id", "marketplace", "crossdb_test_members", m.pk)
        for c, m in zip(contacts[:-1], members, strict=True)
    )
    invoice = InvoiceFactory()
    txns = Transaction.objects.using(MARKETPLACE_DB).bulk_create(
        [
            Transaction(invoice_type="tenant", invoice_id=invoice.pk),
            Transaction(invoice_type="marketplace", invoice_id=MarketplaceInvoiceFactory().pk),
        ]
    )
    assert registry(MARKETPLACE_DB, "crossdb_test_transactions") == [
        (txns[0].pk, "invoice_id", "default", "crossdb_test_invoices", invoice.pk)
    ]


def test_queryset_update_bypasses_the_registry_and_record_references_repairs_it():
    from breederhq.crossdb import record_references

    old, new = MemberFactory(), MemberFactory()
    contact = ContactFactory(marketplace_member_id=old.pk)
    Contact.objects.using(TENANT_DB).filter(pk=contact.pk).update(marketplace_member_id=new.pk)
    assert registry(TENANT_DB, "crossdb_test_contacts")[0][4] == old.pk  # stale: documented

    record_references(Contact.objects.using(TENANT_DB).filter(pk=contact.pk), using=TENANT_DB)
    assert registry(TENANT_DB, "crossdb_test_contacts")[0][4] == new.pk


def test_hard_deleting_a_source_row_forgets_its_references_in_the_same_transaction():
    member = MemberFactory()
    kept, one, many = (ContactFactory(marketplace_member_id=member.pk) for _ in range(3))
    extra = ContactFactory(marketplace_member_id=member.pk)
    one.delete()
    Contact.objects.using(TENANT_DB).filter(pk__in=[many.pk, extra.pk]).delete()
    assert [r[0] for r in registry(TENANT_DB, "crossdb_test_contacts")] == [kept.pk]


def test_soft_deleting_a_source_row_keeps_its_references():
    invoice = InvoiceFactory()
    txn = TransactionFactory(invoice_type="tenant", invoice_id=invoice.pk)
    txn.delete()
    Transaction.objects.using(MARKETPLACE_DB).all().delete()
    assert Transaction.all_objects.get(pk=txn.pk).is_deleted
    assert len(registry(MARKETPLACE_DB, "crossdb_test_transactions")) == 1


def test_hard_delete_of_a_row_referenced_from_the_other_database_is_refused_and_names_the_referrer():
    member = MemberFactory()
    contact = ContactFactory(marketplace_member_id=member.pk)
    with pytest.raises(ReferencedRowDeletion) as refused:
        member.hard_delete()
    assert refused.value.extra == {
        "referenced_by": [f"default:crossdb_test_contacts#{contact.pk}.marketplace_member_id"]
    }
    with pytest.raises(ReferencedRowDeletion, match=f"crossdb_test_contacts#{contact.pk}"):
        Member.all_objects.using(MARKETPLACE_DB).filter(pk=member.pk).hard_delete()
    assert Member.all_objects.filter(pk=member.pk).exists()

    invoice = InvoiceFactory()
    txn = TransactionFactory(invoice_type="tenant", invoice_id=invoice.pk)
    with pytest.raises(ReferencedRowDeletion, match=f"marketplace:crossdb_test_transactions#{txn.pk}.invoice_id"):
        invoice.hard_delete()
    assert Invoice.all_objects.filter(pk=invoice.pk).exists()


def test_hard_delete_of_a_row_referenced_from_its_own_database_is_refused_too():
    marketplace_invoice = MarketplaceInvoiceFactory()
    other = MarketplaceInvoiceFactory()
    txn = TransactionFactory(invoice_type="marketplace", invoice_id=marketplace_invoice.pk)
    assert referencing_rows(MarketplaceInvoice, [marketplace_invoice.pk]) == [
        f"marketplace:crossdb_test_transactions#{txn.pk}.invoice_id"
    ]
    with pytest.raises(ReferencedRowDeletion):
        MarketplaceInvoice.all_objects.using(MARKETPLACE_DB).filter(
            pk__in=[marketplace_invoice.pk, other.pk]
        ).hard_delete()
    # All or nothing: the unreferenced row in the same batch is still there.
    assert MarketplaceInvoice.all_objects.filter(pk__in=[marketplace_invoice.pk, other.pk]).count() == 2
    # A tenant invoice with the same id is a different row: it does not block this one.
    assert referencing_rows(Invoice, [marketplace_invoice.pk]) == []


def test_an_unreferenced_row_can_be_hard_deleted_once_its_referrers_let_go():
    member = MemberFactory()
    contact = ContactFactory(marketplace_member_id=member.pk)
    contact.marketplace_member_id = None
    contact.save()
    member.hard_delete()
    assert not Member.all_objects.filter(pk=member.pk).exists()


def test_soft_delete_hides_rows_from_the_default_manager_and_restore_brings_them_back():
    alive, gone = MemberFactory(), MemberFactory()
    Member.objects.using(MARKETPLACE_DB).filter(pk=gone.pk).delete()
    assert list(Member.objects.values_list("pk", flat=True)) == [alive.pk]
    assert Member.all_objects.deleted().get().pk == gone.pk
    assert Member.all_objects.using(MARKETPLACE_DB).filter(pk=gone.pk).restore() == 1
    assert sorted(Member.objects.values_list("pk", flat=True)) == sorted([alive.pk, gone.pk])


def test_record_table_references_registers_a_table_loaded_by_raw_sql_as_record_references_would():
    """The bulk-load path (bench/generate.py): rows written by SQL, bypassing the registry, then
    brought in line in one statement per field; the same rows `record_references` would write, and
    stale or no-longer-wanted registry rows go."""
    from breederhq.crossdb import record_table_references

    members, invoice, mk_invoice = [MemberFactory() for _ in range(3)], InvoiceFactory(), MarketplaceInvoiceFactory()
    cleared = ContactFactory(marketplace_member_id=members[0].pk)  # registered now, cleared by SQL below
    moved = ContactFactory(marketplace_member_id=members[0].pk)  # registered now, repointed by SQL below
    with connections[TENANT_DB].cursor() as cursor:
        cursor.execute(
            "INSERT INTO crossdb_test_contacts (name, marketplace_member_id) VALUES"
            " ('a', %s), ('b', %s), ('unlinked', NULL) RETURNING id",
            [members[1].pk, members[2].pk],
        )
        loaded = [row[0] for row in cursor.fetchall()]
        cursor.execute("UPDATE crossdb_test_contacts SET marketplace_member_id = NULL WHERE id = %s", [cleared.pk])
        cursor.execute(
            "UPDATE crossdb_test_contacts SET marketplace_member_id = %s WHERE id = %s", [members[2].pk, moved.pk]
        )
    with connections[MARKETPLACE_DB].cursor() as cursor:
        cursor.execute(
            "INSERT INTO crossdb_test_transactions (status, invoice_type, invoice_id) VALUES"
            " ('pending', 'tenant', %s), ('pending', 'marketplace', %s), ('pending', NULL, NULL)"
            " RETURNING id",
            [invoice.pk, mk_invoice.pk],
        )
        tenant_tx = cursor.fetchall()[0][0]

    assert record_table_references(Contact) == 3  # two new rows, one repointed; the unchanged row is not rewritten
    assert record_table_references(Transaction, using=MARKETPLACE_DB) == 1
    assert registry(TENANT_DB, "crossdb_test_contacts") == sorted(
        [
            (loaded[0], "marketplace_member_id", "marketplace", "crossdb_test_members", members[1].pk),
            (loaded[1], "marketplace_member_id", "marketplace", "crossdb_test_members", members[2].pk),
            (moved.pk, "marketplace_member_id", "marketplace", "crossdb_test_members", members[2].pk),
        ]
    )
    assert registry(MARKETPLACE_DB, "crossdb_test_transactions") == [
        (tenant_tx, "invoice_id", "default", "crossdb_test_invoices", invoice.pk)
    ]
    assert record_table_references(Contact) == 0  # idempotent


def test_record_table_references_drops_a_registry_row_when_the_discriminator_moves_to_the_same_database():
    from breederhq.crossdb import record_table_references

    tx = TransactionFactory(invoice_type="tenant", invoice_id=InvoiceFactory().pk)
    assert registry(MARKETPLACE_DB, "crossdb_test_transactions")
    Transaction.objects.using(MARKETPLACE_DB).filter(pk=tx.pk).update(
        invoice_type="marketplace", invoice_id=MarketplaceInvoiceFactory().pk
    )
    record_table_references(Transaction)
    assert registry(MARKETPLACE_DB, "crossdb_test_transactions") == []
