import django.db.models.manager
from django.db import migrations, models


class Migration(migrations.Migration):
    """Expand: marketplace invoices become soft-deletable (marketplace_app/invoice_deletion.py). A
    nullable column without a default (no rewrite) and the draft-or-void rule added NOT VALID (rows
    written from now on are checked; none is deleted yet). The index and the validation follow in the
    next, non-atomic migration."""

    dependencies = [("marketplace_app", "0019_marketplace_invoice_refunds_by_stripe_refund_id")]

    operations = [
        migrations.AlterModelManagers(
            name="marketplaceinvoice",
            managers=[
                ("objects", django.db.models.manager.Manager()),
                ("all_objects", django.db.models.manager.Manager()),
            ],
        ),
        migrations.AddField(
            model_name="marketplaceinvoice", name="deleted_at", field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddConstraint(
                model_name="marketplaceinvoice",
                constraint=models.CheckConstraint(
                    condition=models.Q(("deleted_at__isnull", True), ("status__in", ["draft", "void"]), _connector="OR"),
                    name="marketplace_invoices_only_draft_or_void_deleted"),
            )],
            database_operations=[migrations.RunSQL(
                "ALTER TABLE marketplace_invoices ADD CONSTRAINT marketplace_invoices_only_draft_or_void_deleted"
                " CHECK (deleted_at IS NULL OR status IN ('draft', 'void')) NOT VALID",
                reverse_sql="ALTER TABLE marketplace_invoices DROP CONSTRAINT marketplace_invoices_only_draft_or_void_deleted",
            )],
        ),
    ]
