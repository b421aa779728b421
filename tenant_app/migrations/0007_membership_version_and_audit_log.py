"""Membership management: a version on memberships (role changes are optimistic-locked) and the
membership audit trail, a tenant-owned table with the same forced RLS policy and system-read policy
as every other tenant table."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from breederhq.tenancy import enable_system_read, enable_tenant_rls


class Migration(migrations.Migration):

    dependencies = [
        ('tenant_app', '0006_system_read_policies'),
    ]

    operations = [
        migrations.AddField(
            model_name='tenantmembership',
            name='version',
            field=models.PositiveIntegerField(default=1),
        ),
        migrations.CreateModel(
            name='MembershipAuditLog',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('action', models.CharField(choices=[('added', 'Added'), ('role_changed', 'Role changed'), ('removed', 'Removed')], max_length=20)),
                ('old_role', models.CharField(blank=True, max_length=10)),
                ('new_role', models.CharField(blank=True, max_length=10)),
                ('changed_at', models.DateTimeField(auto_now_add=True)),
                ('changed_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('tenant', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='tenant_app.tenant')),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'db_table': 'membership_audit_log',
                'ordering': ['id'],
                'indexes': [models.Index(fields=['tenant', 'id'], name='membership_audit_tenant_idx')],
                'constraints': [models.CheckConstraint(condition=models.Q(('action__in', ['added', 'role_changed', 'removed'])), name='membership_audit_log_action_valid')],
            },
        ),
        enable_tenant_rls("membership_audit_log"),
        enable_system_read("membership_audit_log"),
    ]
