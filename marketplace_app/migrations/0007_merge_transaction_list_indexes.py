from django.db import migrations


class Migration(migrations.Migration):
    """Joins the transaction-list keyset indexes (built concurrently in their own migration) with the
    rest of the marketplace schema work that followed 0003."""

    dependencies = [
        ("marketplace_app", "0004_transaction_list_keyset_indexes"),
        ("marketplace_app", "0006_merge_provider_search_and_reconciliation"),
    ]

    operations = []
