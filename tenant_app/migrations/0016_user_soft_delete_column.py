import tenant_app.user_deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    """Expand: tenant users become soft-deletable (tenant_app/user_deletion.py): a nullable column
    without a default (no rewrite, no long lock); the manager now soft-deletes."""

    dependencies = [
        ('tenant_app', '0015_invoice_documents'),
    ]

    operations = [
        migrations.AlterModelManagers(
            name='user',
            managers=[
                ('objects', tenant_app.user_deletion.UserManager()),
            ],
        ),
        migrations.AddField(
            model_name='user',
            name='deleted_at',
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
    ]
