from django.db import migrations

from breederhq.db_indexes import changed_rows_index


class Migration(migrations.Migration):
    """The incremental cross-database check reads the rows written since its last run in
    (updated_at, id) order (breederhq/crossdb_check.py): an index for each table it watches, built
    CONCURRENTLY, outside a transaction.
    """

    atomic = False

    dependencies = [
        ("payments_app", "0011_connect_account_requirements"),
    ]

    operations = [
        changed_rows_index("stripe_connect_accounts", "stripe_connect_accounts_changed_idx"),
        changed_rows_index("invoice_payments", "invoice_payments_changed_idx"),
    ]
