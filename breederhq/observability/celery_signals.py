"""Celery task id in the log context, and task outcomes as a metric."""

from celery import signals

from breederhq.observability import context
from breederhq.observability.metrics import CELERY_TASKS

_tokens: dict[str, tuple] = {}


@signals.task_prerun.connect
def _task_started(task_id=None, task=None, **kwargs):
    _tokens[task_id] = (context.task_id.set(task_id or ""), context.task_name.set(getattr(task, "name", "") or ""))


@signals.task_postrun.connect
def _task_finished(task_id=None, task=None, state=None, **kwargs):
    tokens = _tokens.pop(task_id, None)
    if tokens is not None:
        context.task_id.reset(tokens[0])
        context.task_name.reset(tokens[1])
    CELERY_TASKS.labels(getattr(task, "name", "?"), (state or "unknown").lower()).inc()


@signals.task_retry.connect
def _task_retried(request=None, **kwargs):
    CELERY_TASKS.labels(getattr(request, "task", "?"), "retry").inc()
