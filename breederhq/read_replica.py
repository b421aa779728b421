"""Public marketplace reads from a streaming replica (docs/architecture/databases-and-routing.md#read-replica).

With MARKETPLACE_REPLICA_DATABASE_URL set, the anonymous public views (listing search and detail,
provider search and detail: `ReplicaReadsMixin`) read from the `marketplace_replica` alias, a
PostgreSQL hot standby of the marketplace database, unless one of these sends them to the primary:
- the client wrote recently (`recently_wrote`): any successful unsafe request from its IP, or by its
  signed-in user, within MARKETPLACE_REPLICA_STICKY_SECONDS (never shorter than the lag limit) reads
  the primary, so it sees its own writes at once. The marks are Redis keys; Redis unreachable: the
  primary (fail-safe);
- the replica lags more than MARKETPLACE_REPLICA_MAX_LAG_SECONDS, is unreachable, or is no standby
  any more (`replica_usable`). The answer is probed at most once per MARKETPLACE_REPLICA_PROBE_SECONDS
  per process (a failure is remembered for MARKETPLACE_REPLICA_RETRY_SECONDS), on a connection with
  a short connect timeout, so a dead replica costs one request per process at most that timeout;
- a read on the replica fails with a connection-level error (it went away since the probe, or
  PostgreSQL cancelled the statement for a recovery conflict): the view runs again on the primary.

The selectors of those views read from `marketplace_read_alias()`: the alias chosen for this request
inside a public view, the marketplace primary everywhere else. Without a replica nothing changes:
no probe, no Redis mark, every read on the primary.

Lag: the replica is fresh when it has replayed the primary's WAL position read just before
(`pg_current_wal_lsn()` on the primary, `pg_last_wal_replay_lsn()` on the replica), else it is as old
as the last transaction it replayed (`pg_last_xact_replay_timestamp()`). The first covers an idle
primary (the last replayed commit may be hours old yet nothing is missing), the second a busy one.
"""

from __future__ import annotations

import logging
import threading
import time
from contextvars import ContextVar
from dataclasses import dataclass

import redis
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connections

from breederhq import request_redis
from breederhq.api.throttling import PublicReadIPThrottle
from breederhq.databases import MARKETPLACE_DB
from breederhq.db_timeouts import is_database_timeout

logger = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

_read_alias: ContextVar[str | None] = ContextVar("marketplace_read_alias", default=None)


def marketplace_read_alias() -> str:
    """The alias the public marketplace selectors read from: the one chosen for this public view's
    request, the marketplace primary outside one."""
    return _read_alias.get() or MARKETPLACE_DB


def replica_alias() -> str:
    """The replica's alias, "" when there is none."""
    return settings.MARKETPLACE_REPLICA_ALIAS or ""


def primary_alias() -> str:
    """The database the replica follows (the marketplace database; tests point it at their own)."""
    return settings.MARKETPLACE_REPLICA_PRIMARY_ALIAS


# --- Read-your-writes -----------------------------------------------------------------------------


def _ident(request) -> str:
    # The client's IP as the public read throttle sees it (proxies per NUM_PROXIES).
    return PublicReadIPThrottle().get_ident(request)


def _marks(request) -> list[str]:
    prefix = f"{request_redis.key_prefix()}:marketplace-wrote"
    marks = [f"{prefix}:ip:{_ident(request)}"]
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        marks.append(f"{prefix}:user:{user.pk}")
    return marks


def sticky_seconds() -> float:
    # A write is on the replica at most the lag limit later: a shorter window would let the writer
    # read the replica before its write got there.
    return max(settings.MARKETPLACE_REPLICA_STICKY_SECONDS, settings.MARKETPLACE_REPLICA_MAX_LAG_SECONDS)


def note_write(request) -> None:
    """Remember that this client (IP, and user when signed in) just wrote."""
    milliseconds = max(1, int(sticky_seconds() * 1000))
    try:
        with request_redis.client().pipeline(transaction=False) as pipe:
            for mark in _marks(request):
                pipe.set(mark, "1", px=milliseconds)
            pipe.execute()
    except redis.RedisError as exc:
        # Its next public reads may come from the replica; `recently_wrote` cannot tell either way
        # while Redis is away, and then sends everyone to the primary.
        logger.warning("replica read-your-writes mark not stored, Redis unreachable: %s", exc)


def recently_wrote(request) -> bool:
    """Whether this client wrote within the sticky window; True when Redis cannot say (fail-safe)."""
    try:
        return any(value is not None for value in request_redis.client().mget(_marks(request)))
    except redis.RedisError as exc:
        logger.warning("replica read-your-writes unknown, Redis unreachable: reading the primary: %s", exc)
        return True


class ReplicaStickinessMiddleware:
    """Marks the client of every successful unsafe request as a recent writer (only with a replica)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if replica_alias() and request.method not in SAFE_METHODS and response.status_code < 400:
            note_write(request)
        return response


# --- Replica health -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Health:
    usable: bool
    until: float  # time.monotonic() until which the answer stands


_health: dict[str, _Health] = {}
_probing = threading.Lock()

_REPLICA_STATE_SQL = (
    "SELECT pg_is_in_recovery(), COALESCE(pg_last_wal_replay_lsn() >= %s::pg_lsn, false), "
    "EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp())"
)


def replica_lag_seconds(replica: str, primary: str) -> float:
    """How far behind the primary the replica is (0: caught up). Raises DatabaseError when either
    cannot be asked; LookupError when `replica` is no standby."""
    with connections[primary].cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()::text")
        primary_lsn = cursor.fetchone()[0]
    with connections[replica].cursor() as cursor:
        cursor.execute(_REPLICA_STATE_SQL, [primary_lsn])
        in_recovery, caught_up, age = cursor.fetchone()
    if not in_recovery:
        raise LookupError(f"database '{replica}' is not a standby (promoted?)")
    if caught_up:
        return 0.0
    return float("inf") if age is None else max(0.0, float(age))


def _probe(replica: str, primary: str) -> bool:
    try:
        lag = replica_lag_seconds(replica, primary)
    except (DatabaseError, LookupError) as exc:
        logger.warning("marketplace replica '%s' unusable, reading the primary: %s", replica, exc)
        _close(replica)
        return False
    if lag > settings.MARKETPLACE_REPLICA_MAX_LAG_SECONDS:
        logger.warning(
            "marketplace replica '%s' lags %.1f s (limit %s s), reading the primary",
            replica,
            lag,
            settings.MARKETPLACE_REPLICA_MAX_LAG_SECONDS,
        )
        return False
    return True


def _close(alias: str) -> None:
    try:
        connections[alias].close()
    except DatabaseError:
        pass


def _remember(replica: str, usable: bool) -> None:
    seconds = settings.MARKETPLACE_REPLICA_PROBE_SECONDS if usable else settings.MARKETPLACE_REPLICA_RETRY_SECONDS
    _health[replica] = _Health(usable, time.monotonic() + seconds)


def replica_usable(replica: str, primary: str) -> bool:
    """Whether reads may go to the replica now: the last probe's answer while it stands, else a new
    probe. While another thread of this process probes, the last answer (none yet: no)."""
    known = _health.get(replica)
    if known is not None and time.monotonic() < known.until:
        return known.usable
    if not _probing.acquire(blocking=False):
        return known.usable if known is not None else False
    try:
        usable = _probe(replica, primary)
        _remember(replica, usable)
        return usable
    finally:
        _probing.release()


def replica_failed(replica: str, error: BaseException) -> None:
    """A read on the replica failed at the connection level: primary until the retry time."""
    logger.warning("read on marketplace replica '%s' failed, reading the primary: %s", replica, error)
    _close(replica)
    _remember(replica, False)


def forget_health() -> None:
    """Drop this process's probe answers (tests)."""
    _health.clear()


def choose_read_alias(request, *, avoid_replica: bool = False) -> str:
    """The alias this public read uses: the replica when there is one, the client did not write
    recently, and the replica is usable; the primary otherwise."""
    replica, primary = replica_alias(), primary_alias()
    if not replica or avoid_replica or recently_wrote(request):
        return primary
    return replica if replica_usable(replica, primary) else primary


# --- The public views -----------------------------------------------------------------------------


class _ReplicaReadFailed(Exception):
    """A read on the replica failed at the connection level (raised past DRF's exception handler,
    which would otherwise answer 503 `database_unavailable`)."""


class ReplicaReadsMixin:
    """For DRF views whose reads may come from the replica (anonymous, read-only views only): after
    authentication, throttling and permissions, chooses the alias `marketplace_read_alias()` answers
    for the rest of the request; a connection-level error on the replica runs the view again on the
    primary."""

    _avoid_replica = False
    _read_alias: str | None = None

    def dispatch(self, request, *args, **kwargs):
        self._avoid_replica, self._read_alias = False, None
        try:
            try:
                return super().dispatch(request, *args, **kwargs)
            except _ReplicaReadFailed as failure:
                replica_failed(self._read_alias, failure.__cause__)
                self._avoid_replica = True
                return super().dispatch(request, *args, **kwargs)
        finally:
            _read_alias.set(None)

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self._read_alias = choose_read_alias(request, avoid_replica=self._avoid_replica)
        _read_alias.set(self._read_alias)

    def handle_exception(self, exc):
        replica = replica_alias()
        if (
            replica
            and self._read_alias == replica
            and isinstance(exc, (OperationalError, InterfaceError))
            and not is_database_timeout(exc)
        ):
            # Lost connection, refused connection, a statement cancelled for a recovery conflict: the
            # primary answers instead. A time limit is the search's own answer, not the replica's fault.
            raise _ReplicaReadFailed() from exc
        return super().handle_exception(exc)
