"""crossdb_check at scale: the 15-minute run looks only at what changed since the previous one (a
watermark per table in job_checkpoints), the nightly full pass still finds everything, a run stops
after its time budget and the next one resumes there, and two runs never overlap."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connections

from breederhq.crossdb_check import FULL, INCREMENTAL, crossdb_check_lock, run_crossdb_check
from breederhq.databases import DATABASE_ALIASES, MARKETPLACE_DB
from breederhq.jobs.models import JobCheckpoint
from tests.breederhq.test_crossdb_check import healthy_data, kinds, raw
from tests.crossdb_app.factories import ContactFactory, MemberFactory
from tests.factories.marketplace import MarketplaceUserFactory

pytestmark = pytest.mark.django_db(databases=list(DATABASE_ALIASES))

CONTACTS = "default:crossdb_test_contacts"
TRANSACTIONS = "marketplace:crossdb_test_transactions"
USERS = "marketplace:marketplace_users"


def incremental(**options):
    return run_crossdb_check(mode=INCREMENTAL, settle=timedelta(0), **options)


def test_an_incremental_run_examines_only_the_rows_written_since_the_last_one():
    healthy_data()
    first = incremental()
    assert first["ok"] and first["complete"]
    assert (first["checked"][CONTACTS], first["checked"][TRANSACTIONS]) == (2, 3)

    again = incremental()
    assert again["ok"] and (again["checked"][CONTACTS], again["checked"][TRANSACTIONS]) == (0, 0)

    broken = ContactFactory(marketplace_member_id=10**12)
    report = incremental()
    assert [(p["kind"], p["id"]) for p in report["problems"]] == [("dangling_reference", broken.pk)]
    assert (report["checked"][CONTACTS], report["checked"][TRANSACTIONS]) == (1, 0)


def test_an_updated_row_is_examined_again_by_its_updated_at():
    user = MarketplaceUserFactory()
    incremental()
    assert incremental()["checked"][USERS] == 0
    user.tenant_user_id = 10**12  # a tenant user that never existed
    user.save()
    report = incremental()
    assert report["checked"][USERS] == 1
    assert [(p["kind"], p["table"], p["id"]) for p in report["problems"]] == [
        ("dangling_reference", "marketplace_users", user.pk)
    ]


def test_the_full_pass_finds_what_no_incremental_run_can_see():
    member = MemberFactory()
    contact = ContactFactory(marketplace_member_id=member.pk)
    assert incremental()["ok"]
    # A hard delete by raw SQL touches no source row: invisible to the incremental run.
    raw(MARKETPLACE_DB, "DELETE FROM crossdb_test_members WHERE id = %s", [member.pk])
    assert incremental()["ok"]
    full = run_crossdb_check(mode=FULL)
    assert [(p["kind"], p["id"]) for p in full["problems"]] == [("reference_to_hard_deleted_row", contact.pk)]
    assert full["complete"] and not JobCheckpoint.objects.filter(job="crossdb_check", key__startswith="full:").exists()


@pytest.mark.parametrize("mode", [FULL, INCREMENTAL])
def test_a_run_stopped_by_its_time_budget_resumes_where_it_stopped(mode):
    members = [MemberFactory() for _ in range(5)]
    contacts = [ContactFactory(marketplace_member_id=m.pk) for m in members[:4]]
    contacts.append(ContactFactory(marketplace_member_id=10**12))  # the last one is broken
    seen, found, runs = 0, [], 0
    while True:
        report = run_crossdb_check(mode=mode, settle=timedelta(0), batch_size=2, time_budget_seconds=0)
        runs += 1
        seen += report["checked"].get(CONTACTS, 0)
        found += [p["id"] for p in report["problems"] if p["table"] == "crossdb_test_contacts"]
        if seen >= 5 or runs > 20:
            break
        assert not report["complete"]  # out of budget after its first batch
    assert seen == 5 and runs == 3  # 2 + 2 + 1: no contact examined twice
    assert found == [contacts[-1].pk]


@pytest.mark.slow
@pytest.mark.django_db(databases=list(DATABASE_ALIASES), transaction=True)
def test_two_runs_at_once_one_runs_and_the_other_skips():
    ContactFactory(marketplace_member_id=10**12)
    holding, release = threading.Event(), threading.Event()

    def other_run():  # another process's check, in the middle of its run
        try:
            with crossdb_check_lock() as acquired:
                assert acquired
                holding.set()
                release.wait(30)
        finally:
            connections.close_all()

    thread = threading.Thread(target=other_run)
    thread.start()
    try:
        assert holding.wait(30)
        skipped = run_crossdb_check(mode=FULL)
        assert skipped["skipped"] and skipped["problems"] == [] and skipped["checked"] == {}
    finally:
        release.set()
        thread.join(30)
    assert kinds(run_crossdb_check(mode=FULL)) == ["dangling_reference"]  # the lock is free again
