from django.db import migrations

from breederhq.db_indexes import changed_rows_index


class Migration(migrations.Migration):
    """The incremental cross-database check reads the rows written since its last run in
    (updated_at, id) order (breederhq/crossdb_check.py): an index for each table it watches, built
    CONCURRENTLY, outside a transaction.
    """

    atomic = False

    dependencies = [
        ("tenant_app", "0017_backoffice_search_indexes"),
    ]

    operations = [
        changed_rows_index("contacts", "contacts_changed_idx"),
    ]
