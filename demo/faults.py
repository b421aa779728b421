"""Deliberate demo faults: what the real code logs while the demo makes one is logged at INFO, saying so."""

from __future__ import annotations

import logging
from contextlib import contextmanager

#: The loggers the deliberate faults go through (the webhook inbox, the outbox relay, email sending).
_FAULT_LOGGERS = ("payments_app.inbox_processing", "breederhq.outbox", "breederhq.email")


class _DemoFaultFilter(logging.Filter):
    """Turns what the real code logs about a deliberate demo fault into one INFO line saying so
    (no traceback): an operator's first `make run` shows no ERROR that is not a real one."""

    def __init__(self, fault: str):
        super().__init__()
        self.fault = fault

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            record.msg = f"demo data, deliberate fault ({self.fault}): {record.msg}"
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.exc_info = record.exc_text = record.stack_info = None
        return True


@contextmanager
def deliberate_fault(fault: str):
    """Within the block, the fault loggers' warnings and errors are logged as a demo fault at INFO."""
    fault_filter = _DemoFaultFilter(fault)
    loggers = [logging.getLogger(name) for name in _FAULT_LOGGERS]
    for logger in loggers:
        logger.addFilter(fault_filter)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(fault_filter)
