import django.contrib.postgres.indexes
import django.contrib.postgres.search
from django.db import migrations, models


class Migration(migrations.Migration):
    """Providers: `version` (optimistic locking of the profile) and a stored full-text search column
    with its GIN index (public provider search). marketplace_providers is a small table (one row
    per seller), so the generated column's rewrite and a plain index build are brief."""

    dependencies = [
        ("marketplace_app", "0003_transaction_invoice_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="provider",
            name="version",
            field=models.IntegerField(default=1),
        ),
        migrations.AddConstraint(
            model_name="provider",
            constraint=models.CheckConstraint(condition=models.Q(("version__gte", 1)),
                                              name="marketplace_providers_version_positive"),
        ),
        migrations.AddField(
            model_name="provider",
            name="search_vector",
            field=models.GeneratedField(
                db_persist=True,
                expression=django.contrib.postgres.search.CombinedSearchVector(
                    django.contrib.postgres.search.SearchVector("business_name", config="english", weight="A"),
                    "||",
                    django.contrib.postgres.search.SearchVector("description", config="english", weight="B"),
                    django.contrib.postgres.search.SearchConfig("english"),
                ),
                output_field=django.contrib.postgres.search.SearchVectorField(),
            ),
        ),
        migrations.AddIndex(
            model_name="provider",
            index=django.contrib.postgres.indexes.GinIndex(fields=["search_vector"], name="mkt_providers_search_gin"),
        ),
    ]
