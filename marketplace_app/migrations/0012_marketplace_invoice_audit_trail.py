"""The invoice core for marketplace invoices: one status set and the same column types as tenant
invoices (version, line quantity and order become positive integers: each only adds a CHECK, added NOT VALID
so that no existing row is scanned under lock), and the two audit trails (invoice changes, payment confirmations) in
the marketplace database. Both audit tables are append-only: breederhq/db_roles.py revokes UPDATE,
DELETE and TRUNCATE from the application role after every migrate, as for the tenant audit tables."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('marketplace_app', '0011_invoice_core_number_name'),
    ]

    operations = [
        # On tables that already hold rows: the status change is choices only (no SQL), and each
        # positive type only adds a CHECK, added NOT VALID so no existing row is scanned under lock
        # (new and updated rows are checked; every existing value is already >= 0).
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='marketplaceinvoice',
                    name='status',
                    field=models.CharField(choices=[('draft', 'Draft'), ('sent', 'Sent'), ('pending_confirmation', 'Pending confirmation'), ('paid', 'Paid'), ('partially_refunded', 'Partially refunded'), ('refunded', 'Refunded'), ('void', 'Void')], default='draft', max_length=30),
                ),
                migrations.AlterField(
                    model_name='marketplaceinvoice',
                    name='version',
                    field=models.PositiveIntegerField(default=1),
                ),
                migrations.AlterField(
                    model_name='marketplaceinvoicelineitem',
                    name='quantity',
                    field=models.PositiveIntegerField(default=1),
                ),
                migrations.AlterField(
                    model_name='marketplaceinvoicelineitem',
                    name='sort_order',
                    field=models.PositiveIntegerField(default=0),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    'ALTER TABLE "marketplace_invoices" ADD CONSTRAINT "marketplace_invoices_version_nonnegative" '
                    'CHECK ("version" >= 0) NOT VALID',
                    reverse_sql='ALTER TABLE "marketplace_invoices" DROP CONSTRAINT "marketplace_invoices_version_nonnegative"',
                ),
                migrations.RunSQL(
                    'ALTER TABLE "marketplace_invoice_line_items" ADD CONSTRAINT "marketplace_invoice_line_items_quantity_nonnegative" '
                    'CHECK ("quantity" >= 0) NOT VALID',
                    reverse_sql='ALTER TABLE "marketplace_invoice_line_items" '
                                'DROP CONSTRAINT "marketplace_invoice_line_items_quantity_nonnegative"',
                ),
                migrations.RunSQL(
                    'ALTER TABLE "marketplace_invoice_line_items" '
                    'ADD CONSTRAINT "marketplace_invoice_line_items_sort_order_nonnegative" '
                    'CHECK ("sort_order" >= 0) NOT VALID',
                    reverse_sql='ALTER TABLE "marketplace_invoice_line_items" '
                                'DROP CONSTRAINT "marketplace_invoice_line_items_sort_order_nonnegative"',
                ),
            ],
        ),
        migrations.CreateModel(
            name='MarketplaceInvoiceAuditLog',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('action', models.CharField(max_length=50)),
                ('old_status', models.CharField(blank=True, max_length=30)),
                ('new_status', models.CharField(max_length=30)),
                ('payment_mode', models.CharField(max_length=20)),
                ('actor', models.CharField(blank=True, max_length=100)),
                ('changed_at', models.DateTimeField(auto_now_add=True)),
                ('metadata', models.JSONField(blank=True, default=dict)),
                ('changed_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='marketplace_app.marketplaceuser')),
                ('invoice', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='audit_log', to='marketplace_app.marketplaceinvoice')),
            ],
            options={
                'db_table': 'marketplace_invoice_audit_log',
                'ordering': ['id'],
                'abstract': False,
                'indexes': [models.Index(fields=['invoice', 'id'], name='mkt_invoice_audit_invoice_idx')],
            },
        ),
        migrations.CreateModel(
            name='MarketplacePaymentConfirmationAudit',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('event', models.CharField(choices=[('buyer_marked_paid', 'Buyer marked paid'), ('confirmed', 'Confirmed'), ('rejected', 'Rejected'), ('expired', 'Expired unconfirmed')], max_length=30)),
                ('marked_paid_at', models.DateTimeField(blank=True, null=True)),
                ('confirmed_by_actor', models.CharField(blank=True, max_length=100)),
                ('confirmed_at', models.DateTimeField(blank=True, null=True)),
                ('payment_method', models.CharField(blank=True, max_length=20)),
                ('payment_reference', models.CharField(blank=True, max_length=255)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('metadata', models.JSONField(blank=True, default=dict)),
                ('confirmed_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='marketplace_app.marketplaceuser')),
                ('invoice', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='confirmation_audit', to='marketplace_app.marketplaceinvoice')),
                ('marked_paid_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='marketplace_app.marketplaceuser')),
            ],
            options={
                'db_table': 'marketplace_payment_confirmation_audit',
                'ordering': ['id'],
                'abstract': False,
                'indexes': [models.Index(fields=['invoice', 'id'], name='mkt_payment_confirm_inv_idx')],
            },
        ),
    ]
