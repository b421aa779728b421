"""`make run` loads the demo data (`manage.py load_demo_data`) and an operator's first
`manage.py crossdb_check` on it is clean: the demo's deliberate faults (a dead-lettered webhook, a
stuck outbox message, an undeliverable email) are marked as demo data, log no ERROR, and are not
reported as problems."""

import logging

import pytest
from django.core.management import call_command

from breederhq.databases import MARKETPLACE_DB, TENANT_DB

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB], transaction=True)


def test_demo_data_logs_no_error_and_crossdb_check_is_clean(caplog, capsys):
    caplog.set_level(logging.INFO)
    call_command("load_demo_data")
    errors = [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
    call_command("crossdb_check")  # raises CommandError (exit 1) on any problem
    assert capsys.readouterr().out.rstrip().endswith("OK")


def test_a_stuck_message_is_a_problem_unless_marked_as_a_demo_fault(capsys):
    from django.core.management.base import CommandError

    from breederhq.crossdb_check import DEMO_FAULT_KEY
    from breederhq.models import OutboxMessage

    OutboxMessage.objects.using(TENANT_DB).create(
        topic="t.demo", target_db=MARKETPLACE_DB, status="stuck", payload={DEMO_FAULT_KEY: "practice for support"}
    )
    call_command("crossdb_check")
    assert "demo data, not a problem: outbox_message_stuck" in capsys.readouterr().out
    OutboxMessage.objects.using(TENANT_DB).create(
        topic="t.real", target_db=MARKETPLACE_DB, status="stuck", payload={"id": 1}
    )
    with pytest.raises(CommandError, match="1 problem"):
        call_command("crossdb_check")
