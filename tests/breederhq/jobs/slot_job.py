"""Tasks for tests of the worker and beat themselves: a scheduled job for the two-beats test (each
run appends its slot to SLOT_JOB_FILE), tasks that log, and one that takes its time. Imported by the
test's worker (`celery worker --include`), never by the application."""

import logging
import os
import time

from celery import shared_task

from breederhq.jobs.scheduled import current_slot, scheduled_job

NAME = "tests.jobs.slot_recorder"


@scheduled_job(NAME)
def slot_recorder() -> str:
    with open(os.environ["SLOT_JOB_FILE"], "a") as out:
        out.write(f"{current_slot()} {os.getpid()}\n")
    return str(current_slot())


@shared_task(name="tests.jobs.log_a_line", soft_time_limit=10, time_limit=20)
def log_a_line(text: str) -> None:
    """Logs one warning, for the worker-log test."""
    logging.getLogger("tests.jobs").warning("%s", text)


@shared_task(name="tests.jobs.log_for_tenant", soft_time_limit=10, time_limit=20)
def log_for_tenant(tenant_id: int, text: str) -> None:
    """Work for one tenant, named by its argument: logs one line (the worker-log test)."""
    logging.getLogger("tests.jobs").warning("%s", text)


@shared_task(name="tests.jobs.log_tenant_by_tenant", soft_time_limit=10, time_limit=20)
def log_tenant_by_tenant(tenant_ids: list[int]) -> None:
    """A sweep visiting tenants in turn, each in its own context: logs before, in each, and after."""
    from breederhq.tenancy import tenant_context

    log = logging.getLogger("tests.jobs")
    log.warning("sweep starts")
    for tenant_id in tenant_ids:
        with tenant_context(tenant_id):
            log.warning("sweep visits %s", tenant_id)
    log.warning("sweep ends")


@shared_task(name="tests.jobs.take_time", soft_time_limit=30, time_limit=40)
def take_time(seconds: float) -> None:
    """Appends "start" to SLOT_JOB_FILE, works for `seconds`, then appends "end" (the stop test)."""
    with open(os.environ["SLOT_JOB_FILE"], "a") as out:
        out.write("start\n")
    time.sleep(seconds)
    with open(os.environ["SLOT_JOB_FILE"], "a") as out:
        out.write("end\n")
