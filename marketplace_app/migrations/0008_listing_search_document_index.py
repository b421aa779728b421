from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations

from marketplace_app.search_document import ListingSearchDocument


class Migration(migrations.Migration):
    """The listing search reads one GIN index over its text and its category/state/city filters
    (`marketplace_app.search_document`), which replaces the index over the text alone.

    service_listings is large: the new index is built CONCURRENTLY, and only then is the old one
    dropped CONCURRENTLY, both outside a transaction, so no write waits on a lock. The previous
    release searches by the old index: a web process of it still serving after this migration
    searches without one until it restarts.
    """

    atomic = False

    dependencies = [
        ("marketplace_app", "0007_merge_transaction_list_indexes"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="servicelisting",
            index=GinIndex(ListingSearchDocument(), name="listings_search_document_gin"),
        ),
        RemoveIndexConcurrently(model_name="servicelisting", name="service_listings_search_gin"),
    ]
