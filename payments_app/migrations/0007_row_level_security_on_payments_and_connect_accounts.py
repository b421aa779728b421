"""Row-level security on the two payment tables that hold one tenant's data, keyed by
`owner_tenant_id`: FORCED, a tenant sees and writes only its own rows; rows with no owner (a
marketplace invoice's payment, a service provider's Stripe account) only inside `platform_context`.
A SELECT-only `system_read` policy lets the audited `system_read_context` find a row before its
tenant is known (the webhook worker, the sweeps, reconciliation); writes still need the owner's
context. Enabling RLS changes no data and rewrites nothing."""

from django.db import migrations

from breederhq.tenancy import enable_system_read, enable_tenant_rls

TABLES = ["invoice_payments", "stripe_connect_accounts"]


class Migration(migrations.Migration):

    dependencies = [
        ("payments_app", "0006_webhook_inbox_without_pattern_indexes"),
    ]

    operations = [
        *[enable_tenant_rls(table, column="owner_tenant_id", platform_rows=True) for table in TABLES],
        *[enable_system_read(table) for table in TABLES],
    ]
