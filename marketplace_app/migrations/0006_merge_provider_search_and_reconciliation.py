from django.db import migrations


class Migration(migrations.Migration):
    """Joins two branches of work that both followed 0003: provider version/search with receipt files,
    and the one reconciliation value set. They touch different columns."""

    dependencies = [
        ("marketplace_app", "0004_one_reconciliation_status_set"),
        ("marketplace_app", "0005_marketplace_invoice_receipt_file"),
    ]

    operations = []
