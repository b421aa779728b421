from django.db import models


class StaffActionAudit(models.Model):
    """Every back-office action a staff member confirmed: who, what, on which row, and why.

    Append-only: the application role may insert and read, never change or delete (db_roles).
    """

    append_only = True

    actor_id = models.BigIntegerField()
    actor_username = models.CharField(max_length=150)
    action = models.CharField(max_length=100)
    target_model = models.CharField(max_length=100)
    target_database = models.CharField(max_length=20)
    target_id = models.CharField(max_length=64)
    reason = models.TextField()
    result = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        db_table = "staff_action_audit"
        ordering = ["-created_at"]
        # The back office's own permissions (groups: breederhq/backoffice/groups.py).
        permissions = [
            ("support_actions", "Can work on a tenant and run support actions in the back office"),
            ("payment_actions", "Can run payment and reconciliation actions in the back office"),
            ("view_dashboard", "Can see the staff dashboard"),
            ("finance_exports", "Can export invoices, payments, refunds and money movements"),
            # No group has it: superusers, and whom a superuser grants it (docs/operations/staff-2fa.md).
            ("reset_second_factor", "Can reset another staff member's second factor"),
        ]
        indexes = [models.Index(fields=["target_model", "target_id"], name="staff_audit_target_idx")]

    def __str__(self) -> str:
        return f"{self.actor_username}: {self.action} {self.target_model}#{self.target_id}"
