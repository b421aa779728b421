"""The Stripe webhook inbox, receiving side: verify a delivery's signature over the raw body, check
it is an event we can store, and store it once (duplicates are recognised by Stripe's event id);
processing is enqueued once the row is committed (payments_app/inbox_processing.py applies it)."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import stripe
from django.conf import settings
from django.db import DataError, connections, transaction
from django.utils import timezone

from breederhq.api.parsers import nul_path, storable
from breederhq.databases import TENANT_DB
from breederhq.db_adapters import server_binding_cursor
from breederhq.errors import DomainError
from breederhq.observability.metrics import WEBHOOK_EVENTS
from payments_app.models import StripeWebhookEvent

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


def enqueue_processing(event_pk: int) -> None:
    """Off the request thread: the webhook answers without waiting on the broker. A message lost on
    the way (Redis down, process killed) is re-enqueued by `retry_due_stripe_events`. A burst of
    them goes out as one `process_stripe_events` message (see publish_later)."""
    from breederhq.jobs.publish_later import publish_later
    from payments_app.tasks import process_stripe_event, process_stripe_events

    publish_later(process_stripe_event, event_pk, batch_task=process_stripe_events)


#: The inbox columns a delivery supplies; every other column is written as its default.
_INBOX_PER_EVENT = (
    "stripe_event_id",
    "event_type",
    "stripe_account_id",
    "livemode",
    "stripe_created",
    "object_id",
    "payload",
    "next_attempt_at",
    "received_at",
)


@functools.cache
def _inbox_statements() -> tuple[list, str, str]:
    """The inbox SQL, built once from the model: (the INSERT's parameters, with a delivery's own
    columns as their names and every other column as its default prepared once; INSERT; duplicate
    statement)."""
    meta = StripeWebhookEvent._meta
    connection = connections[TENANT_DB]
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
    insert = (
        f"INSERT INTO {table} ({', '.join(qn(f.column) for f in fields)}) VALUES ({values}) "
        f"ON CONFLICT ({event_id}) DO NOTHING RETURNING {pk}"
    )
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
    event_id = (
        event.get("id")
        if _fits(event.get("id"), "stripe_event_id")
        else ("invalid_" + hashlib.sha256(payload).hexdigest()[:64])
    )
    text = payload.decode("utf-8", errors="replace").replace("\x00", "\ufffd")
    reason = reason.replace("\x00", "\ufffd")
    row, created = StripeWebhookEvent.objects.using(TENANT_DB).get_or_create(
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
        _WebhookSignature.verify_header(
            payload, signature_header, settings.STRIPE_WEBHOOK_SECRET, tolerance=_WEBHOOK_TOLERANCE
        )
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

    connection = connections[TENANT_DB]
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
        transaction.on_commit(functools.partial(enqueue_processing, received.pk), using=TENANT_DB)
    return received
