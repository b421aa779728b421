"""Invoice payments say whether their Stripe intent exists (`open_state`), and every reconciliation
state in payments_app takes the one set of breederhq/reconciliation.py, now CHECKed.

Existing Stripe rows become "opened" when they hold an intent id and "unopened" otherwise (the sweep
keeps retrying them as before); manual rows keep "". Every old reconciliation value (synced,
mismatch, missing_remote, missing_local) is in the new set, so no row changes for it.
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('payments_app', '0004_connect_money_movements_and_intent_cancel'),
        ('tenant_app', '0007_one_reconciliation_status_set'),
    ]

    operations = [
        migrations.AddField(
            model_name='invoicepayment',
            name='open_note',
            field=models.CharField(blank=True, max_length=300),
        ),
        migrations.AddField(
            model_name='invoicepayment',
            name='open_state',
            field=models.CharField(blank=True, choices=[('', 'Manual: no intent'), ('unopened', 'Sent, intent not created yet (the sweep retries)'), ('opened', 'Intent created'), ('abandoned', 'Closed without an intent (invoice void or settled first)')], default='', max_length=20),
        ),
        migrations.RunSQL(
            sql="UPDATE invoice_payments SET open_state = CASE WHEN stripe_payment_intent_id IS NULL "
                "THEN 'unopened' ELSE 'opened' END WHERE provider = 'stripe'",
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.AlterField(
            model_name='invoicepayment',
            name='reconciliation_status',
            field=models.CharField(choices=[('pending', 'Not checked yet'), ('synced', 'Agrees with Stripe'), ('mismatch', 'Disagrees with Stripe'), ('missing_remote', 'Not found in Stripe'), ('missing_local', 'In Stripe, not here'), ('resolved', 'Disagreement resolved by staff')], default='synced', max_length=20),
        ),
        migrations.AlterField(
            model_name='reconciliationitem',
            name='status',
            field=models.CharField(choices=[('pending', 'Not checked yet'), ('synced', 'Agrees with Stripe'), ('mismatch', 'Disagrees with Stripe'), ('missing_remote', 'Not found in Stripe'), ('missing_local', 'In Stripe, not here'), ('resolved', 'Disagreement resolved by staff')], max_length=20),
        ),
        migrations.AddConstraint(
            model_name='invoicepayment',
            constraint=models.CheckConstraint(condition=models.Q(('reconciliation_status__in', ['pending', 'synced', 'mismatch', 'missing_remote', 'missing_local', 'resolved'])), name='invoice_payments_reconciliation_valid'),
        ),
        migrations.AddConstraint(
            model_name='invoicepayment',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('open_state', ''), ('provider', 'manual')), models.Q(('open_state__in', ['unopened', 'opened', 'abandoned']), ('provider', 'stripe')), _connector='OR'), name='invoice_payments_open_state_valid'),
        ),
        migrations.AddConstraint(
            model_name='invoicepayment',
            constraint=models.CheckConstraint(condition=models.Q(('stripe_payment_intent_id__isnull', True), ('open_state', 'opened'), _connector='OR'), name='invoice_payments_intent_means_opened'),
        ),
        migrations.AddConstraint(
            model_name='reconciliationitem',
            constraint=models.CheckConstraint(condition=models.Q(('status__in', ['pending', 'synced', 'mismatch', 'missing_remote', 'missing_local', 'resolved'])), name='stripe_reconciliation_items_status_valid'),
        ),
    ]
