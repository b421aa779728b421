"""Every line a real worker logs while working for a tenant names the tenant, with the task id and
name: from the task's `tenant_id` argument, from the tenant header stamped when it was published in
a tenant's context, or from `tenant_context` inside the task; and never the previous task's tenant."""

import json

import pytest

from breederhq.databases import DATABASE_ALIASES
from breederhq.observability import context
from tests.fixtures.celery_worker import WorkerProcess
from tests.waiting import wait_until

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(databases=list(DATABASE_ALIASES), transaction=True),
    pytest.mark.usefixtures("empty_queues"),
]


def test_worker_log_lines_name_the_tenant_of_the_work(tmp_path):
    from celery import current_app

    log = tmp_path / "worker.log"
    worker = WorkerProcess(
        queues="default",
        include="tests.breederhq.jobs.slot_job",
        log_file=log,
        extra_environment={"LOG_FORMAT": "json"},
    ).start()
    try:
        by_argument = current_app.send_task("tests.jobs.log_for_tenant", args=[41, "by argument"], queue="default")
        by_argument.get(timeout=60)
        token = context.tenant_id.set("42")  # published while working for tenant 42 (a request, a task)
        try:
            by_header = current_app.send_task("tests.jobs.log_a_line", args=["by header"], queue="default")
        finally:
            context.tenant_id.reset(token)
        by_header.get(timeout=60)
        no_tenant = current_app.send_task("tests.jobs.log_a_line", args=["no tenant"], queue="default")
        no_tenant.get(timeout=60)
        sweep = current_app.send_task("tests.jobs.log_tenant_by_tenant", args=[[43, 44]], queue="default")
        sweep.get(timeout=60)
        wait_until(lambda: "sweep ends" in log.read_text(), timeout=30)
    finally:
        worker.stop()
    records = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    ours = {r["message"]: r for r in records if r["logger"] == "tests.jobs"}
    assert set(ours) >= {
        "by argument",
        "by header",
        "no tenant",
        "sweep starts",
        "sweep visits 43",
        "sweep visits 44",
        "sweep ends",
    }, log.read_text()[-2000:]

    def who(message):
        r = ours[message]
        return r.get("tenant"), r["task_id"], r["task_name"]

    assert who("by argument") == ("41", by_argument.id, "tests.jobs.log_for_tenant")
    assert who("by header") == ("42", by_header.id, "tests.jobs.log_a_line")
    assert who("no tenant") == (None, no_tenant.id, "tests.jobs.log_a_line")  # nothing left from the last task
    assert who("sweep starts") == (None, sweep.id, "tests.jobs.log_tenant_by_tenant")
    assert who("sweep visits 43") == ("43", sweep.id, "tests.jobs.log_tenant_by_tenant")
    assert who("sweep visits 44") == ("44", sweep.id, "tests.jobs.log_tenant_by_tenant")
    assert who("sweep ends") == (None, sweep.id, "tests.jobs.log_tenant_by_tenant")
