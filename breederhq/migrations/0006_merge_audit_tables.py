from django.db import migrations


class Migration(migrations.Migration):
    """Joins the audit tables branch (0002_audit_tables) with the rest of the core."""

    dependencies = [
        ("breederhq", "0002_audit_tables"),
        ("breederhq", "0005_merge_outbox"),
    ]

    operations = []
