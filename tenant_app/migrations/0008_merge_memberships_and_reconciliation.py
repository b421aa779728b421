from django.db import migrations


class Migration(migrations.Migration):
    """Joins two branches of work that both followed 0006: membership versions and the audit log, and
    the one reconciliation value set. They touch different tables."""

    dependencies = [
        ("tenant_app", "0007_membership_version_and_audit_log"),
        ("tenant_app", "0007_one_reconciliation_status_set"),
    ]

    operations = []
