from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    """A provider's and a client's transactions newest first, (created_at, id) DESC, without a status
    filter: the API list's keyset order, so deep cursor pages need no Sort.

    marketplace_transactions is large: the indexes are built CONCURRENTLY, outside a transaction.
    """

    atomic = False

    dependencies = [
        ("marketplace_app", "0003_transaction_invoice_index"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="marketplacetransaction",
            index=models.Index(models.F("provider"), models.OrderBy(models.F("created_at"), descending=True),
                               models.OrderBy(models.F("id"), descending=True), name="mkt_tx_provider_created"),
        ),
        AddIndexConcurrently(
            model_name="marketplacetransaction",
            index=models.Index(models.F("client"), models.OrderBy(models.F("created_at"), descending=True),
                               models.OrderBy(models.F("id"), descending=True), name="mkt_tx_client_created"),
        ),
    ]
