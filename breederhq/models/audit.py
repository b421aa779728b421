from django.db import models


class CrossTenantQueryAudit(models.Model):
    """Every attempt by support staff to reach into a tenant's data, allowed or not.

    Written by `breederhq.tenancy.support_tenant_access`, the only cross-tenant path. Append-only: the
    application role may insert and read but never update or delete it.
    """

    append_only = True

    user_id = models.BigIntegerField(null=True, help_text="users.id of the staff member")
    source_tenant_id = models.BigIntegerField(null=True, blank=True)
    target_tenant_id = models.BigIntegerField()
    query_type = models.CharField(max_length=100)
    allowed = models.BooleanField()
    reason = models.TextField(blank=True)
    executed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "cross_tenant_query_audit"
        indexes = [
            models.Index(fields=["target_tenant_id", "executed_at"], name="cross_tenant_audit_target_idx"),
            models.Index(fields=["user_id", "executed_at"], name="cross_tenant_audit_user_idx"),
        ]

    def __str__(self) -> str:
        return f"user {self.user_id} -> tenant {self.target_tenant_id} ({self.query_type}, allowed={self.allowed})"


class AuthorizationAudit(models.Model):
    """One authorization decision worth keeping: refusals above all.

    Exists in both databases: a marketplace user refused tenant data is recorded where the refusal
    happened. `user_id` is the id in that database's user table. Append-only.
    """

    append_only = True

    user_id = models.BigIntegerField(null=True)
    resource_type = models.CharField(max_length=100)
    resource_id = models.CharField(max_length=100, blank=True)
    action = models.CharField(max_length=50)
    allowed = models.BooleanField()
    reason = models.TextField(blank=True)
    requested_at = models.DateTimeField(auto_now_add=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)

    class Meta:
        db_table = "authorization_audit"
        indexes = [
            models.Index(fields=["user_id", "requested_at"], name="authorization_audit_user_idx"),
        ]

    def __str__(self) -> str:
        return f"user {self.user_id} {self.action} {self.resource_type}#{self.resource_id}: {self.allowed}"
