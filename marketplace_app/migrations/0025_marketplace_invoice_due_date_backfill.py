from django.db import migrations


def backfill(apps, schema_editor):
    # Batches by id, each its own short transaction (the migration is not atomic), so no write waits
    # on more than one batch's rows. `manage.py backfill_invoice_due_dates` does the same, to re-run.
    from marketplace_app.invoice_due_dates import backfill_all

    backfill_all(batch_size=5000, using=schema_editor.connection.alias)


class Migration(migrations.Migration):
    """Backfill: each invoice's `due_date` is the UTC date of its `due_at`."""

    atomic = False

    dependencies = [
        ("marketplace_app", "0024_marketplace_invoice_due_date"),
    ]

    operations = [
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True),
    ]
