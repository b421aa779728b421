from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    """The deleted invoices' partial index, built CONCURRENTLY, and the draft-or-void rule validated
    (VALIDATE CONSTRAINT takes a lock that lets reads and writes go on)."""

    atomic = False
    dependencies = [("marketplace_app", "0020_marketplace_invoice_soft_delete_column")]

    operations = [
        AddIndexConcurrently(
            model_name="marketplaceinvoice",
            index=models.Index(condition=models.Q(("deleted_at__isnull", False)), fields=["deleted_at"],
                               name="mkt_invoices_deleted"),
        ),
        migrations.RunSQL(
            "ALTER TABLE marketplace_invoices VALIDATE CONSTRAINT marketplace_invoices_only_draft_or_void_deleted",
            reverse_sql=migrations.RunSQL.noop,
        ),
    ]
