"""Celery task id, name and tenant in the log context, and task outcomes as a metric.

The tenant a task works for comes from its message's `tenant_id` header, stamped on every message
published while a tenant's context is set (a request of that tenant, `tenant_context` in a worker),
or else from the task's own `tenant_id` argument. Inside the task, `tenant_context` sets it too for
its block (a sweep visiting tenant after tenant), so each line names the tenant it was written for.
"""

import inspect

from celery import signals

from breederhq.observability import context
from breederhq.observability.metrics import CELERY_TASKS

#: The message header naming the tenant a task works for.
TENANT_HEADER = "tenant_id"

_tokens: dict[str, tuple] = {}


def _tenant_of(task, args, kwargs) -> str:
    request = getattr(task, "request", None)
    header = getattr(request, TENANT_HEADER, None) or (getattr(request, "headers", None) or {}).get(TENANT_HEADER)
    if header:
        return str(header)
    try:
        bound = inspect.signature(task.run).bind_partial(*(args or ()), **(kwargs or {}))
    except (TypeError, ValueError):
        return ""
    value = bound.arguments.get("tenant_id")
    return str(value) if value else ""


@signals.before_task_publish.connect
def _stamp_tenant(headers=None, **kwargs):
    tenant = context.tenant_id.get()
    if tenant and headers is not None and TENANT_HEADER not in headers:
        headers[TENANT_HEADER] = tenant


@signals.task_prerun.connect
def _task_started(task_id=None, task=None, args=None, kwargs=None, **extra):
    _tokens[task_id] = (
        context.task_id.set(task_id or ""),
        context.task_name.set(getattr(task, "name", "") or ""),
        context.tenant_id.set(_tenant_of(task, args, kwargs)),
    )


@signals.task_postrun.connect
def _task_finished(task_id=None, task=None, state=None, **kwargs):
    tokens = _tokens.pop(task_id, None)
    if tokens is not None:
        context.task_id.reset(tokens[0])
        context.task_name.reset(tokens[1])
        context.tenant_id.reset(tokens[2])
    CELERY_TASKS.labels(getattr(task, "name", "?"), (state or "unknown").lower()).inc()


@signals.task_retry.connect
def _task_retried(request=None, **kwargs):
    CELERY_TASKS.labels(getattr(request, "task", "?"), "retry").inc()
