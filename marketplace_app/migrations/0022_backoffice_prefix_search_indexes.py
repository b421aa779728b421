from django.db import migrations

from breederhq.db_indexes import prefix_search_index


class Migration(migrations.Migration):
    """The back office's "starts with" searches (a marketplace user's email, a provider's business
    name, a listing's title) read an index over `UPPER(column) text_pattern_ops` instead of the whole
    table (breederhq/db_indexes.py).

    The tables are large: the indexes are built CONCURRENTLY, outside a transaction.
    """

    atomic = False

    dependencies = [
        ("marketplace_app", "0021_marketplace_invoice_soft_delete_index"),
    ]

    operations = [
        prefix_search_index("marketplace_users", "email", "mkt_users_email_prefix"),
        prefix_search_index("marketplace_providers", "business_name", "mkt_providers_name_prefix"),
        prefix_search_index("service_listings", "title", "service_listings_title_prefix"),
    ]
