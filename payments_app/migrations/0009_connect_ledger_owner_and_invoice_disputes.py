"""The Connect money movements become the ledger a connected account's owner reads through the API,
and disputes (with the seller's evidence files) get their own tables.

`stripe_connect_money_movements` gains `owner_tenant_id` (the owner of the connected account the row
is about, filled in from `stripe_connect_accounts`) and `occurred_at` (filled in from the times the
rows already have), then row-level security like `invoice_payments`: a tenant sees its rows, rows of
a service provider's account (no owner) only in `platform_context`, and the audited system read
finds any. `occurred_at` becomes NOT NULL through a CHECK added NOT VALID and validated first, so
SET NOT NULL does not scan the table under its ACCESS EXCLUSIVE lock. The ledger's index is built
CONCURRENTLY in the next migration.

The backfill reads the Connect accounts with the system-read setting of the block (the table's RLS
is forced even for the owner role), transaction-locally.
"""

import django.db.models.deletion
from django.db import migrations, models

from breederhq.tenancy import enable_system_read, enable_tenant_rls

MOVEMENTS = "stripe_connect_money_movements"

BACKFILL = [
    "SET LOCAL app.system_read = 'migration:connect_ledger_owner'",
    f"UPDATE {MOVEMENTS} m SET occurred_at = COALESCE(m.last_event_created, m.created_at) WHERE m.occurred_at IS NULL",
    f"UPDATE {MOVEMENTS} m SET owner_tenant_id = a.owner_tenant_id FROM stripe_connect_accounts a "
    f"WHERE a.stripe_account_id = m.connect_account_id AND m.connect_account_id <> '' AND m.owner_tenant_id IS NULL",
    "SET LOCAL app.system_read = ''",
]
NOT_NULL = [
    f"ALTER TABLE {MOVEMENTS} ADD CONSTRAINT connect_movements_occurred_at_set CHECK (occurred_at IS NOT NULL) NOT VALID",
    f"ALTER TABLE {MOVEMENTS} VALIDATE CONSTRAINT connect_movements_occurred_at_set",
    f"ALTER TABLE {MOVEMENTS} ALTER COLUMN occurred_at SET NOT NULL",
    f"ALTER TABLE {MOVEMENTS} DROP CONSTRAINT connect_movements_occurred_at_set",
]
NOT_NULL_REVERSE = [f"ALTER TABLE {MOVEMENTS} ALTER COLUMN occurred_at DROP NOT NULL"]

DISPUTE_TABLES = ["invoice_disputes", "invoice_dispute_evidence_files"]


def owner_field():
    return models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name="+",
                             to="tenant_app.tenant")


class Migration(migrations.Migration):

    dependencies = [
        ("payments_app", "0008_refund_requests_keyed_by_client_key"),
        ("tenant_app", "0014_tenant_profile_version_and_audit"),
    ]

    operations = [
        # --- the ledger -------------------------------------------------------------------------
        migrations.AddField(model_name="connectmoneymovement", name="owner_tenant", field=owner_field()),
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.AddField(model_name="connectmoneymovement", name="occurred_at",
                                    field=models.DateTimeField(null=True)),
                migrations.RunSQL(BACKFILL, reverse_sql=migrations.RunSQL.noop),
                migrations.RunSQL(NOT_NULL, reverse_sql=NOT_NULL_REVERSE),
            ],
            state_operations=[
                migrations.AddField(model_name="connectmoneymovement", name="occurred_at",
                                    field=models.DateTimeField(default=None), preserve_default=False),
            ],
        ),
        migrations.AlterField(
            model_name="connectmoneymovement",
            name="kind",
            field=models.CharField(choices=[
                ("payment", "Payment by the buyer (charge)"), ("refund", "Refund to the buyer"),
                ("dispute", "Disputed by the buyer (chargeback)"), ("application_fee", "Platform application fee"),
                ("transfer", "Transfer to the connected account"), ("payout", "Payout of the connected account"),
            ], max_length=20),
        ),
        enable_tenant_rls(MOVEMENTS, column="owner_tenant_id", platform_rows=True),
        enable_system_read(MOVEMENTS),
        # --- disputes and their evidence ----------------------------------------------------------
        migrations.CreateModel(
            name="InvoiceDispute",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("invoice_kind", models.CharField(max_length=20)),
                ("invoice_id", models.BigIntegerField()),
                ("stripe_dispute_id", models.CharField(max_length=100, unique=True)),
                ("stripe_charge_id", models.CharField(blank=True, max_length=100)),
                ("amount_cents", models.BigIntegerField()),
                ("currency", models.CharField(max_length=3)),
                ("reason", models.CharField(blank=True, max_length=50)),
                ("status", models.CharField(max_length=40)),
                ("evidence_due_by", models.DateTimeField(blank=True, null=True)),
                ("submission", models.CharField(blank=True, choices=[("", "Not submitted"),
                                                                     ("submitting", "Being sent to Stripe"),
                                                                     ("submitted", "Submitted to Stripe")],
                                                default="", max_length=20)),
                ("evidence", models.JSONField(blank=True, default=dict)),
                ("evidence_submitted_at", models.DateTimeField(blank=True, null=True)),
                ("evidence_submitted_by", models.CharField(blank=True, max_length=100)),
                ("closed_at", models.DateTimeField(blank=True, null=True)),
                ("settled_at", models.DateTimeField(blank=True, null=True)),
                ("last_event_created", models.DateTimeField(blank=True, null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                ("owner_tenant", owner_field()),
                ("payment", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="disputes",
                                              to="payments_app.invoicepayment")),
            ],
            options={
                "db_table": "invoice_disputes",
                "indexes": [models.Index(fields=["invoice_kind", "invoice_id"], name="invoice_disputes_invoice_idx")],
                "constraints": [
                    models.CheckConstraint(condition=models.Q(amount_cents__gte=0),
                                           name="invoice_disputes_amount_valid"),
                    models.CheckConstraint(condition=models.Q(submission__in=["", "submitting", "submitted"]),
                                           name="invoice_disputes_submission_valid"),
                ],
            },
        ),
        migrations.CreateModel(
            name="DisputeEvidenceFile",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("stripe_file_id", models.CharField(max_length=100, unique=True)),
                ("filename", models.CharField(max_length=200)),
                ("content_type", models.CharField(max_length=50)),
                ("size_bytes", models.BigIntegerField()),
                ("sha256", models.CharField(max_length=64)),
                ("uploaded_by", models.CharField(blank=True, max_length=100)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("owner_tenant", owner_field()),
                ("dispute", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT,
                                              related_name="evidence_files", to="payments_app.invoicedispute")),
            ],
            options={
                "db_table": "invoice_dispute_evidence_files",
                "constraints": [models.UniqueConstraint(fields=("dispute", "sha256"),
                                                        name="dispute_evidence_files_one_per_content")],
            },
        ),
        *[enable_tenant_rls(table, column="owner_tenant_id", platform_rows=True) for table in DISPUTE_TABLES],
        *[enable_system_read(table) for table in DISPUTE_TABLES],
    ]
