"""Who and what the current log line is about: request id, user, tenant, Celery task id.

Context variables, so they follow a request (or task) and never leak to the next one.
"""

from __future__ import annotations

import contextvars

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
user_id: contextvars.ContextVar[str] = contextvars.ContextVar("user_id", default="")
tenant_id: contextvars.ContextVar[str] = contextvars.ContextVar("tenant_id", default="")
task_id: contextvars.ContextVar[str] = contextvars.ContextVar("task_id", default="")
task_name: contextvars.ContextVar[str] = contextvars.ContextVar("task_name", default="")

ALL = {"request_id": request_id, "user": user_id, "tenant": tenant_id, "task_id": task_id, "task_name": task_name}


def snapshot() -> dict[str, str]:
    return {name: var.get() for name, var in ALL.items() if var.get()}
