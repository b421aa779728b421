"""Metrics from a real Celery worker reach /metrics (Prometheus multiprocess directory shared with the
web process): an email it sent and a job it ran."""

import pytest

from breederhq.databases import DATABASE_ALIASES, TENANT_DB
from breederhq.email import email_enqueue
from breederhq.models import OutboundEmail
from tests.fixtures.celery_worker import WorkerProcess
from tests.waiting import wait_until

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(databases=list(DATABASE_ALIASES), transaction=True),
    pytest.mark.usefixtures("empty_queues"),
]


def test_metrics_scraped_from_the_web_include_the_workers_email_and_job(tmp_path, monkeypatch, client, settings):

    from breederhq.tasks import purge_expired_idempotency_keys

    settings.METRICS_TOKEN = ""
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    worker = WorkerProcess(extra_environment={"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}).start()
    try:
        email = email_enqueue(
            using=TENANT_DB,
            event_key="welcome:metrics",
            template="welcome",
            to=["ada@example.test"],
            context={"name": "Ada", "url": "https://x.test"},
        )
        wait_until(lambda: OutboundEmail.objects.using(TENANT_DB).get(pk=email.pk).status == "sent", timeout=60)
        purge_expired_idempotency_keys.delay().get(timeout=60)
        monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(metrics_dir))
        job_counted = (
            'breederhq_celery_tasks_total{outcome="success",task="breederhq.tasks.purge_expired_idempotency_keys"} 1.0'
        )
        # The result is stored before the worker's success signal counts the task: wait for the count.
        wait_until(lambda: job_counted in client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode(), timeout=30)
    finally:
        worker.stop()
    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 200
    text = response.content.decode()
    assert 'breederhq_emails_total{result="sent",template="welcome"} 1.0' in text, text[-3000:]
    assert (
        'breederhq_celery_tasks_total{outcome="success",task="breederhq.tasks.purge_expired_idempotency_keys"} 1.0'
        in text
    ), text[-3000:]


def test_every_way_of_running_the_platform_shares_one_metrics_directory():
    """docker compose (web, worker and beat on one volume), the Docker image and `make run` all set
    PROMETHEUS_MULTIPROC_DIR; without it each process would export only its own metrics."""
    from pathlib import Path

    import yaml

    base = Path(__file__).resolve().parents[3]
    compose = yaml.safe_load((base / "docker-compose.yml").read_text())
    for name in ("web", "worker", "beat"):
        service = compose["services"][name]
        directory = service["environment"]["PROMETHEUS_MULTIPROC_DIR"]
        assert any(volume.endswith(f":{directory}") for volume in service["volumes"]), name
    assert "PROMETHEUS_MULTIPROC_DIR=/app/metrics" in (base / "Dockerfile").read_text()
    assert 'environment["PROMETHEUS_MULTIPROC_DIR"]' in (base / "config" / "launcher.py").read_text()
