from django.db import migrations

from breederhq.money import add_amount_bound_not_valid, amount_bound_check


class Migration(migrations.Migration):
    """The money bound (breederhq.money.MAX_AMOUNT_CENTS) in the database too, added NOT VALID: every
    row written from now on is checked, the rows already there are not scanned (no long lock)."""

    dependencies = [("tenant_app", "0010_user_tokens_valid_after_and_refresh_token_families")]

    operations = [
        add_amount_bound_not_valid("invoice", "invoices",
                                   amount_bound_check("total_cents", name="invoices_total_within_bound")),
        add_amount_bound_not_valid("invoicelineitem", "invoice_line_items",
                                   amount_bound_check("total_cents", name="invoice_line_items_total_within_bound")),
    ]
