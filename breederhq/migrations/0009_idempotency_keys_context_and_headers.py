"""Idempotency keys scoped by where they acted (the tenant, or the marketplace identity), and the
response headers a replay must give back. Expand step: the new columns have database defaults
(metadata only on PostgreSQL, no table rewrite; code that does not know them still inserts), and the
new unique constraint is built CONCURRENTLY, then attached. The tenant-blind constraint goes in the
next migration."""

from django.db import migrations, models

INDEX = "idempotency_keys_unique_in_context"


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("breederhq", "0008_outbox_and_registry_proxies"),
    ]

    operations = [
        migrations.AddField(
            model_name="idempotencykey",
            name="context",
            field=models.CharField(blank=True, db_default="", default="", max_length=120),
        ),
        migrations.AddField(
            model_name="idempotencykey",
            name="response_headers",
            field=models.JSONField(blank=True, db_default={}, default=dict),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddConstraint(
                    model_name="idempotencykey",
                    constraint=models.UniqueConstraint(
                        fields=("scope", "context", "method", "path", "key"), name=INDEX),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    sql=[
                        f'CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "{INDEX}" '
                        f'ON "idempotency_keys" ("scope", "context", "method", "path", "key")',
                        f'ALTER TABLE "idempotency_keys" ADD CONSTRAINT "{INDEX}" UNIQUE USING INDEX "{INDEX}"',
                    ],
                    reverse_sql=[f'ALTER TABLE "idempotency_keys" DROP CONSTRAINT IF EXISTS "{INDEX}"'],
                ),
            ],
        ),
    ]
