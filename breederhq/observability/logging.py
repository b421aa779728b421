"""JSON-lines logging with the request/task context, and secrets and card data scrubbed."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

from breederhq.observability import context

SENSITIVE_KEY = re.compile(
    r"pass(word)?|secret|token|authorization|api[_-]?key|cookie|card|cvc|cvv|iban|signature", re.IGNORECASE
)
SENSITIVE_VALUE = [
    (re.compile(r"\b(sk|rk)_(live|test)_[0-9A-Za-z]+"), r"\1_\2_[REDACTED]"),
    (re.compile(r"\bwhsec_[0-9A-Za-z]+"), "whsec_[REDACTED]"),
    (re.compile(r"\bre_[0-9A-Za-z]{16,}"), "re_[REDACTED]"),
    (re.compile(r"(?i)\b(bearer|token)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 [REDACTED]"),
    # Card numbers: 13-19 digits, optionally grouped by spaces or dashes.
    (re.compile(r"\b(?:\d[ -]?){12,18}\d\b"), "[CARD REDACTED]"),
    (re.compile(r"(?i)(password|secret|api_key)=([^&\s]+)"), r"\1=[REDACTED]"),
]
_STANDARD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def scrub(value):
    if isinstance(value, str):
        for pattern, replacement in SENSITIVE_VALUE:
            value = pattern.sub(replacement, value)
        return value
    if isinstance(value, dict):
        return {k: "[REDACTED]" if SENSITIVE_KEY.search(str(k)) else scrub(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v) for v in value]
    return value


class DropThrottledResponses(logging.Filter):
    """Django logs every 4xx response on `django.request` at WARNING. A throttled request (429) is a
    refusal the platform chose, and a client that keeps hammering gets one per request: logged one
    by one they would be a flood of lines whose rate the client sets (thousands a second, measured
    with bench/). They are counted instead, in the request metric with `status="429"` by route
    (breederhq/observability/metrics.py), which is where an alert looks (docs/operations/runbook.md).
    Every other 4xx is still logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        return getattr(record, "status_code", None) != 429


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub(record.getMessage()),
            **context.snapshot(),
        }
        extra = {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS and not k.startswith("_")}
        if extra:
            line["extra"] = scrub(
                {
                    k: v if isinstance(v, (str, int, float, bool, type(None), dict, list)) else repr(v)
                    for k, v in extra.items()
                }
            )
        if record.exc_info:
            line["exception"] = scrub(self.formatException(record.exc_info))
        return json.dumps(line, default=str)
