"""Prometheus metrics. One definition per metric; code records through these helpers.

Labels are bounded: routes are URL patterns, never raw paths; tables are table names.
Alert thresholds are in docs/operations/runbook.md#health-metrics-and-logs, next to each metric.
"""

from __future__ import annotations

import functools
import os
import re

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess

HTTP_REQUEST_SECONDS = Histogram(
    "breederhq_http_request_duration_seconds",
    "HTTP request latency",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
DB_QUERY_SECONDS = Histogram(
    "breederhq_db_query_duration_seconds",
    "SQL query latency",
    ["database", "table", "operation"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5),
)
CROSSDB_RESOLUTION_SECONDS = Histogram(
    "breederhq_crossdb_resolution_duration_seconds",
    "Batch resolution of cross-database references",
    ["target_table"],
)
INVOICE_TRANSITIONS = Counter(
    "breederhq_invoice_transitions_total",
    "Invoice state transitions",
    ["kind", "from_status", "to_status", "payment_mode"],
)
WEBHOOK_EVENTS = Counter(
    "breederhq_stripe_webhook_events_total",
    "Stripe webhook events by type and result",
    ["event_type", "result"],
)
EMAILS = Counter("breederhq_emails_total", "Outbound emails by result", ["template", "result"])
CELERY_TASKS = Counter("breederhq_celery_tasks_total", "Celery task outcomes", ["task", "outcome"])
BLOCKED_CROSS_TENANT = Counter(
    "breederhq_blocked_cross_tenant_attempts_total",
    "Requests refused for reaching another tenant's data",
    ["reason"],
)

_TABLE = re.compile(r'\b(?:FROM|INTO|UPDATE|JOIN)\s+"?([A-Za-z_][A-Za-z0-9_]*)"?', re.IGNORECASE)


@functools.lru_cache(maxsize=2048)  # the same statements come back with every request
def sql_table_and_operation(sql: str) -> tuple[str, str]:
    operation = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else "OTHER"
    if operation not in {"SELECT", "INSERT", "UPDATE", "DELETE"}:
        operation = "OTHER"
    match = _TABLE.search(sql)
    return (match.group(1) if match else "-"), operation


def render_latest() -> bytes:
    """All metrics; across gunicorn/celery processes when PROMETHEUS_MULTIPROC_DIR is set."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest()
