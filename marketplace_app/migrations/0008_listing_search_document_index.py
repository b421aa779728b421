from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations

from marketplace_app.search_document import ListingSearchDocument


class Migration(migrations.Migration):
    """The listing search reads one GIN index over its text and its category/state/city filters
    (`marketplace_app.search_document`), which replaces the index over the text alone.

    service_listings is large: the index is built CONCURRENTLY, outside a transaction, so no write
    waits on it, then the table is analysed, for the planner to have the expression's statistics
    from the start. The text-only index stays for this release, whose predecessor still searches by
    it; the release after drops it (expand/contract, docs/operations/runbook.md#safe-migrations).
    """

    atomic = False

    dependencies = [
        ("marketplace_app", "0007_merge_transaction_list_indexes"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="servicelisting",
            index=GinIndex(
                ListingSearchDocument(
                    "(search_vector || array_to_tsvector(ARRAY['category=' || category, 'state=' || state,"
                    " 'city=' || city]))"
                ),
                name="listings_search_document_gin",
            ),
        ),
        migrations.RunSQL("ANALYZE service_listings", reverse_sql=migrations.RunSQL.noop),
    ]
