"""Tenant invitations (membership by consent): a tenant-owned table with the same forced RLS policy and
system-read policy as every other tenant table, and the membership audit log extended to invitation
events and departures (its `user` may be empty for an invitation sent to an address; existing rows keep
theirs). Nothing existing is rewritten."""


import django.db.models.deletion
import django.db.models.functions.text
from django.conf import settings
from django.db import migrations, models

from breederhq.tenancy import enable_system_read, enable_tenant_rls, same_tenant_foreign_key


class Migration(migrations.Migration):

    dependencies = [
        ('tenant_app', '0008_merge_memberships_and_reconciliation'),
    ]

    operations = [
        migrations.CreateModel(
            name='TenantInvitation',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('email', models.EmailField(help_text='Where the invitation was sent; matched case-insensitively on acceptance.', max_length=254)),
                ('role', models.CharField(choices=[('owner', 'Owner'), ('admin', 'Admin'), ('staff', 'Staff'), ('viewer', 'Viewer')], max_length=10)),
                ('token_hash', models.CharField(help_text='SHA-256 (hex) of the token in the email.', max_length=64)),
                ('status', models.CharField(choices=[('pending', 'Pending'), ('accepted', 'Accepted'), ('declined', 'Declined'), ('revoked', 'Revoked')], default='pending', max_length=10)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('expires_at', models.DateTimeField()),
                ('responded_at', models.DateTimeField(blank=True, null=True)),
            ],
            options={
                'db_table': 'tenant_invitations',
                'ordering': ['-created_at', '-id'],
            },
        ),
        migrations.RemoveConstraint(
            model_name='membershipauditlog',
            name='membership_audit_log_action_valid',
        ),
        migrations.AddField(
            model_name='membershipauditlog',
            name='email',
            field=models.EmailField(blank=True, help_text='The address invited (invitation events).', max_length=254),
        ),
        migrations.AlterField(
            model_name='membershipauditlog',
            name='action',
            field=models.CharField(choices=[('added', 'Added'), ('role_changed', 'Role changed'), ('removed', 'Removed'), ('invited', 'Invited'), ('invitation_accepted', 'Invitation accepted (joined)'), ('invitation_declined', 'Invitation declined'), ('invitation_revoked', 'Invitation revoked'), ('left', 'Left the tenant')], max_length=20),
        ),
        migrations.AlterField(
            model_name='membershipauditlog',
            name='user',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='tenantinvitation',
            name='invited_by',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='tenantinvitation',
            name='responded_by',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='tenantinvitation',
            name='tenant',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='tenant_app.tenant'),
        ),
        migrations.AddField(
            model_name='membershipauditlog',
            name='invitation',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='tenant_app.tenantinvitation'),
        ),
        migrations.AddConstraint(
            model_name='membershipauditlog',
            constraint=models.CheckConstraint(condition=models.Q(('action__in', ['added', 'role_changed', 'removed', 'invited', 'invitation_accepted', 'invitation_declined', 'invitation_revoked', 'left'])), name='membership_audit_log_action_valid'),
        ),
        migrations.AddConstraint(
            model_name='membershipauditlog',
            constraint=models.CheckConstraint(condition=models.Q(('user__isnull', False), ('action__in', ['invited', 'invitation_revoked']), _connector='OR'), name='membership_audit_log_user_named'),
        ),
        migrations.AddIndex(
            model_name='tenantinvitation',
            index=models.Index(django.db.models.functions.text.Lower('email'), condition=models.Q(('status', 'pending')), name='tenant_invitations_email_idx'),
        ),
        migrations.AddConstraint(
            model_name='tenantinvitation',
            constraint=models.UniqueConstraint(fields=('token_hash', 'tenant'), name='tenant_invitations_token_unique'),
        ),
        migrations.AddConstraint(
            model_name='tenantinvitation',
            constraint=models.UniqueConstraint(fields=('id', 'tenant'), name='tenant_invitations_id_tenant_unique'),
        ),
        migrations.AddConstraint(
            model_name='tenantinvitation',
            constraint=models.UniqueConstraint(models.F('tenant'), django.db.models.functions.text.Lower('email'), condition=models.Q(('status', 'pending')), name='tenant_invitations_one_pending_per_email'),
        ),
        migrations.AddConstraint(
            model_name='tenantinvitation',
            constraint=models.CheckConstraint(condition=models.Q(('status__in', ['pending', 'accepted', 'declined', 'revoked'])), name='tenant_invitations_status_valid'),
        ),
        migrations.AddConstraint(
            model_name='tenantinvitation',
            constraint=models.CheckConstraint(condition=models.Q(('role__in', ['owner', 'admin', 'staff', 'viewer'])), name='tenant_invitations_role_valid'),
        ),
        migrations.AddConstraint(
            model_name='tenantinvitation',
            constraint=models.CheckConstraint(condition=models.Q(('status', 'pending'), ('responded_at__isnull', False), _connector='OR'), name='tenant_invitations_response_recorded'),
        ),
        enable_tenant_rls("tenant_invitations"),
        enable_system_read("tenant_invitations"),
        same_tenant_foreign_key("membership_audit_log", "invitation_id", "tenant_invitations"),
    ]
