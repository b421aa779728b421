"""The account token purge (a scheduled job with a slot lock): dead tokens (used, replaced, expired)
past their retention go, in batches; open tokens and recently dead ones stay; a second message for
the same slot does nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.jobs.models import JobStatus
from breederhq.secret_tokens import new_secret_token
from tenant_app.models import AccountToken
from tenant_app.tasks import purge_account_tokens
from tests.factories.tenant import UserFactory

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])


def token(user, **fields) -> AccountToken:
    now = timezone.now()
    values = {"purpose": "verify_email", "email": user.email, "expires_at": now + timedelta(hours=1), **fields}
    return AccountToken.objects.using(TENANT_DB).create(user=user, token_hash=new_secret_token()[1], **values)


def test_dead_tokens_past_retention_are_purged_in_batches(settings):
    settings.ACCOUNT_TOKEN_RETENTION_DAYS = 7
    settings.ACCOUNT_TOKEN_PURGE_BATCH = 2
    user = UserFactory()
    long_ago, lately = timezone.now() - timedelta(days=8), timezone.now() - timedelta(days=1)
    doomed = [
        token(user, expires_at=long_ago),
        token(user, used_at=long_ago),
        token(user, voided_at=long_ago, purpose="reset_password"),
        token(user, expires_at=long_ago),
    ]
    kept = [token(user), token(user, used_at=lately), token(user, expires_at=lately), token(user, voided_at=lately)]

    slot = f"{int(timezone.now().timestamp()) // 60 * 60}/60"
    result = purge_account_tokens.apply(headers={"job_slot": slot}).get()
    assert result == len(doomed)
    assert set(AccountToken.objects.using(TENANT_DB).values_list("pk", flat=True)) == {t.pk for t in kept}
    assert purge_account_tokens.apply(headers={"job_slot": slot}).get() == {
        "skipped": f"slot {_label(slot)} already ran"
    }
    status = JobStatus.objects.using(TENANT_DB).get(name="tenant_app.tasks.purge_account_tokens")
    assert (status.runs, status.skips) == (1, 1)


def _label(slot):
    from breederhq.jobs.scheduled import slot_label

    return slot_label(slot)


def test_the_job_is_scheduled():
    from config.beat_schedule import BEAT_SCHEDULE

    assert any(entry["task"] == "tenant_app.tasks.purge_account_tokens" for entry in BEAT_SCHEDULE.values())
