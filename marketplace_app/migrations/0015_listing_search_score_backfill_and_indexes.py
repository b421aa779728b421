from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


def backfill(apps, schema_editor):
    # Batches by id, each its own short transaction (the migration is not atomic), so no write waits
    # on more than one batch's rows. `manage.py listing_search_scores` does the same, to re-run.
    from marketplace_app.listing_score import backfill_batch

    after = 0
    while True:
        last_id, _ = backfill_batch(after_id=after, batch_size=5000, using=schema_editor.connection.alias)
        if last_id is None:
            return
        after = last_id


class Migration(migrations.Migration):
    """Scores every existing listing, then builds the search's two order indexes CONCURRENTLY
    (outside a transaction: writes go on meanwhile) and analyses the table for the planner."""

    atomic = False

    dependencies = [
        ("marketplace_app", "0014_service_listing_search_score"),
    ]

    operations = [
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True),
        AddIndexConcurrently(
            model_name="servicelisting",
            index=models.Index(models.OrderBy(models.F("search_score"), descending=True, nulls_last=True),
                               models.OrderBy(models.F("id"), descending=True),
                               condition=models.Q(("status", "active")), name="listings_active_by_score"),
        ),
        AddIndexConcurrently(
            model_name="servicelisting",
            index=models.Index(models.OrderBy(models.F("published_at"), descending=True, nulls_last=True),
                               models.OrderBy(models.F("id"), descending=True),
                               condition=models.Q(("status", "active")), name="listings_active_by_published"),
        ),
        migrations.RunSQL("ANALYZE service_listings", reverse_sql=migrations.RunSQL.noop),
    ]
