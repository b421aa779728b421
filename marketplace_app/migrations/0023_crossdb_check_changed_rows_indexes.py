from django.db import migrations

from breederhq.db_indexes import changed_rows_index


class Migration(migrations.Migration):
    """The incremental cross-database check reads the rows written since its last run in
    (updated_at, id) order (breederhq/crossdb_check.py): an index for each table it watches, built
    CONCURRENTLY, outside a transaction.
    """

    atomic = False

    dependencies = [
        ("marketplace_app", "0022_backoffice_prefix_search_indexes"),
    ]

    operations = [
        changed_rows_index("marketplace_users", "mkt_users_changed_idx"),
        changed_rows_index("marketplace_providers", "mkt_providers_changed_idx"),
        changed_rows_index("marketplace_transactions", "mkt_tx_changed_idx"),
    ]
