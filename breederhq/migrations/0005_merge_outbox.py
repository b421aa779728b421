from django.db import migrations


class Migration(migrations.Migration):
    """Joins the outbox branch (0002_outbox) with idempotency keys, emails and per-DB proxies."""

    dependencies = [
        ("breederhq", "0002_outbox"),
        ("breederhq", "0004_per_database_proxies"),
    ]

    operations = []
