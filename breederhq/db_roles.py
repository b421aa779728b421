"""The two PostgreSQL roles (docs/architecture/databases-and-routing.md#two-postgresql-roles).

* The **owner** role owns both databases and every table; only migrations run as it.
* The **application** role, named by TENANT_DATABASE_URL / MARKETPLACE_DATABASE_URL, is what the
  web, worker, beat and test processes connect as. It is not superuser, not owner, not BYPASSRLS, and
  gets plain DML grants, so row-level security applies to every query it runs.
"""

from __future__ import annotations

from contextlib import contextmanager

import psycopg
from django.conf import settings
from django.db import connections
from psycopg import sql

from breederhq.databases import DATABASE_ALIASES


class RoleConfigurationError(RuntimeError):
    pass


def app_role_name(alias: str) -> str:
    settings_dict = connections[alias].settings_dict
    return settings_dict.get("APP_USER") or settings_dict["USER"]


@contextmanager
def owner_credentials(aliases=DATABASE_ALIASES):
    """Reconnect the given aliases as the owner role for the duration (migrations, test DB set-up),
    without the application role's time limits: a long migration (an index built concurrently, a
    backfill) is never cut off (breederhq/db_timeouts.py)."""
    from breederhq.db_timeouts import startup_options

    saved = {}
    for alias in aliases:
        settings_dict = connections[alias].settings_dict
        settings_dict.setdefault("APP_USER", settings_dict["USER"])
        options = settings_dict.setdefault("OPTIONS", {})
        saved[alias] = (settings_dict["USER"], settings_dict["PASSWORD"], options.get("options"))
        connections[alias].close()
        settings_dict["USER"] = settings.DATABASE_OWNER_USER
        settings_dict["PASSWORD"] = settings.DATABASE_OWNER_PASSWORD
        options["options"] = startup_options(0, 0, base=options.get("options") or "")
    try:
        yield
    finally:
        for alias, (user, password, startup) in saved.items():
            connections[alias].close()
            connections[alias].settings_dict["USER"] = user
            connections[alias].settings_dict["PASSWORD"] = password
            if startup is None:
                connections[alias].settings_dict["OPTIONS"].pop("options", None)
            else:
                connections[alias].settings_dict["OPTIONS"]["options"] = startup


def append_only_tables() -> set[str]:
    """Tables the app role may read and insert into but never change (audit trails)."""
    from django.apps import apps

    return {model._meta.db_table for model in apps.get_models() if getattr(model, "append_only", False)}


def grant_app_role(*, using: str) -> None:
    """Give the app role DML on every table in `using` (idempotent; run after each migrate)."""
    role = sql.Identifier(app_role_name(using))
    with connections[using].cursor() as cursor:
        if connections[using].settings_dict["USER"] == app_role_name(using):
            return  # migrating as the app role itself (a misconfiguration db_bootstrap reports)
        cursor.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(role).as_string())
        cursor.execute(
            sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}")
            .format(role)
            .as_string()
        )
        cursor.execute(sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}").format(role).as_string())
        cursor.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename = ANY(%s)",
            [sorted(append_only_tables())],
        )
        for (table,) in cursor.fetchall():
            cursor.execute(
                sql.SQL("REVOKE UPDATE, DELETE, TRUNCATE ON {} FROM {}").format(sql.Identifier(table), role).as_string()
            )


def _role_exists(cursor, name: str) -> bool:
    cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [name])
    return cursor.fetchone() is not None


def ensure_roles(cursor, *, log=print) -> None:
    """Create the owner role and the application role(s) when missing (roles are cluster-wide: a new
    server has none of them). `cursor` is a superuser's, in autocommit."""
    owner = settings.DATABASE_OWNER_USER
    if not _role_exists(cursor, owner):
        cursor.execute(
            sql.SQL("CREATE ROLE {} LOGIN CREATEDB NOSUPERUSER NOBYPASSRLS NOCREATEROLE PASSWORD {}").format(
                sql.Identifier(owner), sql.Literal(settings.DATABASE_OWNER_PASSWORD)
            )
        )
        log(f"created owner role {owner}")
    for alias in DATABASE_ALIASES:
        config = settings.DATABASES[alias]
        app_user = config.get("APP_USER") or config["USER"]
        if not _role_exists(cursor, app_user):
            cursor.execute(
                sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD {}").format(
                    sql.Identifier(app_user), sql.Literal(config["PASSWORD"] or "")
                )
            )
            log(f"created application role {app_user}")


def bootstrap_roles_and_databases(admin_url: str, *, log=print) -> None:
    """Create the owner role, the app role(s) and both databases when missing. Idempotent."""
    owner = settings.DATABASE_OWNER_USER
    with psycopg.connect(admin_url, autocommit=True) as conn, conn.cursor() as cursor:
        ensure_roles(cursor, log=log)
        for alias in DATABASE_ALIASES:
            config = settings.DATABASES[alias]
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [config["NAME"]])
            if cursor.fetchone() is None:
                cursor.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(config["NAME"]), sql.Identifier(owner))
                )
                log(f"created database {config['NAME']} owned by {owner}")
    verify_app_role()


def verify_app_role() -> None:
    """Refuse to run when the app role could bypass row-level security."""
    for alias in DATABASE_ALIASES:
        config = settings.DATABASES[alias]
        app_user = config.get("APP_USER") or config["USER"]
        if app_user == settings.DATABASE_OWNER_USER:
            raise RoleConfigurationError(
                f"The {alias} database URL connects as the owner role {app_user}; it must name "
                f"the application role, or row-level security does not apply."
            )
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
            is_superuser, bypasses_rls = cursor.fetchone()
        if is_superuser or bypasses_rls:
            raise RoleConfigurationError(
                f"The {alias} database URL connects as {app_user}, which is "
                f"{'a superuser' if is_superuser else 'BYPASSRLS'}: row-level security would not "
                f"apply. Point it at the application role."
            )
