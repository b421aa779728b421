"""The webhook inbox loses its three `varchar_pattern_ops` ("_like") indexes.

`unique=True` and `db_index=True` on a CharField give PostgreSQL a second btree per column for
`LIKE 'prefix%'`, which nothing here runs (lookups are by whole id; the admin's search is
`icontains`, which no btree serves). Every delivery paid for them on its insert: three more random
leaf pages to dirty and log. The uniqueness and the two plain indexes stay, declared in Meta and
bound to the names the database already has, so no index is rebuilt: the state moves, the
database only drops the pattern indexes and renames two plain ones to Meta-length names.

Outside a transaction (`atomic = False`) so the drops are CONCURRENTLY: a plain DROP INDEX takes an
ACCESS EXCLUSIVE lock that would queue every delivery's insert behind any open transaction on the
inbox; the rename takes only SHARE UPDATE EXCLUSIVE. The reverse builds the indexes CONCURRENTLY too.
"""

from django.db import migrations, models

TABLE = "stripe_webhook_events"
PATTERN_INDEXES = {
    # name: (column)
    "stripe_webhook_events_stripe_event_id_46467077_like": "stripe_event_id",
    "stripe_webhook_events_event_type_30b0cfd3_like": "event_type",
    "stripe_webhook_events_object_id_a4307dcb_like": "object_id",
}
RENAMES = {
    "stripe_webhook_events_event_type_30b0cfd3": "stripe_events_type_idx",
    "stripe_webhook_events_object_id_a4307dcb": "stripe_events_object_idx",
}

forward = [f"DROP INDEX CONCURRENTLY IF EXISTS {name}" for name in PATTERN_INDEXES] + [
    f"ALTER INDEX {old} RENAME TO {new}" for old, new in RENAMES.items()
]
backward = [f"ALTER INDEX {new} RENAME TO {old}" for old, new in RENAMES.items()] + [
    f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {TABLE} ({column} varchar_pattern_ops)"
    for name, column in PATTERN_INDEXES.items()
]


class Migration(migrations.Migration):

    atomic = False

    dependencies = [
        ("payments_app", "0005_invoice_payment_open_state_and_one_reconciliation_set"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(forward, reverse_sql=backward)],
            state_operations=[
                migrations.AlterField(
                    model_name="stripewebhookevent", name="stripe_event_id",
                    field=models.CharField(max_length=100),
                ),
                migrations.AlterField(
                    model_name="stripewebhookevent", name="event_type",
                    field=models.CharField(max_length=100),
                ),
                migrations.AlterField(
                    model_name="stripewebhookevent", name="object_id",
                    field=models.CharField(blank=True, max_length=100),
                ),
                migrations.AddConstraint(
                    model_name="stripewebhookevent",
                    constraint=models.UniqueConstraint(
                        fields=["stripe_event_id"], name="stripe_webhook_events_stripe_event_id_key"
                    ),
                ),
                migrations.AddIndex(
                    model_name="stripewebhookevent",
                    index=models.Index(fields=["event_type"], name="stripe_events_type_idx"),
                ),
                migrations.AddIndex(
                    model_name="stripewebhookevent",
                    index=models.Index(fields=["object_id"], name="stripe_events_object_idx"),
                ),
            ],
        ),
    ]
