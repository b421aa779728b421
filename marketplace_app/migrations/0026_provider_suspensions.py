import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    """Staff suspension of providers, in a new table: the big `marketplace_providers` table is not
    rewritten or locked beyond the brief lock that adds the new table's foreign key to it."""

    dependencies = [
        ('marketplace_app', '0025_marketplace_invoice_due_date_backfill'),
    ]

    operations = [
        migrations.CreateModel(
            name='ProviderSuspension',
            fields=[
                ('provider', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='suspension', serialize=False, to='marketplace_app.provider')),
                ('suspended', models.BooleanField(default=False)),
                ('reason', models.TextField(blank=True, default='')),
                ('suspended_count', models.IntegerField(default=0)),
                ('suspended_at', models.DateTimeField(blank=True, null=True)),
                ('suspended_by', models.CharField(blank=True, default='', max_length=150)),
                ('reinstated_at', models.DateTimeField(blank=True, null=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
            ],
            options={
                'db_table': 'provider_suspensions',
                'indexes': [models.Index(condition=models.Q(('suspended', True)), fields=['provider'], name='provider_suspensions_active')],
            },
        ),
    ]
