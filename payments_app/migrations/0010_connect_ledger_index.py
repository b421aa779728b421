"""The index the API's money-movement ledger reads (one connected account, newest first), built
CONCURRENTLY so the webhook worker's inserts are not blocked while it builds."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):

    atomic = False

    dependencies = [
        ("payments_app", "0009_connect_ledger_owner_and_invoice_disputes"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="connectmoneymovement",
            index=models.Index(fields=["connect_account_id", "-occurred_at", "-id"], name="connect_movements_ledger_idx"),
        ),
    ]
