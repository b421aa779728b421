"""Contract step: drop the unique constraint that ignored the tenant. The code inserts claims with
`ON CONFLICT DO NOTHING` (no conflict target), so it works with and without this constraint; rows
written before 0009 (context '') stay unique under the new constraint."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("breederhq", "0009_idempotency_keys_context_and_headers"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="idempotencykey", name="idempotency_keys_unique"),
    ]
