from django.contrib.postgres.indexes import GinIndex
from django.db import migrations

from marketplace_app.search_document import ListingSearchDocument

INDEX = "listings_search_document_gin"
DOCUMENT = ("(search_vector || array_to_tsvector(ARRAY['category=' || category, 'state=' || state,"
            " 'city=' || city]))")


class Migration(migrations.Migration):
    """The listing search's GIN index without `fastupdate`: a listing write puts its entries into
    the index itself, instead of a pending list that every search scans in full until autovacuum or
    the 4 MB gin_pending_list_limit empties it. Measured by the bench (`search_plan`, after 2,000
    listing edits): the search took 1.27 ms with fastupdate and 0.51 ms without at small scale (at
    full scale the same 0.7 ms is a small part of a broad search's 48 ms); an edit took 0.12-0.15 ms
    without fastupdate against 0.05 ms with it. Listings are written rarely and searched on every
    public request.

    A change of the index's options, not a rebuild: no data is read. `ALTER INDEX ... SET` takes an
    ACCESS EXCLUSIVE lock on the index (which blocks the table's writes and its planning) for the
    catalog update alone: it runs in its own transaction and waits at most 5 s for the lock
    (lock_timeout: the migration fails and is run again, rather than stalling the statements queued
    behind it). The pending list it leaves is emptied into the index afterwards, in a transaction of
    its own that holds no such lock.
    """

    # Each operation in its own transaction, so the exclusive lock ends with the ALTER.
    atomic = False

    dependencies = [
        ("marketplace_app", "0008_listing_search_document_index"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                # One element each, sent as one message: PostgreSQL runs it as one implicit
                # transaction, which SET LOCAL applies to (a plain string would be split into two
                # statements, each in its own transaction).
                migrations.RunSQL(
                    [f"SET LOCAL lock_timeout = '5s'; ALTER INDEX {INDEX} SET (fastupdate = off)"],
                    reverse_sql=[f"SET LOCAL lock_timeout = '5s'; ALTER INDEX {INDEX} RESET (fastupdate)"],
                ),
            ],
            state_operations=[
                migrations.RemoveIndex(model_name="servicelisting", name=INDEX),
                migrations.AddIndex(
                    model_name="servicelisting",
                    index=GinIndex(ListingSearchDocument(DOCUMENT), name=INDEX, fastupdate=False),
                ),
            ],
        ),
        migrations.RunSQL(f"SELECT gin_clean_pending_list('{INDEX}')", reverse_sql=migrations.RunSQL.noop),
    ]
