"""Tenant writes: create a tenant with its owner, edit its profile, switch its payment mode."""

from __future__ import annotations

import re

from django.db import IntegrityError, transaction

from breederhq.currencies import CURRENCIES
from breederhq.currencies import currency as currency_facts
from breederhq.errors import PermissionDenied, ValidationFailed, VersionConflict
from breederhq.tenancy import require_tenant_id, tenant_context
from tenant_app.models import PaymentMode, Tenant, TenantMembership, TenantProfileAuditLog, User
from tenant_app.services.common import DB

#: What an owner edits on the tenant's profile (payment mode has its own path).
TENANT_PROFILE_FIELDS = (
    "name",
    "contact_email",
    "phone",
    "address_line1",
    "address_line2",
    "city",
    "region",
    "postal_code",
    "country",
    "default_currency",
    "invoice_number_prefix",
)


def _check_tenant_profile(fields: dict) -> None:
    errors = {}
    if "name" in fields and not str(fields["name"]).strip():
        errors["name"] = ["A name is required."]
    if "default_currency" in fields and fields["default_currency"] not in CURRENCIES:
        currency_facts(fields["default_currency"], field="default_currency")  # 400 unsupported_currency
    if "invoice_number_prefix" in fields and not re.fullmatch(
        r"[A-Za-z0-9][A-Za-z0-9_/-]{0,11}", str(fields["invoice_number_prefix"])
    ):
        errors["invoice_number_prefix"] = ["1 to 12 letters, digits, '-', '_' or '/', starting with a letter or digit."]
    if "country" in fields and not re.fullmatch(r"([A-Z]{2})?", str(fields["country"])):
        errors["country"] = ["Two capital letters (ISO 3166-1 alpha-2), or empty."]
    unknown = sorted(set(fields) - set(TENANT_PROFILE_FIELDS))
    errors.update({name: ["not editable"] for name in unknown})
    if errors:
        raise ValidationFailed("Invalid tenant profile.", field_errors=errors)


def _tenant_audit(tenant: Tenant, *, action: str, changes: dict, actor: User | None) -> None:
    with tenant_context(tenant.pk, using=DB):
        TenantProfileAuditLog.objects.create(
            tenant=tenant, action=action, changes=changes, version=tenant.version, changed_by=actor
        )


def tenant_create(*, name: str, slug: str, owner: User, payment_mode: str = PaymentMode.MANUAL, **profile) -> Tenant:
    """A tenant, its owner's membership and the first row of its profile audit, in one transaction.
    `profile`: any of TENANT_PROFILE_FIELDS but name."""
    if payment_mode not in PaymentMode.values:
        raise ValidationFailed(
            "Unknown payment mode.", field_errors={"payment_mode": [f"not one of {PaymentMode.values}"]}
        )
    _check_tenant_profile({"name": name, **profile})
    with transaction.atomic(using=DB):
        try:
            with transaction.atomic(using=DB):
                tenant = Tenant.objects.create(name=name, slug=slug, marketplace_payment_mode=payment_mode, **profile)
        except IntegrityError as exc:
            raise ValidationFailed("Slug taken.", field_errors={"slug": ["already in use"]}) from exc
        with tenant_context(tenant.pk, using=DB):
            TenantMembership.objects.create(tenant=tenant, user=owner, role=TenantMembership.Role.OWNER)
        _tenant_audit(
            tenant,
            action=TenantProfileAuditLog.Action.CREATED,
            actor=owner,
            changes={field: [None, getattr(tenant, field)] for field in ("slug", *TENANT_PROFILE_FIELDS)},
        )
    return tenant


def tenant_update_profile(*, actor: User, expected_version: int, **changes) -> Tenant:
    """The current tenant's owner edits its profile at the version they read: the tenant row is locked,
    the version compared (409 `version_conflict`), the fields written, the version bumped and the change
    audited (old and new values), all in one transaction. Only owners (403 `role_forbidden`)."""
    _check_tenant_profile(changes)
    with transaction.atomic(using=DB):
        tenant_id = require_tenant_id(using=DB)
        role = TenantMembership.objects.filter(tenant_id=tenant_id, user=actor).values_list("role", flat=True).first()
        if role != TenantMembership.Role.OWNER:
            raise PermissionDenied("Only an owner may edit the tenant's profile.", code="role_forbidden")
        tenant = Tenant.objects.select_for_update().get(pk=tenant_id)
        if expected_version != tenant.version:
            raise VersionConflict(entity=f"Tenant #{tenant_id}", expected=expected_version, current=tenant.version)
        diff = {
            field: [getattr(tenant, field), value]
            for field, value in changes.items()
            if getattr(tenant, field) != value
        }
        if diff:
            for field, (_, value) in diff.items():
                setattr(tenant, field, value)
            tenant.version += 1
            tenant.save(update_fields=[*diff, "version", "updated_at"])
            _tenant_audit(tenant, action=TenantProfileAuditLog.Action.UPDATED, changes=diff, actor=actor)
    return tenant


def tenant_set_payment_mode(*, mode: str, actor: User | None = None) -> Tenant:
    """Switch the current tenant's marketplace payment mode. Locks the tenant row, so it waits for
    any invoice creation in progress (which holds the same lock) and vice versa."""
    if mode not in PaymentMode.values:
        raise ValidationFailed("Unknown payment mode.", field_errors={"mode": [f"not one of {PaymentMode.values}"]})
    with transaction.atomic(using=DB):
        tenant = Tenant.objects.select_for_update().get(pk=require_tenant_id(using=DB))
        tenant.marketplace_payment_mode = mode
        tenant.save(update_fields=["marketplace_payment_mode", "updated_at"])
    return tenant
