from django.db import migrations


class Migration(migrations.Migration):
    """The finance group's export permission (breederhq/backoffice/exports.py). Options only: no SQL."""

    dependencies = [
        ('backoffice', '0003_reset_second_factor_permission'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='staffactionaudit',
            options={'ordering': ['-created_at'], 'permissions': [('support_actions', 'Can work on a tenant and run support actions in the back office'), ('payment_actions', 'Can run payment and reconciliation actions in the back office'), ('view_dashboard', 'Can see the staff dashboard'), ('finance_exports', 'Can export invoices, payments, refunds and money movements'), ('reset_second_factor', "Can reset another staff member's second factor")]},
        ),
    ]
