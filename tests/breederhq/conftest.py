from datetime import timedelta

import pytest
from django.utils import timezone

from breederhq.databases import DATABASE_ALIASES
from breederhq.models import OutboxMessage
from breederhq.outbox import outbox_relay_due
from tests.crossdb_app import faults as fault_plan


@pytest.fixture
def faults():
    """Fault injection at the outbox steps (tests.crossdb_app.faults), cleared before and after."""
    fault_plan.clear()
    yield fault_plan
    fault_plan.clear()


def relay_until_quiet(max_rounds: int = 20) -> None:
    """Run the sweep as if time had moved past every backoff, until nothing is pending."""
    for round_ in range(1, max_rounds + 1):
        if not any(
            OutboxMessage.objects.using(alias).filter(status=OutboxMessage.Status.PENDING).exists()
            for alias in DATABASE_ALIASES
        ):
            return
        outbox_relay_due(now=timezone.now() + timedelta(days=round_))
    raise AssertionError("outbox messages still pending after the relay ran repeatedly")
