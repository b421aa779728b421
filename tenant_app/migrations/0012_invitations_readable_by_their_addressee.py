"""A signed-in account reads the invitations sent to its own email without a cross-tenant read: a
SELECT-only policy on tenant_invitations for the rows whose address is the email of the user named
by `app.current_user_id` (set, transaction-local, by breederhq.tenancy.own_rows_context). The address
comes from the users table inside the policy, never from the request. Writes still need the tenant's
context (tenant_isolation alone). Adds a policy; changes no data."""

from django.db import migrations

from breederhq.tenancy import CURRENT_USER_SQL

POLICY = "addressee_read"
USING = f"lower(email) = (SELECT lower(u.email) FROM users u WHERE u.id = {CURRENT_USER_SQL})"


class Migration(migrations.Migration):

    dependencies = [
        ("tenant_app", "0011_money_amount_bounds"),
    ]

    operations = [
        migrations.RunSQL(
            sql=f'CREATE POLICY {POLICY} ON "tenant_invitations" FOR SELECT USING ({USING})',
            reverse_sql=f'DROP POLICY IF EXISTS {POLICY} ON "tenant_invitations"',
        ),
    ]
