"""Which database each app's tables live in: the one table the router reads.
See docs/architecture/databases-and-routing.md.

Every installed app must appear here. The router refuses an app it does not know rather than
guessing `default`, so a new app cannot silently land in the wrong database. The aliases themselves
are spelled once, in breederhq/databases.py.
"""

from breederhq.databases import MARKETPLACE_DB, TENANT_DB

#: Apps whose tables exist in *both* databases: the per-database core (cross-database reference
#: registry, outbox, applied-message log, idempotency keys, audit). Code always names the alias.
EVERY_DATABASE = "__every_database__"

APP_DATABASES: dict[str, str] = {
    # Django internals live with the tenant side: staff users, admin log, sessions.
    "admin": TENANT_DB,
    "auth": TENANT_DB,
    "contenttypes": TENANT_DB,
    "sessions": TENANT_DB,
    "messages": TENANT_DB,
    "staticfiles": TENANT_DB,
    "rest_framework": TENANT_DB,
    "django_filters": TENANT_DB,
    "drf_spectacular": TENANT_DB,
    "drf_spectacular_sidecar": TENANT_DB,  # Swagger UI and ReDoc assets served offline (static files only)
    "token_blacklist": TENANT_DB,  # simplejwt: refresh tokens issued to tenant_app.User, and revoked ones
    "django_celery_beat": TENANT_DB,
    # django-otp: staff second-factor devices (authenticator apps, recovery codes), beside the users.
    "django_otp": TENANT_DB,
    "otp_totp": TENANT_DB,
    "otp_static": TENANT_DB,
    # Our apps.
    "tenant_app": TENANT_DB,
    "payments_app": TENANT_DB,
    "marketplace_app": MARKETPLACE_DB,
    "breederhq": EVERY_DATABASE,
    "jobs": TENANT_DB,  # breederhq.jobs: scheduled-job bookkeeping
    "backoffice": TENANT_DB,  # breederhq.backoffice: staff action audit
    # Test-only apps (installed by config.settings.test alone) exercising the cross-database core.
    "crossdb_tenant": TENANT_DB,
    "crossdb_marketplace": MARKETPLACE_DB,
}
