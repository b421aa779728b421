from django.db import migrations

from breederhq.db_indexes import changed_rows_index


class Migration(migrations.Migration):
    """The incremental cross-database check reads the rows written since its last run in
    (updated_at, id) order (breederhq/crossdb_check.py): an index for each table it watches, built
    CONCURRENTLY, outside a transaction.
    """

    atomic = False

    dependencies = [
        ("breederhq", "0012_outbound_email_attachments"),
    ]

    operations = [
        changed_rows_index("cross_db_references", "cross_db_references_changed_idx"),  # in each database
    ]
