"""A real worker logs JSON lines (LOG_FORMAT=json) with the task id and name, secrets scrubbed."""

import json

import pytest

from breederhq.databases import DATABASE_ALIASES
from tests.fixtures.celery_worker import WorkerProcess
from tests.waiting import wait_until

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(databases=list(DATABASE_ALIASES), transaction=True),
    pytest.mark.usefixtures("empty_queues"),
]


def test_worker_log_lines_are_json_with_the_task_id_and_name(tmp_path):
    from celery import current_app

    log = tmp_path / "worker.log"
    worker = WorkerProcess(
        queues="default",
        include="tests.breederhq.jobs.slot_job",
        log_file=log,
        extra_environment={"LOG_FORMAT": "json"},
    ).start()
    try:
        result = current_app.send_task(
            "tests.jobs.log_a_line", args=["charging with sk_live_abcdef123456"], queue="default"
        )
        result.get(timeout=60)
        wait_until(lambda: "charging with" in log.read_text(), timeout=30)
    finally:
        worker.stop()
    records = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    ours = [r for r in records if r["logger"] == "tests.jobs"]
    assert ours, log.read_text()[-2000:]
    assert not any("sk_live_abcdef" in json.dumps(r) for r in records)
    record = ours[0]
    assert record["message"] == "charging with sk_live_[REDACTED]"
    assert (record["task_id"], record["task_name"], record["level"]) == (result.id, "tests.jobs.log_a_line", "WARNING")
