"""The back-office groups and exactly what each may do (`manage.py backoffice_groups`).

- `support`: sees every admin page (view permission on each registered model), works on a tenant
  through the audited path, runs the safe actions (resend an email, retry a webhook, soft-delete or
  restore a provider or listing, unblock a user), sees the dashboard. Edits nothing by hand.
- `finance`: sees every admin page, works on a tenant (to reach its invoices), runs the payment
  actions (confirm, reject or expire a manual payment claim, resolve a reconciliation mismatch), sees
  the dashboard, exports invoices, payments, refunds and money movements (breederhq/backoffice/exports/).
- superusers: everything (Django's `is_superuser`; no group needed).
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import transaction

from breederhq.databases import TENANT_DB

SUPPORT = "support"
FINANCE = "finance"
SUPPORT_EXTRA = ("support_actions", "view_dashboard")
FINANCE_EXTRA = ("payment_actions", "view_dashboard", "finance_exports")
#: Who may grant rights stays with superusers: nobody in a group even sees the groups.
NOT_VIEWABLE = {("auth", "group"), ("auth", "permission")}


def _view_permissions() -> list[Permission]:
    content_types = [
        ContentType.objects.db_manager(TENANT_DB).get_for_model(model, for_concrete_model=False)
        for model in admin.site._registry
        if (model._meta.app_label, model._meta.model_name) not in NOT_VIEWABLE
    ]
    return list(
        Permission.objects.using(TENANT_DB).filter(content_type__in=content_types, codename__startswith="view_")
    )


def _backoffice(codenames) -> list[Permission]:
    return list(
        Permission.objects.using(TENANT_DB).filter(content_type__app_label="backoffice", codename__in=codenames)
    )


def backoffice_groups_sync() -> dict[str, int]:
    """Create or reset both groups to exactly their permissions (idempotent). Returns the counts."""
    from django.apps import apps
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():  # permissions normally appear after migrate; be sure
        create_permissions(app_config, verbosity=0, using=TENANT_DB)
    views = _view_permissions()
    wanted = {SUPPORT: views + _backoffice(SUPPORT_EXTRA), FINANCE: views + _backoffice(FINANCE_EXTRA)}
    with transaction.atomic(using=TENANT_DB):
        for name, permissions in wanted.items():
            group, _ = Group.objects.using(TENANT_DB).get_or_create(name=name)
            group.permissions.set(permissions)
    return {name: len(permissions) for name, permissions in wanted.items()}
