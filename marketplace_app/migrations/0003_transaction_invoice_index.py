from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    """Transactions by their invoice (the outbox finds a transaction from its tenant invoice).

    marketplace_transactions is large: the index is built CONCURRENTLY, outside a transaction.
    """

    atomic = False

    dependencies = [
        ("marketplace_app", "0002_providers_listings_transactions_invoices_messaging"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="marketplacetransaction",
            index=models.Index(condition=models.Q(("invoice_id__isnull", False)), fields=["invoice_type", "invoice_id"],
                               name="mkt_tx_invoice_idx"),
        ),
    ]
