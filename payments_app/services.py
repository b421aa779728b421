"""Payments writes: the Stripe webhook inbox and its processing, and collecting
invoices through a payment provider (Stripe payment intents, manual fallback)."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import random
import re
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import stripe
from django.conf import settings
from django.db import DataError, connections, transaction
from django.utils import timezone

from breederhq.api.parsers import nul_path, storable
from breederhq.db_adapters import server_binding_cursor
from breederhq.errors import Conflict, DomainError, NotFound
from breederhq.invoicing.status import SETTLED, InvoiceStatus, PaymentModeSnapshot
from breederhq.observability.metrics import WEBHOOK_EVENTS
from breederhq.tenancy import owner_context, system_read_context, tenant_context
from payments_app.models import (
    CancelStatus,
    InvoiceKind,
    InvoicePayment,
    OpenState,
    ReconciliationState,
    StripeStatus,
    StripeWebhookEvent,
)
from payments_app.stripe_gateway import StripeUnavailable
from payments_app.webhook_handlers import HANDLERS

logger = logging.getLogger(__name__)


class WebhookSignatureInvalid(DomainError):
    status = 400
    code = "webhook_signature_invalid"
    title = "Webhook signature invalid"


@dataclass(frozen=True)
class ReceivedEvent:
    """What a delivery left in the inbox: the row's id, Stripe's event id, its status as the
    statement saw it, and whether the event was there already."""

    pk: int
    stripe_event_id: str
    status: str
    duplicate: bool


_PROCESSABLE = frozenset({StripeWebhookEvent.Status.RECEIVED.value, StripeWebhookEvent.Status.FAILED.value})


def _enqueue_processing(event_pk: int) -> None:
    """Off the request thread: the webhook answers without waiting on the broker. A message lost on
    the way (Redis down, process killed) is re-enqueued by `retry_due_stripe_events`. A burst of
    them goes out as one `process_stripe_events` message (see publish_later)."""
    from breederhq.jobs.publish_later import publish_later
    from payments_app.tasks import process_stripe_event, process_stripe_events

    publish_later(process_stripe_event, event_pk, batch_task=process_stripe_events)


#: The inbox columns a delivery supplies; every other column is written as its default.
_INBOX_PER_EVENT = ("stripe_event_id", "event_type", "stripe_account_id", "livemode", "stripe_created", "object_id",
                    "payload", "next_attempt_at", "received_at")


@functools.cache
def _inbox_statements() -> tuple[list, str, str]:
    """The inbox SQL, built once from the model: (the INSERT's parameters, with a delivery's own
    columns as their names and every other column as its default prepared once; INSERT; duplicate
    statement)."""
    meta = StripeWebhookEvent._meta
    connection = connections["default"]
    qn = connection.ops.quote_name
    table, pk = qn(meta.db_table), qn(meta.pk.column)
    event_id = qn(meta.get_field("stripe_event_id").column)
    status = qn(meta.get_field("status").column)
    next_attempt_at = qn(meta.get_field("next_attempt_at").column)
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    defaults = StripeWebhookEvent()
    template = []
    for f in fields:
        if f.name in _INBOX_PER_EVENT:
            template.append(f.name)
        elif getattr(f, "auto_now", False) or (f.has_default() and callable(f.default)):
            # Prepared once, such a default would be the same value on every row.
            raise TypeError(f"stripe_event_receive must fill {f.name} per delivery (_INBOX_PER_EVENT)")
        elif f.has_default() or f.null or f.empty_strings_allowed:
            template.append(_InboxDefault(f.get_db_prep_save(getattr(defaults, f.attname), connection)))
        else:  # a new NOT NULL column without a default: the insert would fail; say so at once
            raise TypeError(f"stripe_event_receive does not know how to fill {f.name}")
    # The verified raw body goes in as text cast to jsonb: the same JSON we parsed, not re-serialised.
    values = ", ".join("%s::jsonb" if f.name == "payload" else "%s" for f in fields)
    insert = (f"INSERT INTO {table} ({', '.join(qn(f.column) for f in fields)}) VALUES ({values}) "
              f"ON CONFLICT ({event_id}) DO NOTHING RETURNING {pk}")
    # One statement, one snapshot. The UPDATE moves a FAILED event's next attempt to now; when it
    # matched nothing, the SELECT (same snapshot as the UPDATE) gives the status.
    duplicate = (
        f"WITH bumped AS (UPDATE {table} SET {next_attempt_at} = %s "
        f"WHERE {event_id} = %s AND {status} = %s RETURNING {pk}, {status}) "
        f"SELECT {pk}, {status} FROM bumped "
        f"UNION ALL SELECT {pk}, {status} FROM {table} WHERE {event_id} = %s AND NOT EXISTS (SELECT 1 FROM bumped)"
    )
    return template, insert, duplicate


@dataclass(frozen=True)
class _InboxDefault:
    """A column's default, prepared for the database once (see _inbox_statements)."""

    value: object


def _payload_text(payload: bytes, event: dict) -> str:
    """The body as text for the jsonb column; re-serialised only when PostgreSQL could not read the
    bytes as they are (not UTF-8, or a byte-order mark, both of which json.loads accepts)."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return json.dumps(event)
    return json.dumps(event) if text.startswith("\ufeff") else text


#: `outcome` of a validly signed delivery that could not be stored as an event (dead-lettered).
INVALID_EVENT_OUTCOME = "received but invalid: "
#: Stripe did not exist before this; a `created` earlier than it, or more than a day ahead, is absurd.
_EARLIEST_CREATED = datetime(2009, 1, 1, tzinfo=UTC)
_CREATED_AHEAD = timedelta(days=1)


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _fits(value, field: str) -> bool:
    """A non-empty string PostgreSQL can store (no NUL, no lone surrogate) that fits the inbox column `field`."""
    max_length = StripeWebhookEvent._meta.get_field(field).max_length
    return isinstance(value, str) and 0 < len(value) <= max_length and storable(value)


def _event_problem(payload: bytes, event, *, now: datetime) -> str | None:
    """Why a verified, parsed delivery cannot be stored as an event, or None when it can."""
    if not isinstance(event, dict):
        return f"the payload is a JSON {type(event).__name__}, not an object"
    missing = sorted({"id", "type", "created"} - event.keys())
    if missing:
        return f"it has no {', '.join(missing)}"
    for key, field in (("id", "stripe_event_id"), ("type", "event_type")):
        if not _fits(event[key], field):
            limit = StripeWebhookEvent._meta.get_field(field).max_length
            return f"{key} is not a string of 1 to {limit} characters without NUL"
    account = event.get("account")
    if account not in (None, "") and not _fits(account, "stripe_account_id"):
        limit = StripeWebhookEvent._meta.get_field("stripe_account_id").max_length
        return f"account is not a string of at most {limit} characters without NUL"
    created = event["created"]
    if not isinstance(created, int | float) or isinstance(created, bool):
        return "created is not a Unix timestamp"
    if not _EARLIEST_CREATED.timestamp() <= created <= (now + _CREATED_AHEAD).timestamp():
        return f"created ({created}) is not between {_EARLIEST_CREATED:%Y-%m-%d} and a day from now"
    data = event.get("data")
    if data is not None and not isinstance(data, dict):
        return "data is not an object"
    if isinstance(data, dict) and data.get("object") is not None and not isinstance(data["object"], dict):
        return "data.object is not an object"
    # A NUL or a lone surrogate can only be there as an escape (\u0000, \ud800 to \udfff; raw control
    # characters are not JSON, raw surrogates not UTF-8): look only then.
    if b"\\u0000" in payload or _SURROGATE_ESCAPE.search(payload):
        path = nul_path(event)
        if path is not None:
            return f"{path} contains a NUL character or an unpaired surrogate, which PostgreSQL cannot store"
    return None


def _store_invalid(payload: bytes, event, reason: str, *, now: datetime) -> ReceivedEvent:
    """A validly signed delivery that is not a storable event: kept dead-lettered, with the reason,
    for support staff (the Stripe events admin, status "dead"); its body as text under `unparsed`.
    Its Stripe id when usable, else one derived from the body, so a redelivery is a duplicate."""
    event = event if isinstance(event, dict) else {}
    event_id = event.get("id") if _fits(event.get("id"), "stripe_event_id") else (
        "invalid_" + hashlib.sha256(payload).hexdigest()[:64])
    text = payload.decode("utf-8", errors="replace").replace("\x00", "\ufffd")
    reason = reason.replace("\x00", "\ufffd")
    row, created = StripeWebhookEvent.objects.using("default").get_or_create(
        stripe_event_id=event_id,
        defaults={
            "event_type": event.get("type") if _fits(event.get("type"), "event_type") else "invalid",
            "stripe_account_id": event.get("account") if _fits(event.get("account"), "stripe_account_id") else "",
            "livemode": event.get("livemode") is True,
            "stripe_created": now,
            "payload": {"unparsed": text},
            "status": StripeWebhookEvent.Status.DEAD,
            "next_attempt_at": None,
            "last_error": reason,
            "outcome": (INVALID_EVENT_OUTCOME + reason)[:300],
            "processed_at": now,
        },
    )
    if created:
        logger.warning("stripe webhook: validly signed but invalid event %s dead-lettered: %s", event_id, reason)
        WEBHOOK_EVENTS.labels(row.event_type, "invalid").inc()
    return ReceivedEvent(row.pk, event_id, row.status, not created)


# Bound once: the SDK resolves `stripe.<Name>` through a module __getattr__ that imports the
# submodule on every access, which cost the webhook view a tenth of its CPU (bench/profile.py webhook).
_WebhookSignature = stripe.WebhookSignature
_SignatureVerificationError = stripe.SignatureVerificationError
_WEBHOOK_TOLERANCE = stripe.Webhook.DEFAULT_TOLERANCE


def stripe_event_receive(*, payload: bytes, signature_header: str | None) -> ReceivedEvent:
    """Verify a webhook delivery and store it in the inbox; processing is enqueued once that is
    committed (at once in autocommit, else on the caller's commit).

    The signature is checked over the raw body exactly as received, with the SDK's default
    tolerance (300 s), so a replay of an old delivery is refused.

    One statement per delivery on the tenant database, in autocommit: a new event is an
    `INSERT ... ON CONFLICT (stripe_event_id) DO NOTHING RETURNING id`; a duplicate (nothing
    returned) is one more statement that moves a FAILED event's next attempt to now and reads the
    status. Processing is enqueued when that status is RECEIVED or FAILED.
    """
    # What stripe.Webhook.construct_event does, minus building a StripeObject tree only to turn it
    # back into the dict we store: verify over the raw body, then parse it.
    try:
        _WebhookSignature.verify_header(payload, signature_header, settings.STRIPE_WEBHOOK_SECRET,
                                        tolerance=_WEBHOOK_TOLERANCE)
    except _SignatureVerificationError as exc:
        raise WebhookSignatureInvalid(f"Stripe-Signature does not verify: {exc.user_message or exc}") from exc
    except UnicodeDecodeError:  # Stripe signs UTF-8 text: these bytes cannot carry its signature
        raise WebhookSignatureInvalid("Stripe-Signature does not verify: the body is not UTF-8.") from None
    # From here the delivery is Stripe's: whatever it holds, it is stored and answered 200 (a 4xx or
    # 5xx makes Stripe retry for days). What cannot be stored as an event is dead-lettered.
    now = timezone.now()
    try:
        event = json.loads(payload, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        return _store_invalid(payload, None, f"the payload is not JSON ({exc})", now=now)
    problem = _event_problem(payload, event, now=now)
    if problem is not None:
        return _store_invalid(payload, event, problem, now=now)

    connection = connections["default"]
    template, insert, duplicate_sql = _inbox_statements()
    data_object = (event.get("data") or {}).get("object") or {}
    # The columns as the ORM's INSERT would write them, without building a model instance and
    # preparing every field per delivery (a tenth of the request's CPU): strings, a bool, aware
    # datetimes and the body as text for the jsonb cast.
    own = {
        "stripe_event_id": event["id"],
        "event_type": event["type"],
        "stripe_account_id": str(event.get("account") or ""),
        "livemode": bool(event.get("livemode")),
        "stripe_created": datetime.fromtimestamp(event["created"], tz=UTC),
        "object_id": str(data_object.get("id", ""))[:100],
        "payload": _payload_text(payload, event),
        "next_attempt_at": now,
        "received_at": now,
    }
    params = [column.value if isinstance(column, _InboxDefault) else own[column] for column in template]
    event_id = own["stripe_event_id"]
    with server_binding_cursor(connection) as cursor:  # the payload travels apart from the SQL
        for _ in range(2):
            try:
                cursor.execute(insert, params)
            except DataError as exc:  # a value PostgreSQL refuses that the checks above let through
                if connection.in_atomic_block:
                    raise  # a caller's transaction is broken now: theirs to handle (the view runs in autocommit)
                return _store_invalid(payload, event, f"the database refused it ({exc})".strip(), now=now)
            inserted = cursor.fetchone()
            if inserted is not None:
                received = ReceivedEvent(inserted[0], event_id, StripeWebhookEvent.Status.RECEIVED.value, False)
                break
            # A duplicate. Race-safe without the SELECT ... FOR UPDATE the ORM version took: that
            # lock (a) kept "is it FAILED? then bump next_attempt_at" from interleaving with a
            # worker changing the status, and (b) made the status read wait for a worker's open
            # transaction. (a) is what the single UPDATE ... WHERE status = 'failed' does by itself:
            # it locks the row, waits for a worker holding it and re-checks the WHERE on the
            # committed row (READ COMMITTED), so it never touches an event a worker has just moved
            # on, and it writes only next_attempt_at. (b) only chose which committed state we see:
            # reading the statement's snapshot instead is the answer the locked read gives a
            # delivery arriving a moment earlier, and the enqueue decision stays safe either way -
            # processing re-checks the status under its own lock, so an extra message (an event a
            # worker has just finished) is a no-op, and a RECEIVED/FAILED one is never skipped.
            cursor.execute(duplicate_sql, [now, event_id, StripeWebhookEvent.Status.FAILED.value, event_id])
            existing = cursor.fetchone()
            if existing is not None:
                received = ReceivedEvent(existing[0], event_id, existing[1], True)
                break
            # Deleted between the two statements (support staff): store it again.
        else:
            raise StripeWebhookEvent.DoesNotExist(f"Stripe event {event_id} vanished while stored")
    if received.status in _PROCESSABLE:
        # In autocommit (the webhook view) this runs at once; inside a caller's atomic block, on its commit.
        transaction.on_commit(functools.partial(_enqueue_processing, received.pk), using="default")
    return received


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff with full jitter, capped at six hours."""
    ceiling = min(settings.STRIPE_WEBHOOK_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0), 6 * 3600)
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))


#: The top 16 bits of the advisory lock key that claims an inbox event for one worker ("WH").
_EVENT_CLAIM_NAMESPACE = 0x5748 << 48


@contextmanager
def _event_claim(event_pk: int):
    """A session-level advisory lock on the event for the whole of its processing (both
    transactions): a second worker given the same event (a duplicate delivery's message, a batch
    and a single one, the sweep) steps aside instead of counting an attempt of its own between the
    first worker's attempt count and its handler. Gone with the connection if the worker dies."""
    key = _EVENT_CLAIM_NAMESPACE | event_pk
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        claimed = cursor.fetchone()[0]
    try:
        yield claimed
    finally:
        if claimed:
            try:
                with connections["default"].cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
            except Exception:  # the connection broke: the lock went with it; make sure it is not reused
                logger.warning("could not release the claim on stripe event %s; closing the connection", event_pk)
                connections["default"].close()


def stripe_event_process(*, event_pk: int) -> StripeWebhookEvent | None:
    """Apply one inbox event. Safe to call any number of times, from any number of workers.

    0. Claim it (`_event_claim`): a worker that cannot returns None at once, as for a locked row.
    1. Count the attempt in its own committed transaction, so a worker killed mid-event still counts
       and a poison event cannot loop forever.
    2. Lock the event, run its handler and mark it succeeded in one transaction: the effect and the
       "done" mark commit together or not at all.
    3. On failure, record the error and the next attempt (or dead-letter it) in a fresh transaction.
    """
    if event_pk >= 1 << 48:
        raise ValueError(f"stripe event pk {event_pk} does not fit the claim's key")
    with _event_claim(event_pk) as claimed:
        if not claimed:
            return None  # another worker is processing it
        return _stripe_event_process_claimed(event_pk)


def _stripe_event_process_claimed(event_pk: int) -> StripeWebhookEvent | None:
    with transaction.atomic(using="default"):
        event = (
            StripeWebhookEvent.objects.using("default").select_for_update(skip_locked=True)
            .filter(pk=event_pk).first()
        )
        if event is None:
            return None  # another worker holds it, or it does not exist
        if event.status not in {StripeWebhookEvent.Status.RECEIVED, StripeWebhookEvent.Status.FAILED}:
            return event  # succeeded, ignored or dead: processed before
        if event.attempts >= settings.STRIPE_WEBHOOK_MAX_ATTEMPTS:
            event.status = StripeWebhookEvent.Status.DEAD
            event.next_attempt_at = None
            event.save(using="default", update_fields=["status", "next_attempt_at"])
            return event
        event.attempts += 1
        event.save(using="default", update_fields=["attempts"])

    try:
        with transaction.atomic(using="default"):
            event = StripeWebhookEvent.objects.using("default").select_for_update().get(pk=event_pk)
            if event.status not in {StripeWebhookEvent.Status.RECEIVED, StripeWebhookEvent.Status.FAILED}:
                return event
            handler = HANDLERS.get(event.event_type)
            if handler is None:
                event.status = StripeWebhookEvent.Status.IGNORED
                event.outcome = "no handler for this event type"
            else:
                event.outcome = (handler(event) or "")[:300]
                event.status = StripeWebhookEvent.Status.SUCCEEDED
            event.last_error = ""
            event.next_attempt_at = None
            event.processed_at = timezone.now()
            event.save(using="default")
        WEBHOOK_EVENTS.labels(event.event_type, event.status).inc()
        return event
    except Exception as exc:
        logger.exception("stripe event %s failed", event_pk)
        with transaction.atomic(using="default"):
            event = StripeWebhookEvent.objects.using("default").select_for_update().get(pk=event_pk)
            event.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            if getattr(exc, "permanent", False):
                # The event itself is wrong (an amount that is not an integer): retrying cannot help.
                event.status = StripeWebhookEvent.Status.DEAD
                event.next_attempt_at = None
                event.outcome = f"dead-lettered: {exc}"[:300]
            elif event.attempts >= settings.STRIPE_WEBHOOK_MAX_ATTEMPTS:
                event.status = StripeWebhookEvent.Status.DEAD
                event.next_attempt_at = None
            else:
                event.status = StripeWebhookEvent.Status.FAILED
                event.next_attempt_at = timezone.now() + retry_delay(event.attempts)
            event.save(using="default", update_fields=["last_error", "status", "next_attempt_at", "outcome"])
        WEBHOOK_EVENTS.labels(event.event_type, event.status).inc()
        return event


def stripe_events_due(*, limit: int = 500, now: datetime | None = None) -> list[int]:
    """Ids of events waiting to be (re)processed now: failed ones past their backoff, and received
    ones whose enqueue was lost (Redis down at the time, worker killed)."""
    now = now or timezone.now()
    return list(
        StripeWebhookEvent.objects.using("default")
        .filter(status__in=[StripeWebhookEvent.Status.RECEIVED, StripeWebhookEvent.Status.FAILED],
                next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )


def stripe_event_requeue(*, event_pk: int) -> StripeWebhookEvent:
    """Support staff: give a dead-lettered (or failed) event a fresh set of attempts, now."""
    with transaction.atomic(using="default"):
        try:
            event = StripeWebhookEvent.objects.using("default").select_for_update().get(pk=event_pk)
        except StripeWebhookEvent.DoesNotExist:
            raise NotFound(f"No Stripe event #{event_pk}.") from None
        if event.status in {StripeWebhookEvent.Status.SUCCEEDED, StripeWebhookEvent.Status.IGNORED}:
            return event
        if event.outcome.startswith(INVALID_EVENT_OUTCOME):
            return event  # not an event that processing could read: it stays dead-lettered
        event.status = StripeWebhookEvent.Status.FAILED
        event.attempts = 0
        event.next_attempt_at = timezone.now()
        event.save(using="default", update_fields=["status", "attempts", "next_attempt_at"])
        transaction.on_commit(lambda: _enqueue_processing(event.pk), using="default")
    return event


# --- Collecting invoices through a provider ---------------------------------------------------------


@dataclass(frozen=True)
class InvoiceFacts:
    """What paying an invoice needs to know, read in the invoice's own database (and tenant)."""

    kind: str
    invoice_id: int
    tenant_id: int | None
    provider_id: int | None
    number: str
    status: str
    payment_mode: str
    total_cents: int
    refunded_cents: int
    currency: str
    version: int = 0
    #: What was collected (a tenant invoice may be paid in parts; a marketplace one in full).
    paid_cents: int = 0


def invoice_facts(*, invoice_kind: str, invoice_id: int, tenant_id: int | None) -> InvoiceFacts | None:
    from marketplace_app.models import MarketplaceInvoice
    from tenant_app.models import Invoice

    if invoice_kind == InvoiceKind.TENANT:
        if tenant_id is None:
            return None
        with tenant_context(tenant_id):
            invoice = Invoice.all_objects.filter(pk=invoice_id).first()
        if invoice is None:
            return None
        return InvoiceFacts(invoice_kind, invoice.pk, invoice.tenant_id, None, invoice.invoice_number, invoice.status,
                            invoice.payment_mode_snapshot, invoice.total_cents, invoice.refunded_cents, invoice.currency,
                            invoice.version, invoice.paid_cents)
    invoice = MarketplaceInvoice.objects.using("marketplace").filter(pk=invoice_id).first()
    if invoice is None:
        return None
    return InvoiceFacts(invoice_kind, invoice.pk, None, invoice.provider_id, invoice.number, invoice.status,
                        invoice.payment_mode_snapshot, invoice.total_cents, invoice.refunded_cents, invoice.currency,
                        invoice.version, invoice.total_cents if invoice.paid_at is not None else 0)


def invoice_payment_record_fallback(*, invoice_kind: str, invoice_id: int, tenant_id: int | None, reason: str,
                                    amount_cents: int, currency: str, connect_account_id: str = "") -> InvoicePayment:
    """Record that a new invoice fell back from Stripe to manual payment (the visible flag).

    Called by invoice creation (tenant: inside its transaction; marketplace: after its commit).
    """
    with transaction.atomic(using="default"), owner_context(tenant_id):
        payment, created = InvoicePayment.objects.using("default").get_or_create(
            invoice_kind=invoice_kind, invoice_id=invoice_id,
            defaults={"owner_tenant_id": tenant_id, "provider": InvoicePayment.Provider.MANUAL,
                      "fallback_reason": reason, "amount_cents": amount_cents, "currency": currency,
                      "connect_account_id": connect_account_id},
        )
        if created and tenant_id is not None:
            _email_fallback_notice(tenant_id=tenant_id, invoice_id=invoice_id, reason=reason)
    logger.warning("%s invoice %s created in manual mode: stripe fallback (%s)", invoice_kind, invoice_id, reason)
    return payment


def _email_fallback_notice(*, tenant_id: int, invoice_id: int, reason: str) -> None:
    """Tell the tenant's owners and admins, in the same transaction as the fallback record."""
    from breederhq.email import email_enqueue
    from tenant_app.models import Invoice, TenantMembership

    with tenant_context(tenant_id):
        invoice = Invoice.all_objects.select_related("tenant").get(pk=invoice_id)
        to = sorted(TenantMembership.objects.filter(role__in=["owner", "admin"]).exclude(user__email="")
                    .values_list("user__email", flat=True))
        if to:
            email_enqueue(using="default", event_key=f"stripe_fallback:tenant:{invoice_id}",
                          template="stripe_fallback_notice", to=to,
                          context={"tenant": invoice.tenant.name, "invoice_number": invoice.invoice_number,
                                   "reason": reason.replace("_", " ")})


#: Invoice states in which no payment intent will ever be needed: an unopened row is closed.
NEVER_OPENED = frozenset({InvoiceStatus.VOID, *SETTLED})


def _payment_claim(facts: InvoiceFacts, *, connect_account_id: str) -> InvoicePayment:
    """The invoice's Stripe payment row ("unopened" until its intent id is stored), created once.
    Runs in the caller's transaction on the tenant database, in the invoice's owner's context."""
    from payments_app.providers import application_fee_cents

    with owner_context(facts.tenant_id):
        payment, created = InvoicePayment.objects.using("default").get_or_create(
            invoice_kind=facts.kind, invoice_id=facts.invoice_id,
            defaults={"owner_tenant_id": facts.tenant_id, "provider": InvoicePayment.Provider.STRIPE,
                      "amount_cents": facts.total_cents, "currency": facts.currency,
                      "application_fee_cents": application_fee_cents(facts.total_cents, facts.currency),
                      "connect_account_id": connect_account_id, "open_state": OpenState.UNOPENED},
        )
        if not created and connect_account_id and not payment.connect_account_id:
            payment.connect_account_id = connect_account_id  # onboarded after the send
            payment.save(using="default", update_fields=["connect_account_id", "updated_at"])
    return payment


def _abandon(payment_pk: int, *, owner: int | None, reason: str) -> InvoicePayment:
    """Close an unopened row whose invoice will never need an intent: the sweep stops retrying it."""
    with transaction.atomic(using="default"), owner_context(owner):
        payment = InvoicePayment.objects.using("default").select_for_update().get(pk=payment_pk)
        if payment.stripe_payment_intent_id or payment.open_state != OpenState.UNOPENED:
            return payment
        payment.open_state, payment.open_note = OpenState.ABANDONED, reason[:300]
        payment.save(using="default", update_fields=["open_state", "open_note", "updated_at"])
    logger.warning("payment intent of %s invoice %s abandoned: %s", payment.invoice_kind, payment.invoice_id, reason)
    return payment


def invoice_payment_note_open_failure(*, payment_pk: int, owner_tenant_id: int | None, reason: str) -> None:
    """The sweep could not open this row (account unusable, ...): say why, for staff, and move it to
    the back of the sweep's queue (ordered by `updated_at`) so it cannot starve the others."""
    with transaction.atomic(using="default"), owner_context(owner_tenant_id):
        InvoicePayment.objects.using("default").filter(pk=payment_pk, open_state=OpenState.UNOPENED).update(
            open_note=reason[:300], updated_at=timezone.now())


def invoice_payment_open(*, invoice_kind: str, invoice_id: int, tenant_id: int | None = None) -> InvoicePayment:
    """Create the Stripe payment intent of a sent, Stripe-mode invoice: at most one, ever.

    The row ("unopened", written by the send) is claimed and committed; the Stripe call runs with no
    transaction open, under an idempotency key derived from the invoice, so a crash between the call
    and the save, or two workers at once, end with the same single payment intent. An invoice voided
    or settled before any intent existed closes its row ("abandoned") instead. Raises
    StripeUnavailable on an outage (the caller retries later).
    """
    from payments_app.access import invoice_owner
    from payments_app.providers import PaymentRequest, StripeConnectProvider, connect_account_for

    owner = invoice_owner(invoice_kind=invoice_kind, invoice_id=invoice_id, tenant_id=tenant_id,
                          job="payments:open_intent")
    tenant_id = owner if invoice_kind == InvoiceKind.TENANT else tenant_id
    facts = invoice_facts(invoice_kind=invoice_kind, invoice_id=invoice_id, tenant_id=tenant_id)
    with owner_context(owner):
        existing = InvoicePayment.objects.using("default").filter(invoice_kind=invoice_kind,
                                                                  invoice_id=invoice_id).first()
    if existing is not None and (existing.stripe_payment_intent_id or existing.provider != InvoicePayment.Provider.STRIPE
                                 or existing.open_state == OpenState.ABANDONED):
        return existing
    if facts is None:
        if existing is not None:
            return _abandon(existing.pk, owner=owner, reason=f"{invoice_kind} invoice #{invoice_id} no longer exists")
        raise NotFound(f"No {invoice_kind} invoice #{invoice_id}.")
    if facts.payment_mode != PaymentModeSnapshot.STRIPE:
        raise Conflict(f"Invoice {facts.number} is paid {facts.payment_mode}ly, not through Stripe.",
                       code="payment_mode_mismatch")
    if existing is not None and facts.status in NEVER_OPENED:
        return _abandon(existing.pk, owner=owner,
                        reason=f"invoice {facts.number} became {facts.status} before its intent existed")
    if facts.status != InvoiceStatus.SENT:
        raise Conflict(f"Invoice {facts.number} is {facts.status}; only a sent invoice is put on Stripe.",
                       code="invoice_not_sent")
    account = connect_account_for(tenant_id=facts.tenant_id, provider_id=facts.provider_id)
    if account is None or not account.can_take_payments:
        raise Conflict("The Stripe Connect account cannot take payments.", code="stripe_account_unusable")
    with transaction.atomic(using="default"):
        payment = _payment_claim(facts, connect_account_id=account.stripe_account_id)
    if (payment.stripe_payment_intent_id or payment.provider != InvoicePayment.Provider.STRIPE
            or payment.open_state == OpenState.ABANDONED):
        return payment
    result = StripeConnectProvider().execute(PaymentRequest(
        invoice_kind=invoice_kind, invoice_id=invoice_id, tenant_id=facts.tenant_id, amount_cents=payment.amount_cents,
        currency=payment.currency, connect_account_id=payment.connect_account_id,
        description=f"Invoice {facts.number}", metadata=payment.metadata(),
    ))
    with transaction.atomic(using="default"), owner_context(owner):
        payment = InvoicePayment.objects.using("default").select_for_update().get(pk=payment.pk)
        if not payment.stripe_payment_intent_id:
            # Even on a row a concurrent void closed meanwhile: the intent exists in Stripe now,
            # so it is recorded, and cancelled just below.
            payment.stripe_payment_intent_id = result.matching_id
            payment.stripe_status = result.status
            payment.open_state, payment.open_note = OpenState.OPENED, ""
            payment.save(using="default", update_fields=["stripe_payment_intent_id", "stripe_status", "open_state",
                                                         "open_note", "updated_at"])
    # The invoice may have been voided while Stripe was creating the intent (the void found no
    # intent to cancel): cancel it now rather than leave a payable intent on a void invoice.
    after = invoice_facts(invoice_kind=invoice_kind, invoice_id=invoice_id, tenant_id=facts.tenant_id)
    if after is None or after.status in NEVER_OPENED:  # voided, or paid by hand, meanwhile
        with transaction.atomic(using="default"):
            invoice_payment_cancel_requested(invoice_kind=invoice_kind, invoice_id=invoice_id,
                                             intent_just_stored=True)
    return payment


def invoice_payment_open_on_commit(*, invoice_kind: str, invoice_id: int, tenant_id: int | None, using: str) -> None:
    """Called by `invoice_send` inside its transaction on `using`.

    The durable record comes first: the "unopened" payment row is written in the send's own
    transaction (tenant invoices), or through the outbox in it (marketplace invoices: the row lives
    in the tenant database). Once that commits a worker creates the Stripe intent, never inside the
    send's transaction and locks; if the enqueue is lost (Redis down) the sweep opens the row later.
    """
    if using != "default":
        from breederhq.outbox import outbox_enqueue

        outbox_enqueue(using=using, topic="payments.open_intent",
                       payload={"invoice_kind": invoice_kind, "invoice_id": invoice_id})
        return
    invoice_payment_record_unopened(invoice_kind=invoice_kind, invoice_id=invoice_id, tenant_id=tenant_id)


def invoice_payment_record_unopened(*, invoice_kind: str, invoice_id: int, tenant_id: int | None) -> InvoicePayment | None:
    """Write the "unopened" Stripe payment row of a just-sent invoice in the caller's transaction on
    the tenant database, and enqueue its opening once that commits."""
    from payments_app.providers import connect_account_for

    facts = invoice_facts(invoice_kind=invoice_kind, invoice_id=invoice_id, tenant_id=tenant_id)
    if facts is None or facts.payment_mode != PaymentModeSnapshot.STRIPE:
        return None
    account = connect_account_for(tenant_id=facts.tenant_id, provider_id=facts.provider_id)
    payment = _payment_claim(facts, connect_account_id=account.stripe_account_id if account else "")

    from breederhq.jobs.publish_later import publish_after_commit
    from payments_app.tasks import open_invoice_payment

    # Published off the request thread once this commits; lost (Redis down): the row is "unopened"
    # and the 5-minute sweep opens it.
    publish_after_commit(open_invoice_payment, invoice_kind, invoice_id, facts.tenant_id, using="default")
    return payment


def invoice_payments_unopened(*, older_than: timedelta = timedelta(minutes=5), now: datetime | None = None,
                              limit: int = 500) -> list[InvoicePayment]:
    """Stripe payments written at send but never given their intent (Redis or Stripe was down, the
    worker died, the account is not onboarded yet): the beat sweep opens them, under the same
    idempotency key. Least recently tried first, so rows that keep failing cannot starve the rest."""
    cutoff = (now or timezone.now()) - older_than
    with system_read_context(job="payments:open_unopened"):  # every tenant's rows; each is written in its own
        return list(
            InvoicePayment.objects.using("default")
            .filter(provider=InvoicePayment.Provider.STRIPE, open_state=OpenState.UNOPENED,
                    stripe_payment_intent_id__isnull=True, created_at__lte=cutoff)
            .order_by("updated_at", "pk")[:limit]
        )


# --- Cancelling the payment intent of a voided invoice ----------------------------------------------


def invoice_payment_cancel_requested(*, invoice_kind: str, invoice_id: int, intent_just_stored: bool = False) -> int:
    """Settle the invoice's Stripe payment after a void, in the caller's transaction on the tenant
    database (the void's own, for tenant invoices; the outbox's, for marketplace ones):
    - no intent yet: the "unopened" row is closed ("abandoned"); nothing to ask Stripe;
    - an intent: marked to be cancelled, and a worker cancels it once this commits.
    Returns how many rows were marked for cancelling (0 or 1).

    Both are single UPDATEs evaluated on the row as committed, so they serialise with
    `invoice_payment_open` storing an intent: whichever commits first, the other sees it.
    `intent_just_stored`: called by `invoice_payment_open` after it stored an intent and found the
    invoice void. A void that ran meanwhile closed the row or found nothing to cancel: ask now.
    """
    from payments_app.access import invoice_owner

    owner = invoice_owner(invoice_kind=invoice_kind, invoice_id=invoice_id, job="payments:cancel_requested")
    with owner_context(owner):
        return _cancel_requested(invoice_kind=invoice_kind, invoice_id=invoice_id,
                                 intent_just_stored=intent_just_stored)


def _cancel_requested(*, invoice_kind: str, invoice_id: int, intent_just_stored: bool) -> int:
    rows = InvoicePayment.objects.using("default").filter(
        invoice_kind=invoice_kind, invoice_id=invoice_id, provider=InvoicePayment.Provider.STRIPE)
    now = timezone.now()
    if intent_just_stored:
        rows = rows.exclude(cancel_status__in=[CancelStatus.PENDING, CancelStatus.REFUSED])
    else:
        abandoned = rows.filter(stripe_payment_intent_id__isnull=True, open_state=OpenState.UNOPENED).update(
            open_state=OpenState.ABANDONED, open_note="invoice voided before its intent existed", updated_at=now)
        if abandoned:
            logger.info("%s invoice %s voided before its payment intent existed: row closed", invoice_kind, invoice_id)
        rows = rows.filter(cancel_status=CancelStatus.NONE)
    marked = (
        rows.filter(stripe_payment_intent_id__isnull=False).exclude(stripe_status__in=[StripeStatus.SUCCEEDED, StripeStatus.CANCELED])
        .update(cancel_status=CancelStatus.PENDING, cancel_requested_at=now, cancel_error="", updated_at=now)
    )
    if marked:
        from breederhq.jobs.publish_later import publish_after_commit
        from payments_app.tasks import cancel_invoice_payment

        # Published off the request thread once this commits; lost (Redis down): the row stays
        # "pending" and the 5-minute sweep cancels it.
        publish_after_commit(cancel_invoice_payment, invoice_kind, invoice_id, using="default")
    return marked


def invoice_payment_cancel_on_void(*, invoice_kind: str, invoice_id: int, using: str) -> None:
    """Called by the invoice services inside the void's transaction on `using`. The Stripe call
    itself happens in a worker after the commit: never while the invoice row is locked."""
    if using == "default":
        invoice_payment_cancel_requested(invoice_kind=invoice_kind, invoice_id=invoice_id)
    else:
        from breederhq.outbox import outbox_enqueue

        # The payment row lives in the tenant database: the outbox marks it, exactly once, after
        # the marketplace void commits (payments_app/outbox_handlers.py).
        outbox_enqueue(using=using, topic="payments.cancel_intent",
                       payload={"invoice_kind": invoice_kind, "invoice_id": invoice_id})


def invoice_payment_cancel(*, invoice_kind: str, invoice_id: int) -> InvoicePayment | None:
    """Cancel the Stripe payment intent of a voided invoice (a payment row marked "pending").

    No transaction is open during the Stripe call. The idempotency key is derived from the invoice,
    so a retry after a crash or an outage is the same request to Stripe. Stripe refusing (the buyer
    paid just before the void) is recorded as "refused" for reconciliation and staff; an outage
    leaves it "pending" and raises StripeUnavailable (the sweep retries).
    """
    from payments_app.access import invoice_owner
    from payments_app.providers import StripeConnectProvider
    from payments_app.stripe_gateway import idempotency_key

    owner = invoice_owner(invoice_kind=invoice_kind, invoice_id=invoice_id, job="payments:cancel_intent")
    with owner_context(owner):
        payment = InvoicePayment.objects.using("default").filter(invoice_kind=invoice_kind,
                                                                  invoice_id=invoice_id).first()
    if payment is None or payment.cancel_status != CancelStatus.PENDING:
        return payment
    provider = StripeConnectProvider()
    # No intent (never opened): nothing to cancel. If `invoice_payment_open` stores one after this,
    # it sees the void and asks again.
    status, error, stripe_status = CancelStatus.CANCELED, "", None
    if payment.stripe_payment_intent_id:
        try:
            stripe_status = provider.cancel(
                payment.stripe_payment_intent_id,
                key=idempotency_key("invoice.payment_intent.cancel", invoice_kind, invoice_id,
                                    payment.stripe_payment_intent_id),
            )
        except StripeUnavailable as exc:
            _save_cancel(payment.pk, owner=owner, status=CancelStatus.PENDING, error=str(exc)[:300])
            raise
        except stripe.InvalidRequestError as exc:
            stripe_status = provider.status_of(payment.stripe_payment_intent_id)
            if stripe_status != StripeStatus.CANCELED:  # already cancelled (by Stripe's own void) is what we wanted
                status, error = CancelStatus.REFUSED, f"{exc.user_message or exc}"[:300]
                logger.warning("stripe refused to cancel %s of voided %s invoice %s: %s",
                               payment.stripe_payment_intent_id, invoice_kind, invoice_id, error)
    return _save_cancel(payment.pk, owner=owner, status=status, error=error, stripe_status=stripe_status,
                        intent_id=payment.stripe_payment_intent_id)


def _save_cancel(payment_pk: int, *, owner: int | None, status: str, error: str, stripe_status: str | None = None,
                 intent_id: str | None = None) -> InvoicePayment:
    with transaction.atomic(using="default"), owner_context(owner):
        payment = InvoicePayment.objects.using("default").select_for_update().get(pk=payment_pk)
        if payment.cancel_status != CancelStatus.PENDING:
            return payment  # another worker finished it meanwhile
        if status != CancelStatus.PENDING and payment.stripe_payment_intent_id != intent_id:
            # An intent was stored after this cancel read the row: it is not cancelled yet. Stay
            # pending and go again (the sweep retries it if this enqueue is lost).
            from breederhq.jobs.publish_later import publish_after_commit
            from payments_app.tasks import cancel_invoice_payment

            publish_after_commit(cancel_invoice_payment, payment.invoice_kind, payment.invoice_id, using="default")
            return payment
        payment.cancel_status, payment.cancel_error = status, error
        fields = ["cancel_status", "cancel_error", "updated_at"]
        if stripe_status is not None and status != CancelStatus.PENDING:
            payment.stripe_status = stripe_status
            fields.append("stripe_status")
        if status == CancelStatus.REFUSED:
            payment.reconciliation_status = ReconciliationState.MISMATCH
            payment.reconciliation_note = f"invoice voided, intent not cancelled: {error}"[:300]
            fields += ["reconciliation_status", "reconciliation_note"]
        payment.save(using="default", update_fields=fields)
    return payment


def invoice_payments_cancel_pending(*, older_than: timedelta = timedelta(minutes=5), now: datetime | None = None,
                                    limit: int = 500) -> list[InvoicePayment]:
    """Cancels requested but not done (Stripe down, Redis down, worker killed): the sweep retries."""
    cutoff = (now or timezone.now()) - older_than
    with system_read_context(job="payments:cancel_pending"):  # every tenant's rows; each is written in its own
        return list(
            InvoicePayment.objects.using("default")
            .filter(cancel_status=CancelStatus.PENDING, cancel_requested_at__lte=cutoff)
            .order_by("cancel_requested_at")[:limit]
        )


# --- A payment by hand on a Stripe-mode invoice ------------------------------------------------------


class PaymentIntentBusy(Conflict):
    code = "payment_intent_processing"


def invoice_payment_close_for_manual(*, invoice_kind: str, invoice_id: int, tenant_id: int | None) -> None:
    """Called before a payment by hand is recorded on an invoice: a Stripe-mode invoice's open
    payment intent is cancelled first, so the buyer cannot pay it a second time by card.

    - no Stripe payment row, or its intent already cancelled or succeeded: nothing to do (a card
      payment that succeeded is the invoice's payment; the invoice service says so);
    - not opened yet: the row is closed ("abandoned"), and an intent the open worker stores
      meanwhile is cancelled by it (`invoice_payment_open` sees the invoice paid);
    - processing (a bank debit under way): 409 `payment_intent_processing`, nothing recorded;
    - Stripe unreachable: 503 `stripe_unavailable`, nothing recorded.
    A card payment that still arrives is refunded automatically (webhook_handlers._collected_twice).
    """
    from breederhq.errors import Unavailable
    from payments_app.access import invoice_owner
    from payments_app.providers import StripeConnectProvider
    from payments_app.stripe_gateway import idempotency_key

    owner = invoice_owner(invoice_kind=invoice_kind, invoice_id=invoice_id, tenant_id=tenant_id,
                          job="payments:close_for_manual")
    with owner_context(owner):
        payment = InvoicePayment.objects.using("default").filter(
            invoice_kind=invoice_kind, invoice_id=invoice_id, provider=InvoicePayment.Provider.STRIPE).first()
    if payment is None or payment.stripe_status in {StripeStatus.SUCCEEDED, StripeStatus.CANCELED}:
        return
    if not payment.stripe_payment_intent_id:
        _abandon(payment.pk, owner=owner, reason="paid by hand before its intent existed")
        return
    provider = StripeConnectProvider()
    intent_id = payment.stripe_payment_intent_id
    try:
        status = provider.status_of(intent_id)
        if status not in {StripeStatus.PROCESSING, StripeStatus.SUCCEEDED, StripeStatus.CANCELED}:
            try:
                status = provider.cancel(intent_id, key=idempotency_key("invoice.payment_intent.cancel",
                                                                        invoice_kind, invoice_id, intent_id))
            except stripe.InvalidRequestError:
                status = provider.status_of(intent_id)  # it moved on meanwhile: say what it is now
    except StripeUnavailable as exc:
        raise Unavailable("Stripe cannot be reached to cancel the invoice's card payment; nothing was recorded. "
                          f"Retry later. ({exc})", code="stripe_unavailable") from exc
    if status == "processing":
        raise PaymentIntentBusy("The buyer's card or bank payment of this invoice is being processed; a payment "
                                "by hand is not recorded meanwhile. Wait for it to succeed or fail.",
                                extra={"payment_intent": intent_id})
    if status == StripeStatus.SUCCEEDED:
        raise Conflict("The buyer has paid this invoice by card; it is marked paid as soon as Stripe says so. "
                       "A payment by hand is not recorded.", code="paid_by_card", extra={"payment_intent": intent_id})
    with transaction.atomic(using="default"), owner_context(owner):
        InvoicePayment.objects.using("default").filter(pk=payment.pk).update(
            stripe_status=status, cancel_status=CancelStatus.CANCELED, cancel_requested_at=timezone.now(),
            open_note="intent cancelled: paid by hand", updated_at=timezone.now())
