from django.db import migrations

from breederhq.tenancy import enable_system_read

# Every tenant-owned table (the walk in tests/tenant_app/test_isolation.py checks none is missing).
TENANT_TABLES = [
    "tenant_memberships", "tenant_document_sequences", "contacts", "invoices", "invoice_line_items",
    "credit_notes", "payments", "invoice_audit_log", "payment_confirmation_audit",
]


class Migration(migrations.Migration):
    dependencies = [("tenant_app", "0005_only_draft_or_void_invoices_deleted")]

    operations = [enable_system_read(table) for table in TENANT_TABLES]
