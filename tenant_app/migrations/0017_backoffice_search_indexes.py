from django.db import migrations

from breederhq.db_indexes import exact_search_index, prefix_search_index


class Migration(migrations.Migration):
    """The back office's searches read an index instead of the whole table
    (breederhq/db_indexes.py): a user's email by its first letters (`UPPER(email)
    text_pattern_ops`); a contact's last or organisation name or email and an invitation's email
    exactly (plain btrees: these tables are under row-level security, where only `=` can use an
    index).

    contacts is large: the indexes are built CONCURRENTLY, outside a transaction.
    """

    atomic = False

    dependencies = [
        ("tenant_app", "0016_user_soft_delete_column"),
    ]

    operations = [
        exact_search_index("contacts", "last_name", "contacts_last_name_idx"),
        exact_search_index("contacts", "organization_name", "contacts_org_name_idx"),
        exact_search_index("contacts", "email", "contacts_email_idx"),
        exact_search_index("tenant_invitations", "email", "tenant_invitations_email_eq_idx"),
        prefix_search_index("users", "email", "users_email_prefix"),
    ]
