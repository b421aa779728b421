import marketplace_app.models
from django.db import migrations, models

# The receipt rule now accepts an uploaded file as well as a URL. marketplace_invoices is large: the
# new CHECK is added NOT VALID (no scan under the exclusive lock), then validated (a scan that does
# not block writes), then the old one is dropped. Each statement commits on its own (atomic = False).
ADD_CHECK_SQL = """
ALTER TABLE marketplace_invoices ADD CONSTRAINT marketplace_invoices_manual_payment_receipt_v2 CHECK (
    NOT (payment_mode_snapshot = 'manual') OR buyer_marked_paid_at IS NULL
    OR buyer_payment_receipt_url IS NOT NULL OR NOT (buyer_payment_receipt = '')
) NOT VALID
"""
VALIDATE_CHECK_SQL = (
    "ALTER TABLE marketplace_invoices VALIDATE CONSTRAINT marketplace_invoices_manual_payment_receipt_v2"
)
DROP_OLD_CHECK_SQL = "ALTER TABLE marketplace_invoices DROP CONSTRAINT marketplace_invoices_manual_payment_receipt"
RESTORE_OLD_CHECK_SQL = """
ALTER TABLE marketplace_invoices ADD CONSTRAINT marketplace_invoices_manual_payment_receipt CHECK (
    NOT (payment_mode_snapshot = 'manual') OR buyer_marked_paid_at IS NULL OR buyer_payment_receipt_url IS NOT NULL
)
"""
DROP_NEW_CHECK_SQL = (
    "ALTER TABLE marketplace_invoices DROP CONSTRAINT marketplace_invoices_manual_payment_receipt_v2"
)


class Migration(migrations.Migration):
    """Marketplace invoices: the buyer's receipt as an uploaded file (Django storage)."""

    atomic = False

    dependencies = [
        ("marketplace_app", "0004_provider_version_and_search"),
    ]

    operations = [
        # A constant default: PostgreSQL adds the column without rewriting the table.
        migrations.AddField(
            model_name="marketplaceinvoice",
            name="buyer_payment_receipt",
            field=models.FileField(blank=True, default="", max_length=500,
                                   upload_to=marketplace_app.models.marketplace_receipt_upload_path),
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(sql=ADD_CHECK_SQL, reverse_sql=DROP_NEW_CHECK_SQL),
                migrations.RunSQL(sql=VALIDATE_CHECK_SQL, reverse_sql=migrations.RunSQL.noop),
                migrations.RunSQL(sql=DROP_OLD_CHECK_SQL, reverse_sql=RESTORE_OLD_CHECK_SQL),
            ],
            state_operations=[
                migrations.RemoveConstraint(
                    model_name="marketplaceinvoice",
                    name="marketplace_invoices_manual_payment_receipt",
                ),
                migrations.AddConstraint(
                    model_name="marketplaceinvoice",
                    constraint=models.CheckConstraint(
                        condition=models.Q(
                            models.Q(("payment_mode_snapshot", "manual"), _negated=True),
                            ("buyer_marked_paid_at__isnull", True),
                            ("buyer_payment_receipt_url__isnull", False),
                            models.Q(("buyer_payment_receipt", ""), _negated=True),
                            _connector="OR",
                        ),
                        name="marketplace_invoices_manual_payment_receipt_v2",
                    ),
                ),
            ],
        ),
    ]
