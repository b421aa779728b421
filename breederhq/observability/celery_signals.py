"""Celery task id in the log context, and task outcomes as a metric."""

from celery import signals

from breederhq.observability import context
from breederhq.observability.metrics import CELERY_TASKS

_tokens: dict[str, object] = {}


@signals.task_prerun.connect
def _task_started(task_id=None, task=None, **kwargs):
    _tokens[task_id] = context.task_id.set(task_id or "")


@signals.task_postrun.connect
def _task_finished(task_id=None, task=None, state=None, **kwargs):
    token = _tokens.pop(task_id, None)
    if token is not None:
        context.task_id.reset(token)
    CELERY_TASKS.labels(getattr(task, "name", "?"), (state or "unknown").lower()).inc()


@signals.task_retry.connect
def _task_retried(request=None, **kwargs):
    CELERY_TASKS.labels(getattr(request, "task", "?"), "retry").inc()
