from django.db import migrations, models


class Migration(migrations.Migration):
    """The listing search's stored order (marketplace_app/listing_score.py). A nullable column with
    no default: PostgreSQL adds it to the catalogue only, without rewriting service_listings or
    holding its lock for longer than that. Migration 0015 fills it in batches and indexes it."""

    dependencies = [
        ("marketplace_app", "0013_service_listing_version"),
    ]

    operations = [
        migrations.AddField(
            model_name="servicelisting",
            name="search_score",
            field=models.BigIntegerField(blank=True, editable=False, null=True),
        ),
    ]
