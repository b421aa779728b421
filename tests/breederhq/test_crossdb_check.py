"""crossdb_check reports each kind of problem exactly, as text or JSON, and exits 1 when anything
is wrong; a clean pair of databases exits 0."""

import json
import subprocess
import sys
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from breederhq.crossdb_check import run_crossdb_check
from breederhq.databases import DATABASE_ALIASES, MARKETPLACE_DB, TENANT_DB
from breederhq.models import CrossDbReference, OutboxMessage
from breederhq.tasks import crossdb_check_task
from tests.crossdb_app import services
from tests.crossdb_app.factories import (
    ContactFactory,
    InvoiceFactory,
    MarketplaceInvoiceFactory,
    MemberFactory,
    TransactionFactory,
)
from tests.crossdb_app.tenant_side.models import Contact
from tests.fixtures.celery_worker import database_url

pytestmark = pytest.mark.django_db(databases=list(DATABASE_ALIASES))
BASE_DIR = Path(__file__).resolve().parent.parent.parent


def raw(alias, statement, params=()):
    with connections[alias].cursor() as cursor:
        cursor.execute(statement, params)


def kinds(report):
    return [p["kind"] for p in report["problems"]]


def healthy_data():
    member = MemberFactory()
    ContactFactory(marketplace_member_id=member.pk)
    deleted = MemberFactory()
    ContactFactory(marketplace_member_id=deleted.pk)
    deleted.delete()  # a reference to a soft-deleted row is fine
    TransactionFactory(invoice_type="tenant", invoice_id=InvoiceFactory().pk)
    TransactionFactory(invoice_type="marketplace", invoice_id=MarketplaceInvoiceFactory().pk)
    TransactionFactory()


def test_healthy_databases_pass_and_the_command_exits_zero():
    healthy_data()
    report = run_crossdb_check()
    assert report["ok"] is True and report["problems"] == []
    assert report["checked"]["default:crossdb_test_contacts"] == 2
    assert report["checked"]["marketplace:crossdb_test_transactions"] == 3
    assert report["checked"]["default:cross_db_references"] == 2
    assert report["checked"]["marketplace:cross_db_references"] == 1
    out = StringIO()
    call_command("crossdb_check", stdout=out)
    assert out.getvalue().splitlines()[-1] == "OK"


def test_a_reference_to_an_id_that_never_existed_is_dangling():
    contact = ContactFactory(marketplace_member_id=10**12)
    assert run_crossdb_check()["problems"] == [
        {
            "kind": "dangling_reference",
            "database": TENANT_DB,
            "table": "crossdb_test_contacts",
            "id": contact.pk,
            "column": "marketplace_member_id",
            "value": 10**12,
            "target_db": MARKETPLACE_DB,
            "target_table": "crossdb_test_members",
        }
    ]


def test_a_reference_to_a_row_deleted_behind_our_back_is_reported_as_hard_deleted():
    member = MemberFactory()
    contact = ContactFactory(marketplace_member_id=member.pk)
    raw(MARKETPLACE_DB, "DELETE FROM crossdb_test_members WHERE id = %s", [member.pk])
    assert run_crossdb_check()["problems"] == [
        {
            "kind": "reference_to_hard_deleted_row",
            "database": TENANT_DB,
            "table": "crossdb_test_contacts",
            "id": contact.pk,
            "column": "marketplace_member_id",
            "value": member.pk,
            "target_db": MARKETPLACE_DB,
            "target_table": "crossdb_test_members",
        }
    ]


def test_a_same_database_polymorphic_reference_is_checked_too():
    invoice = MarketplaceInvoiceFactory()
    txn = TransactionFactory(invoice_type="marketplace", invoice_id=invoice.pk)
    odd = TransactionFactory(invoice_type="bogus", invoice_id=1)
    raw(MARKETPLACE_DB, "DELETE FROM crossdb_test_marketplace_invoices WHERE id = %s", [invoice.pk])
    problems = run_crossdb_check()["problems"]
    assert [(p["kind"], p["id"]) for p in problems] == [
        ("reference_to_hard_deleted_row", txn.pk),
        ("unknown_discriminator", odd.pk),
    ]
    assert problems[1]["discriminator"] == "bogus"


def test_a_registry_row_whose_source_row_is_gone_is_reported():
    contact = ContactFactory(marketplace_member_id=MemberFactory().pk)
    raw(TENANT_DB, "DELETE FROM crossdb_test_contacts WHERE id = %s", [contact.pk])
    CrossDbReference.objects.using(MARKETPLACE_DB).create(
        source_table="no_such_table",
        source_id=5,
        source_column="x_id",
        target_db=TENANT_DB,
        target_table="crossdb_test_invoices",
        target_id=1,
    )
    problems = run_crossdb_check()["problems"]
    assert [(p["kind"], p["database"], p["table"], p["id"]) for p in problems] == [
        ("registry_row_without_source_row", TENANT_DB, "crossdb_test_contacts", contact.pk),
        ("registry_row_without_source_row", MARKETPLACE_DB, "no_such_table", 5),
    ]


def test_queryset_update_of_a_reference_column_is_caught_as_unregistered_or_mismatched():
    first, second = MemberFactory(), MemberFactory()
    unlinked = ContactFactory()
    relinked = ContactFactory(marketplace_member_id=first.pk)
    cleared = ContactFactory(marketplace_member_id=first.pk)
    Contact.objects.using(TENANT_DB).filter(pk=unlinked.pk).update(marketplace_member_id=second.pk)
    Contact.objects.using(TENANT_DB).filter(pk=relinked.pk).update(marketplace_member_id=second.pk)
    Contact.objects.using(TENANT_DB).filter(pk=cleared.pk).update(marketplace_member_id=None)
    problems = run_crossdb_check()["problems"]
    assert [(p["kind"], p["id"], p["value"]) for p in problems] == [
        ("unregistered_reference", unlinked.pk, second.pk),
        ("registry_mismatch", relinked.pk, second.pk),
        ("registry_mismatch", cleared.pk, None),
    ]


def test_a_registry_row_for_a_same_database_target_is_a_mismatch():
    invoice = MarketplaceInvoiceFactory()
    txn = TransactionFactory(invoice_type="marketplace", invoice_id=invoice.pk)
    CrossDbReference.objects.using(MARKETPLACE_DB).create(
        source_table="crossdb_test_transactions",
        source_id=txn.pk,
        source_column="invoice_id",
        target_db=MARKETPLACE_DB,
        target_table="crossdb_test_marketplace_invoices",
        target_id=invoice.pk,
    )
    assert kinds(run_crossdb_check()) == ["registry_mismatch"]


def test_stuck_and_overdue_outbox_messages_are_reported_past_the_threshold():
    invoice = InvoiceFactory()
    services.invoice_mark_paid(invoice_id=invoice.pk)
    fresh = OutboxMessage.objects.using(TENANT_DB).get()
    assert run_crossdb_check(stuck_after_minutes=30)["problems"] == []

    OutboxMessage.objects.using(TENANT_DB).filter(pk=fresh.pk).update(created_at=timezone.now() - timedelta(minutes=31))
    member = MemberFactory()
    services.member_erase(member_id=member.pk)
    OutboxMessage.objects.using(MARKETPLACE_DB).update(
        status="stuck", attempts=8, last_error="boom", next_attempt_at=None
    )
    problems = run_crossdb_check(stuck_after_minutes=30)["problems"]
    assert [(p["kind"], p["database"], p["topic"], p["status"], p["attempts"], p["last_error"]) for p in problems] == [
        ("outbox_message_stuck", TENANT_DB, services.INVOICE_PAID, "pending", 0, ""),
        ("outbox_message_stuck", MARKETPLACE_DB, services.MEMBER_ERASED, "stuck", 8, "boom"),
    ]
    assert problems[0]["message_id"] == str(fresh.message_id)
    assert [p["kind"] for p in run_crossdb_check(stuck_after_minutes=60)["problems"]] == ["outbox_message_stuck"]


def test_the_command_prints_json_and_exits_one_when_anything_is_wrong():
    contact = ContactFactory(marketplace_member_id=10**12)
    out = StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("crossdb_check", "--json", "--stuck-after-minutes", "5", stdout=out)
    assert failed.value.returncode == 1
    report = json.loads(out.getvalue())
    assert report["ok"] is False
    assert [(p["kind"], p["id"]) for p in report["problems"]] == [("dangling_reference", contact.pk)]

    text = StringIO()
    with pytest.raises(CommandError, match="found 1 problem"):
        call_command("crossdb_check", stdout=text)
    assert (
        text.getvalue()
        .splitlines()[0]
        .startswith(f"dangling_reference: database=default, table=crossdb_test_contacts, id={contact.pk}")
    )


def test_the_beat_task_returns_a_summary_and_logs_each_problem(caplog):
    ContactFactory(marketplace_member_id=10**12)
    summary = crossdb_check_task(mode="full")
    assert (summary["ok"], summary["problems"]) == (False, 1)
    assert [r.message.split(":")[0] for r in caplog.records if r.name == "breederhq.tasks"] == ["crossdb_check"]


@pytest.mark.django_db(databases=list(DATABASE_ALIASES), transaction=True)
def test_manage_py_exit_codes_from_a_separate_process():
    def run():
        environment = {
            "PATH": "/usr/bin:/bin",
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "TENANT_DATABASE_URL": database_url(TENANT_DB),
            "MARKETPLACE_DATABASE_URL": database_url(MARKETPLACE_DB),
            "REDIS_URL": "redis://127.0.0.1:1/0",
        }
        return subprocess.run(
            [sys.executable, "manage.py", "crossdb_check", "--json"],
            cwd=BASE_DIR,
            env=environment,
            capture_output=True,
            text=True,
        )

    healthy_data()
    clean = run()
    assert (clean.returncode, json.loads(clean.stdout)["ok"]) == (0, True), clean.stderr
    ContactFactory(marketplace_member_id=10**12)
    broken = run()
    assert broken.returncode == 1, broken.stderr
    assert [p["kind"] for p in json.loads(broken.stdout)["problems"]] == ["dangling_reference"]


def queries_of_a_check(**options) -> tuple[dict, dict[str, int]]:
    captured = {alias: CaptureQueriesContext(connections[alias]) for alias in DATABASE_ALIASES}
    with captured[TENANT_DB], captured[MARKETPLACE_DB]:
        report = run_crossdb_check(**options)
    return report, {alias: len(context) for alias, context in captured.items()}


def test_the_check_reads_set_wise_its_queries_do_not_grow_with_the_rows():
    healthy_data()
    small, small_queries = queries_of_a_check()
    for _ in range(20):
        healthy_data()
    large, large_queries = queries_of_a_check()
    assert small["ok"] and large["ok"]
    assert large["checked"]["default:crossdb_test_contacts"] == 21 * small["checked"]["default:crossdb_test_contacts"]
    assert large_queries == small_queries


def test_ids_are_looked_up_in_batches_and_a_missing_one_is_found_in_any_batch():
    members = [MemberFactory() for _ in range(5)]
    contacts = [ContactFactory(marketplace_member_id=member.pk) for member in members]
    raw(MARKETPLACE_DB, "DELETE FROM crossdb_test_members WHERE id = ANY(%s)", [[members[1].pk, members[4].pk]])
    report, queries = queries_of_a_check(batch_size=2)
    assert [(p["kind"], p["id"], p["value"]) for p in report["problems"]] == [
        ("reference_to_hard_deleted_row", contacts[1].pk, members[1].pk),
        ("reference_to_hard_deleted_row", contacts[4].pk, members[4].pk),
    ]
    # Five distinct ids two at a time: three lookups in the members' database.
    assert queries_of_a_check(batch_size=5)[1][MARKETPLACE_DB] == queries[MARKETPLACE_DB] - 2
