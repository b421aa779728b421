"""What running the platform leaves behind: an undeliverable email, API traces (idempotency keys, refused
accesses, sign-in tokens) and beat's schedule."""

from __future__ import annotations

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from demo.base import demo_user
from demo.faults import deliberate_fault


def undeliverable_email() -> None:
    """A welcome email to an address pasted with a line break in it: every attempt fails, the last
    one marks it failed (the rest of the demo's emails stay queued until a worker sends them)."""
    from django.conf import settings

    from breederhq.email import email_enqueue, email_send

    email = email_enqueue(
        using=MARKETPLACE_DB,
        event_key="demo:welcome-typo",
        template="welcome",
        to=["olive@example.test\nolive.oops@example.test"],
        context={"name": "Olive", "url": "http://127.0.0.1:8000/"},
    )
    with deliberate_fault("an email address with a line break, undeliverable"):
        for _ in range(settings.EMAIL_MAX_ATTEMPTS - email.attempts):
            email_send(using=MARKETPLACE_DB, pk=email.pk)


def api_traces(buyer, owner, tenant) -> None:
    """What API traffic leaves behind: an idempotency key per database (a replayable POST), a
    refused access in each database's authorization audit, and sign-in tokens (one signed out)."""
    from django.db import transaction
    from rest_framework_simplejwt.token_blacklist.models import OutstandingToken
    from rest_framework_simplejwt.tokens import RefreshToken

    from breederhq.idempotency import claim_key, complete_claim, lock_claim, request_fingerprint
    from breederhq.models import IdempotencyKey
    from breederhq.tenancy import write_authorization_audit

    # As breederhq.api.idempotency scopes keys: by the signed-in (tenant_app) user, and where the
    # request acted (the tenant, or the marketplace identity).
    for alias, path, scope, context in (
        (TENANT_DB, "/api/v1/contacts/", f"tenant_app.user:{owner.pk}", f"tenant:{tenant.pk}"),
        (
            MARKETPLACE_DB,
            "/api/v1/marketplace/threads/",
            f"tenant_app.user:{buyer.tenant_user_id}",
            f"marketplace:{buyer.pk}",
        ),
    ):
        key = "demo-key-1"
        if IdempotencyKey.objects.using(alias).filter(key=key).exists():
            continue
        body = b'{"demo": true}'
        identity = {
            "scope": scope,
            "context": context,
            "method": "POST",
            "path": path,
            "key": key,
            "fingerprint": request_fingerprint(
                method="POST", path=path, content_type="application/json", body=body, tenant_header=""
            ),
        }
        claim_key(using=alias, **identity)
        with transaction.atomic(using=alias):
            claim = lock_claim(using=alias, **identity)
            complete_claim(
                claim.record,
                using=alias,
                status=201,
                content_type="application/json",
                body='{"id": 1}',
                headers={"Content-Type": "application/json"},
            )
        write_authorization_audit(
            user_id=buyer.tenant_user_id if alias == MARKETPLACE_DB else owner.pk,
            resource_type="invoice" if alias == TENANT_DB else "thread",
            resource_id=999,
            action="view",
            allowed=False,
            reason="not a member of the owning tenant (demo)",
            using=alias,
        )
    login = demo_user(email="buyer@breederhq.test")
    if not OutstandingToken.objects.filter(user=login).exists():
        RefreshToken.for_user(login)
        RefreshToken.for_user(login).blacklist()  # signed out on another device


def scheduled_jobs() -> None:
    """Beat's schedule in the PeriodicTask table (as beat writes it at start-up) and one job's status."""
    from django_celery_beat.models import PeriodicTask

    from breederhq.jobs.scheduler import ScheduleDefaultsDatabaseScheduler
    from breederhq.tasks import purge_expired_idempotency_keys
    from config.celery import app

    # What beat's scheduler does at start-up for a job missing from the table (its Entry.from_entry).
    existing = set(PeriodicTask.objects.values_list("name", flat=True))
    for name, entry in app.conf.beat_schedule.items():
        if name not in existing:
            ScheduleDefaultsDatabaseScheduler.Entry.from_entry(name, app=app, **entry)
    purge_expired_idempotency_keys()
