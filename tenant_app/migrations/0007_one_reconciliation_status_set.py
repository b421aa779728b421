"""Invoices take the one reconciliation state set (breederhq/reconciliation.py): pending, synced,
mismatch, missing_remote, missing_local, resolved.

Every old value (synced, mismatch, resolved) is in the new set, so no row changes. The choices are
state only; the CHECK constraint is replaced NOT VALID and then validated, so the large invoices
table is not held under an exclusive lock while it is scanned (docs/operations/runbook.md#safe-migrations).
"""

from django.db import migrations, models

import breederhq.reconciliation

NEW_VALUES = "'pending', 'synced', 'mismatch', 'missing_remote', 'missing_local', 'resolved'"
OLD_VALUES = "'synced', 'mismatch', 'resolved'"
NAME = "invoices_reconciliation_status_valid"


def swap(values: str) -> str:
    return (f"ALTER TABLE invoices DROP CONSTRAINT {NAME}, "
            f"ADD CONSTRAINT {NAME} CHECK (reconciliation_status IN ({values})) NOT VALID; "
            f"ALTER TABLE invoices VALIDATE CONSTRAINT {NAME};")


class Migration(migrations.Migration):
    dependencies = [("tenant_app", "0006_system_read_policies")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveConstraint(model_name="invoice", name=NAME),
                migrations.AlterField(
                    model_name="invoice", name="reconciliation_status",
                    field=models.CharField(choices=breederhq.reconciliation.ReconciliationStatus.choices,
                                           default="synced", max_length=20),
                ),
                migrations.AddConstraint(
                    model_name="invoice",
                    constraint=models.CheckConstraint(
                        condition=models.Q(reconciliation_status__in=[
                            "pending", "synced", "mismatch", "missing_remote", "missing_local", "resolved"]),
                        name=NAME,
                    ),
                ),
            ],
            database_operations=[migrations.RunSQL(sql=swap(NEW_VALUES), reverse_sql=swap(OLD_VALUES))],
        ),
    ]
