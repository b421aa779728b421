"""Settings shared by every environment.

Everything that differs between machines comes from the environment, read here and nowhere else
(django-environ). `.env.example` lists every variable with a one-line explanation.
"""

from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote

import environ

from breederhq.databases import MARKETPLACE_DB, MARKETPLACE_REPLICA_DB, TENANT_DB
from config.beat_schedule import BEAT_SCHEDULE

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
# A developer's `.env` is optional; real deployments set the environment directly.
if (BASE_DIR / ".env").is_file():
    env.read_env(str(BASE_DIR / ".env"))

# --- Core -----------------------------------------------------------------------------------------
SECRET_KEY = env("SECRET_KEY", default="django-insecure-development-only-key-change-me")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # Django's admin with the back office's site (a second factor for every staff member).
    "breederhq.backoffice.admin_apps.BackofficeAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    # Swagger UI and ReDoc assets served from our own static files (no CDN; works offline).
    "drf_spectacular_sidecar",
    # Refresh-token revocation (POST /api/v1/auth/token/revoke/): the outstanding/blacklisted tables.
    "rest_framework_simplejwt.token_blacklist",
    "django_celery_beat",
    # Staff second factor: TOTP authenticator apps and single-use recovery codes (docs/operations/staff-2fa.md).
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "breederhq",
    "breederhq.jobs",
    "breederhq.backoffice",
    "tenant_app",
    "marketplace_app",
    "payments_app",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "breederhq.observability.middleware.RequestObservabilityMiddleware",
    # Under /api/: every error answer is problem+json (DEBUG or not); NUL or over-long query params -> 400.
    "breederhq.api.middleware.APIProblemMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): whether this session passed the staff second factor (django-otp).
    "django_otp.middleware.OTPMiddleware",
    # Support staff's audited, read-only "view as" a tenant user (before the tenant middleware).
    "breederhq.backoffice.view_as.ViewAsMiddleware",
    # The tenant context for this request only (RLS), from the authenticated user's membership.
    "breederhq.tenancy.TenantContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # With a marketplace replica: a client that wrote reads the primary for a while (read-your-writes).
    "breederhq.read_replica.ReplicaStickinessMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # Searched before the apps' templates, so the back office's admin/base_site.html (the
        # support-session banner) overrides django.contrib.admin's.
        "DIRS": [BASE_DIR / "breederhq" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

AUTH_USER_MODEL = "tenant_app.User"
# BIGINT primary keys everywhere: no large table can run out of 32-bit ids.
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(BASE_DIR / ".local" / "media")))

# --- Databases (docs/architecture/databases-and-routing.md) ---------------------------------------
# The URLs name the *application* role: the one the running platform connects as, which is neither
# superuser, nor table owner, nor BYPASSRLS, so row-level security really applies to it.
# Migrations run as the *owner* role (DATABASE_OWNER_USER), see breederhq.db_roles.
DEFAULT_TENANT_DATABASE_URL = "postgres://breederhq_app:breederhq_app@127.0.0.1:5432/breederhq_tenant"
DEFAULT_MARKETPLACE_DATABASE_URL = "postgres://breederhq_app:breederhq_app@127.0.0.1:5432/breederhq_marketplace"


# Time limits PostgreSQL enforces on the application role's sessions (milliseconds, 0: none): a
# runaway statement is cancelled, a session left idle inside a transaction is terminated, so neither
# holds a connection (and its locks) for long. Web-sized by default; Celery tasks get the WORKER ones
# per session, migrations and maintenance commands none (breederhq/db_timeouts.py).
DATABASE_STATEMENT_TIMEOUT_MS = env.int("DATABASE_STATEMENT_TIMEOUT_MS", default=30_000)
DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS = env.int("DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS", default=60_000)
DATABASE_WORKER_STATEMENT_TIMEOUT_MS = env.int("DATABASE_WORKER_STATEMENT_TIMEOUT_MS", default=15 * 60_000)
DATABASE_WORKER_IDLE_IN_TRANSACTION_TIMEOUT_MS = env.int(
    "DATABASE_WORKER_IDLE_IN_TRANSACTION_TIMEOUT_MS", default=10 * 60_000
)


def _database(url_var: str, default_url: str, test_name_var: str) -> dict:
    config = env.db_url(url_var, default=default_url)
    # A Unix-socket directory arrives percent-encoded in the URL's host part (`%2Ftmp%2Fpg`).
    config["HOST"] = unquote(config.get("HOST") or "")
    config["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    config["CONN_HEALTH_CHECKS"] = True
    # Never ATOMIC_REQUESTS: with two databases it gives two unrelated transactions that merely look
    # like one. Every service names its database with atomic(using=...).
    config["ATOMIC_REQUESTS"] = False
    config.setdefault("OPTIONS", {})
    config["OPTIONS"].setdefault("application_name", "breederhq")
    # The web limits travel in the startup packet of every connection (breederhq/db_timeouts.py).
    config["OPTIONS"]["options"] = " ".join(
        filter(
            None,
            [
                config["OPTIONS"].get("options", ""),
                f"-c statement_timeout={DATABASE_STATEMENT_TIMEOUT_MS}",
                f"-c idle_in_transaction_session_timeout={DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS}",
            ],
        )
    )
    config["TEST"] = {"NAME": env(test_name_var, default=None) or f"test_{config['NAME']}"}
    return config


DATABASES = {
    TENANT_DB: _database("TENANT_DATABASE_URL", DEFAULT_TENANT_DATABASE_URL, "TENANT_TEST_DATABASE_NAME"),
    MARKETPLACE_DB: _database(
        "MARKETPLACE_DATABASE_URL", DEFAULT_MARKETPLACE_DATABASE_URL, "MARKETPLACE_TEST_DATABASE_NAME"
    ),
}
DATABASE_ROUTERS = ["breederhq.routing.DatabaseRouter"]

# Optional streaming replica of the marketplace database for the anonymous public reads
# (breederhq/read_replica.py). Absent: everything reads the primary.
MARKETPLACE_REPLICA_ALIAS = ""
if env("MARKETPLACE_REPLICA_DATABASE_URL", default=""):
    MARKETPLACE_REPLICA_ALIAS = MARKETPLACE_REPLICA_DB
    DATABASES[MARKETPLACE_REPLICA_ALIAS] = _database(
        "MARKETPLACE_REPLICA_DATABASE_URL", "", "MARKETPLACE_TEST_DATABASE_NAME"
    )
    # A replica that does not answer must not hold the request: libpq's connect timeout (2 s at least).
    DATABASES[MARKETPLACE_REPLICA_ALIAS]["OPTIONS"]["connect_timeout"] = env.int(
        "MARKETPLACE_REPLICA_CONNECT_TIMEOUT_SECONDS", default=2
    )
    # The test suite never creates a database for it: it reads the marketplace test database.
    DATABASES[MARKETPLACE_REPLICA_ALIAS]["TEST"] = {"MIRROR": MARKETPLACE_DB}
#: The database the replica follows.
MARKETPLACE_REPLICA_PRIMARY_ALIAS = MARKETPLACE_DB
#: Lag beyond which public reads go to the primary; how long a client that wrote reads the primary
#: (never shorter than the lag limit); how long one process trusts a probe of the replica, and how
#: long it keeps away from a replica that failed.
MARKETPLACE_REPLICA_MAX_LAG_SECONDS = env.float("MARKETPLACE_REPLICA_MAX_LAG_SECONDS", default=2.0)
MARKETPLACE_REPLICA_STICKY_SECONDS = env.float("MARKETPLACE_REPLICA_STICKY_SECONDS", default=5.0)
MARKETPLACE_REPLICA_PROBE_SECONDS = env.float("MARKETPLACE_REPLICA_PROBE_SECONDS", default=1.0)
MARKETPLACE_REPLICA_RETRY_SECONDS = env.float("MARKETPLACE_REPLICA_RETRY_SECONDS", default=5.0)

# The owner role owns the tables and runs migrations; the app role above only gets DML grants.
DATABASE_OWNER_USER = env("DATABASE_OWNER_USER", default="breederhq_owner")
DATABASE_OWNER_PASSWORD = env("DATABASE_OWNER_PASSWORD", default="breederhq_owner")
# Optional superuser URL, used only by `manage.py db_bootstrap` to create the roles and databases.
DATABASE_ADMIN_URL = env("DATABASE_ADMIN_URL", default="")

# --- Redis, cache, Celery -------------------------------------------------------------------------
REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/0")

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env("CACHE_KEY_PREFIX", default="breederhq"),
    }
}

CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=REDIS_URL)
# Prefix every broker key, so several platforms (or test sessions) can share one Redis safely.
CELERY_KEY_PREFIX = env("CELERY_KEY_PREFIX", default="")
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # A task that was taken but not acknowledged (worker killed) comes back after this many seconds.
    # It must exceed the longest task, countdown and retry backoff, or the task is delivered twice.
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
    # How often a worker looks for such abandoned tasks: every interval x throttle seconds.
    "unacked_restore_interval": env.int("CELERY_UNACKED_RESTORE_INTERVAL", default=10),
    "unacked_restore_throttle": env.int("CELERY_UNACKED_RESTORE_THROTTLE", default=6),
    # Short socket timeouts: a Redis that is down or silent fails a publish in seconds instead of
    # holding the publishing thread (requests never publish themselves: breederhq/jobs/publish_later.py).
    "socket_timeout": env.float("CELERY_REDIS_SOCKET_TIMEOUT", default=5.0),
    "socket_connect_timeout": env.float("CELERY_REDIS_CONNECT_TIMEOUT", default=2.0),
    **({"global_keyprefix": CELERY_KEY_PREFIX} if CELERY_KEY_PREFIX else {}),
}
CELERY_BROKER_CONNECTION_TIMEOUT = env.float("CELERY_REDIS_CONNECT_TIMEOUT", default=2.0)
# A publish retries a lost connection twice, then gives up (the caller's row and a sweep remain).
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}
CELERY_REDIS_SOCKET_TIMEOUT = env.float("CELERY_REDIS_SOCKET_TIMEOUT", default=5.0)
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = env.float("CELERY_REDIS_CONNECT_TIMEOUT", default=2.0)
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {
    # The result backend's reconnect loop (20 tries by default) is what held a request ~19 s.
    "retry_policy": {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1},
    **({"global_keyprefix": CELERY_KEY_PREFIX} if CELERY_KEY_PREFIX else {}),
}
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_RESULT_EXPIRES = 3600
# Acknowledge after the task ran, and re-queue it when the worker process dies mid-task.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Seconds a worker waits, after one of its pool processes died in a task, for a result that
# process may have sent before dying; then the task counts as lost and goes back to the queue.
CELERY_WORKER_LOST_WAIT = env.float("CELERY_WORKER_LOST_WAIT", default=10.0)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Workers and beat keep Django's LOGGING (config/celery.py): JSON lines like the web.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Every task has a soft limit (SoftTimeLimitExceeded raised in the task) and a hard one (the worker
# process is killed); tasks and scheduled jobs name tighter ones. The hard limit plus any delay a
# task schedules for itself stays under the visibility timeout (tests/breederhq/test_task_limits.py).
CELERY_TASK_SOFT_TIME_LIMIT = 5 * 60
CELERY_TASK_TIME_LIMIT = 6 * 60
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "breederhq.tasks.*": {"queue": "maintenance"},
    "breederhq.tasks.ping": {"queue": "default"},
    "breederhq.tasks.render_invoice_document": {"queue": "default"},
    "breederhq.tasks.database_session_limits": {"queue": "default"},
    "breederhq.tasks.outbox_relay_message": {"queue": "default"},
    "marketplace_app.tasks.*": {"queue": "maintenance"},
    "tenant_app.tasks.*": {"queue": "maintenance"},
    "payments_app.tasks.*": {"queue": "webhooks"},
    "payments_app.tasks.reconcile_stripe": {"queue": "maintenance"},
    "payments_app.tasks.open_unopened_invoice_payments": {"queue": "maintenance"},
    "breederhq.tasks.send_outbound_email": {"queue": "email"},
}
CELERY_BEAT_SCHEDULE = BEAT_SCHEDULE
CELERY_BEAT_SCHEDULER = "breederhq.jobs.scheduler:ScheduleDefaultsDatabaseScheduler"
# Seconds a worker heartbeat stays valid in Redis; /healthz calls the worker down after that.
WORKER_HEARTBEAT_INTERVAL = env.int("WORKER_HEARTBEAT_INTERVAL", default=10)
WORKER_HEARTBEAT_TTL = WORKER_HEARTBEAT_INTERVAL * 3
# Seconds each /healthz check waits on Redis, to connect and to answer, in one attempt: a Redis that
# accepts connections but never answers makes /healthz answer "down" promptly (breederhq/health.py).
HEALTH_CHECK_TIMEOUT_SECONDS = env.float("HEALTH_CHECK_TIMEOUT_SECONDS", default=0.5)
# Seconds the request path's Redis client (throttles, search cache and guard, replica marks) waits to
# connect and for each answer, in one attempt (no retry): what uses it goes on without Redis after
# that (breederhq/request_redis.py).
REQUEST_REDIS_TIMEOUT_SECONDS = env.float("REQUEST_REDIS_TIMEOUT_SECONDS", default=1.0)
# After Redis failed to answer a request's command, the request path leaves it alone this long:
# requests go on without it at once instead of each waiting a timeout (breederhq/request_redis.py).
REQUEST_REDIS_PAUSE_SECONDS = env.float("REQUEST_REDIS_PAUSE_SECONDS", default=5.0)

# --- Stripe ---------------------------------------------------------------------------------------
STRIPE_SECRET_KEY = env("STRIPE_SECRET_KEY", default="sk_test_placeholder")
STRIPE_PUBLISHABLE_KEY = env("STRIPE_PUBLISHABLE_KEY", default="pk_test_placeholder")
STRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET", default="whsec_placeholder")
# Where the SDK sends API calls. Tests point it at the local fake Stripe server.
STRIPE_API_BASE = env("STRIPE_API_BASE", default="https://api.stripe.com")
STRIPE_CONNECT_CLIENT_ID = env("STRIPE_CONNECT_CLIENT_ID", default="")
# Connect onboarding (payments_app/onboarding.py): the client app's pages Stripe's hosted onboarding
# sends the account holder back to: `return` when they leave it, `refresh` when the link expired
# (the page asks the API for a new one). {owner_type} is "tenant" or "provider".
STRIPE_CONNECT_RETURN_URL = env(
    "STRIPE_CONNECT_RETURN_URL", default="https://app.breederhq.test/settings/payments/{owner_type}/return"
)
STRIPE_CONNECT_REFRESH_URL = env(
    "STRIPE_CONNECT_REFRESH_URL", default="https://app.breederhq.test/settings/payments/{owner_type}/refresh"
)
# Seconds before a Stripe API call is abandoned (the SDK's own default is 80).
STRIPE_TIMEOUT_SECONDS = env.int("STRIPE_TIMEOUT_SECONDS", default=10)
# Circuit breaker around every Stripe call: open after this many consecutive failures, try again
# after the reset timeout. Its state lives in Redis so every process sees the same breaker.
STRIPE_BREAKER_FAIL_MAX = env.int("STRIPE_BREAKER_FAIL_MAX", default=5)
STRIPE_BREAKER_RESET_SECONDS = env.int("STRIPE_BREAKER_RESET_SECONDS", default=60)
# Webhook processing: attempts before an event is dead-lettered, and the first retry delay.
STRIPE_WEBHOOK_MAX_ATTEMPTS = env.int("STRIPE_WEBHOOK_MAX_ATTEMPTS", default=8)
STRIPE_WEBHOOK_RETRY_BASE_SECONDS = env.int("STRIPE_WEBHOOK_RETRY_BASE_SECONDS", default=30)

# --- Email ----------------------------------------------------------------------------------------
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="BreederHQ <no-reply@breederhq.test>")
RESEND_API_KEY = env("RESEND_API_KEY", default="")
ANYMAIL = {"RESEND_API_KEY": RESEND_API_KEY}
EMAIL_FILE_PATH = env("EMAIL_FILE_PATH", default=str(BASE_DIR / ".local" / "mail"))
# Sending: attempts before an email is marked failed, first retry delay (doubles), worker rate limit.
EMAIL_MAX_ATTEMPTS = env.int("EMAIL_MAX_ATTEMPTS", default=5)
EMAIL_RETRY_BASE_SECONDS = env.int("EMAIL_RETRY_BASE_SECONDS", default=30)
EMAIL_RATE_LIMIT = env("EMAIL_RATE_LIMIT", default="100/s")
# A claimed (`sending`) email whose worker has not finished after this long is taken to be
# abandoned (its worker died): longer than the send task's hard time limit (90 s).
EMAIL_SENDING_STALE_SECONDS = env.int("EMAIL_SENDING_STALE_SECONDS", default=120)
# The email provider's circuit breaker (breederhq/email_breaker.py): opens after this many outages in
# a row, and lets one probe through after this many seconds.
EMAIL_BREAKER_FAIL_MAX = env.int("EMAIL_BREAKER_FAIL_MAX", default=5)
EMAIL_BREAKER_RESET_SECONDS = env.int("EMAIL_BREAKER_RESET_SECONDS", default=60)
CELERY_TASK_ANNOTATIONS = {"breederhq.tasks.send_outbound_email": {"rate_limit": EMAIL_RATE_LIMIT}}

# --- Staff second factor (django-otp; docs/operations/staff-2fa.md) --------------------------------
# The name authenticator apps show next to the account.
OTP_TOTP_ISSUER = "BreederHQ back office"
# After n wrong codes in a row a device refuses every code for factor * 2**(n-1) seconds.
OTP_TOTP_THROTTLE_FACTOR = 1
OTP_STATIC_THROTTLE_FACTOR = 1
# Back-office lists of big tables show PostgreSQL's row estimate above this many rows, an exact
# count below it (breederhq/backoffice/admin_tools.EstimatedCountPaginator).
BACKOFFICE_EXACT_COUNT_BELOW = env.int("BACKOFFICE_EXACT_COUNT_BELOW", default=10_000)

# Tenant invitations: how long the emailed token works, and the link in the email ({token} is replaced;
# the client app posts it to /api/v1/invitations/accept/ while signed in).
TENANT_INVITATION_TTL_DAYS = env.int("TENANT_INVITATION_TTL_DAYS", default=7)
TENANT_INVITATION_ACCEPT_URL = env(
    "TENANT_INVITATION_ACCEPT_URL", default="https://app.breederhq.test/invitations/accept?token={token}"
)

# Accounts (tenant_app/accounts.py): how long the emailed verification and reset links work, and the
# client app's pages they open ({token} is replaced; the app posts it to the API).
ACCOUNT_VERIFY_EMAIL_TTL_HOURS = env.int("ACCOUNT_VERIFY_EMAIL_TTL_HOURS", default=48)
ACCOUNT_PASSWORD_RESET_TTL_MINUTES = env.int("ACCOUNT_PASSWORD_RESET_TTL_MINUTES", default=60)
ACCOUNT_VERIFY_EMAIL_URL = env(
    "ACCOUNT_VERIFY_EMAIL_URL", default="https://app.breederhq.test/verify-email?token={token}"
)
ACCOUNT_PASSWORD_RESET_URL = env(
    "ACCOUNT_PASSWORD_RESET_URL", default="https://app.breederhq.test/reset-password?token={token}"
)
ACCOUNT_PASSWORD_RESET_REQUEST_URL = env(
    "ACCOUNT_PASSWORD_RESET_REQUEST_URL", default="https://app.breederhq.test/reset-password"
)

# --- API ------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "breederhq.api.schema.BreederHQAutoSchema",
    # Every API error leaves as RFC 9457 application/problem+json.
    "EXCEPTION_HANDLER": "breederhq.api.problems.problem_exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON only (another body: 415); the receipt uploads add multipart (breederhq.api.parsers).
    "DEFAULT_PARSER_CLASSES": ["breederhq.api.parsers.JSONParser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    # Bearer JWTs for client apps; the session for the browsable docs and the back office's users.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "breederhq.api.authentication.BreederHQJWTAuthentication",
        # Django's session, except a staff account's session before its second factor (anonymous then).
        "breederhq.backoffice.api_auth.SecondFactorSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # Per user and per client IP, on sign-in and on writes (breederhq.api.throttling); signed-in reads are
    # free, anonymous reads of the public marketplace are counted per IP.
    "DEFAULT_THROTTLE_RATES": {
        "auth_ip": env("API_THROTTLE_AUTH_IP", default="20/min"),
        "write_user": env("API_THROTTLE_WRITE_USER", default="120/min"),
        "write_ip": env("API_THROTTLE_WRITE_IP", default="300/min"),
        "public_read_ip": env("API_THROTTLE_PUBLIC_READ_IP", default="600/min"),
        # Emails sent on request (sign-up, verification resend, password reset) per target address.
        "account_email": env("API_THROTTLE_ACCOUNT_EMAIL", default="5/hour"),
    },
    "NUM_PROXIES": env.int("API_NUM_PROXIES", default=0),
}
# Access tokens are short-lived; refresh tokens rotate, each is good once, and a reused one revokes
# its sign-in (breederhq.api.sessions).
# API reads take the caller's User and MarketplaceUser from a per-process cache for at most this long
# (breederhq.api.identity_cache): an erased marketplace account loses read access within it.
API_IDENTITY_CACHE_SECONDS = env.float("API_IDENTITY_CACHE_SECONDS", default=5)
# Every authenticated request checks the user is active and the token not revoked; reads keep that
# answer per process for at most this long, so a revocation or deactivation reaches every process
# within it (breederhq.api.sessions).
API_REVOCATION_CACHE_SECONDS = env.float("API_REVOCATION_CACHE_SECONDS", default=1)
# The public listing search's pages are cached in Redis this long (0: not cached); a listing or
# provider write makes the answers that could show it stale at once (marketplace_app.search_cache).
LISTING_SEARCH_CACHE_SECONDS = env.int("LISTING_SEARCH_CACHE_SECONDS", default=60)
# A search stopped by its time limit is answered 503 from the cache this long (0: not cached), so
# repeating it costs the database nothing.
LISTING_SEARCH_REFUSAL_CACHE_SECONDS = env.int("LISTING_SEARCH_REFUSAL_CACHE_SECONDS", default=30)
# Uncached listing searches one client (IP) may run at once (0: no limit); more is a 429 with Retry-After
# (marketplace_app.search_guard). Without Redis there is no limit.
LISTING_SEARCH_CONCURRENT_PER_CLIENT = env.int("LISTING_SEARCH_CONCURRENT_PER_CLIENT", default=2)
# The listing search's count is exact up to this many matches, then "at least this many" (count_capped),
# and its pages end there: the search reads its first cap + 1 matches once, for the page and the count,
# so the cap is what every uncached search costs (docs/decisions/0006-bounded-listing-search.md).
# Relevance (ts_rank) orders the first LISTING_SEARCH_RERANK_CANDIDATES matches in the stored order
# (marketplace_app.listing_search).
LISTING_SEARCH_COUNT_CAP = env.int("LISTING_SEARCH_COUNT_CAP", default=200)
LISTING_SEARCH_RERANK_CANDIDATES = env.int("LISTING_SEARCH_RERANK_CANDIDATES", default=200)
# A search of several terms (words, or words and filters) walks at most this many listings of the stored
# order for its first cap + 1 matches; when they are not there, its few matches are found through the
# text index instead (marketplace_app.listing_search: the planner cannot tell such a search's density).
LISTING_SEARCH_WALK_ROWS = env.int("LISTING_SEARCH_WALK_ROWS", default=20_000)
# How long a process keeps the statistics of the search's terms (PostgreSQL's most common lexemes of
# the listing search document) before reading them again: they change with ANALYZE, not per request
# (marketplace_app.search_statistics: when a search skips its walk).
LISTING_SEARCH_STATISTICS_SECONDS = env.int("LISTING_SEARCH_STATISTICS_SECONDS", default=300)
# PostgreSQL stops a public search's statements after this many milliseconds (0: no limit) and
# the API answers 503 `search_timeout`: an anonymous client's broad or many-term search may not hold
# a database backend for long (bench/: a broad search over 1M listings, 10,000 matches, takes about
# 50 ms inside PostgreSQL; nothing else bounds a many-term one). Listings, then providers.
LISTING_SEARCH_STATEMENT_TIMEOUT_MS = env.int("LISTING_SEARCH_STATEMENT_TIMEOUT_MS", default=1500)
# The listing search's limit for a caller who is not signed in (most of the public, and any script).
LISTING_SEARCH_ANONYMOUS_STATEMENT_TIMEOUT_MS = env.int("LISTING_SEARCH_ANONYMOUS_STATEMENT_TIMEOUT_MS", default=500)
PROVIDER_SEARCH_STATEMENT_TIMEOUT_MS = env.int("PROVIDER_SEARCH_STATEMENT_TIMEOUT_MS", default=1500)
# A buyer's payment receipt (PDF, PNG, JPEG, WebP) may not be larger than this.
RECEIPT_MAX_BYTES = env.int("RECEIPT_MAX_BYTES", default=10 * 1024 * 1024)
# Listing images (marketplace_app/listing_images.py): the largest upload (within the multipart limit
# above), the most pixels one may decode to, how many a listing may have, a thumbnail's longest side.
LISTING_IMAGE_MAX_BYTES = env.int("LISTING_IMAGE_MAX_BYTES", default=8 * 1024 * 1024)
LISTING_IMAGE_MAX_PIXELS = env.int("LISTING_IMAGE_MAX_PIXELS", default=40_000_000)
LISTING_IMAGES_PER_LISTING = env.int("LISTING_IMAGES_PER_LISTING", default=12)
LISTING_IMAGE_THUMBNAIL_PIXELS = env.int("LISTING_IMAGE_THUMBNAIL_PIXELS", default=400)
# Used (verification, password reset) and expired account tokens are deleted this many days after
# (tenant_app/account_tokens.py), in batches of ACCOUNT_TOKEN_PURGE_BATCH rows.
ACCOUNT_TOKEN_RETENTION_DAYS = env.int("ACCOUNT_TOKEN_RETENTION_DAYS", default=7)
ACCOUNT_TOKEN_PURGE_BATCH = env.int("ACCOUNT_TOKEN_PURGE_BATCH", default=1000)
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=10)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=14)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "SIGNING_KEY": env("JWT_SIGNING_KEY", default="") or SECRET_KEY,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "BreederHQ API",
    "DESCRIPTION": "Tenant (breeder) and marketplace API. Errors are RFC 9457 problem+json.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The docs pages load Swagger UI and ReDoc from the pinned drf-spectacular-sidecar package
    # through our static files, never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # No call to swagger.io's online validator either.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    # PATCH bodies are validated whole (required fields stay required), not as partial updates.
    "COMPONENT_SPLIT_PATCH": False,
    # Choice sets that share a field name get stable names (a generated client's types depend on them).
    "ENUM_NAME_OVERRIDES": {
        "ContactKindEnum": "tenant_app.api.serializers.CONTACT_KINDS",
        "PaymentKindEnum": "tenant_app.api.serializers.PAYMENT_KINDS",
        "InvoiceStatusEnum": "tenant_app.api.serializers.INVOICE_STATUSES",
        "MembershipRoleEnum": "tenant_app.api.serializers.MEMBERSHIP_ROLES",
        "InvitationStatusEnum": "tenant_app.api.serializers.INVITATION_STATUSES",
        "TransactionStatusEnum": "marketplace_app.api.serializers.TRANSACTION_STATUSES",
        "TransactionActionEnum": "marketplace_app.api.serializers.TRANSACTION_ACTIONS",
        "MarketplaceInvoiceActionEnum": "marketplace_app.api.serializers.MARKETPLACE_INVOICE_ACTIONS",
        "ProviderKindEnum": "marketplace_app.api.serializers.PROVIDER_KINDS",
        "CategoryEnum": "marketplace_app.api.serializers.LISTING_CATEGORIES",
        "CurrencyEnum": "tenant_app.api.serializers.CURRENCIES",
        "ConnectAccountStatusEnum": "payments_app.api.connect.ACCOUNT_STATUSES",
    },
}

# --- Logging --------------------------------------------------------------------------------------
# JSON lines (request id, user, tenant, Celery task id; secrets scrubbed) unless LOG_FORMAT=plain.
LOG_FORMAT = env("LOG_FORMAT", default="json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "breederhq.observability.logging.JsonFormatter"},
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "filters": {"drop_throttled": {"()": "breederhq.observability.logging.DropThrottledResponses"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    # Throttled responses are counted in the metrics, not logged one by one (a flood of them would be).
    "loggers": {"django.request": {"filters": ["drop_throttled"]}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
}
# Bearer token for GET /metrics; without one, /metrics answers loopback clients only.
METRICS_TOKEN = env("METRICS_TOKEN", default="")
