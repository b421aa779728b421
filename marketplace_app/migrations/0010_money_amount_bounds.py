from django.db import migrations

from breederhq.money import add_amount_bound_not_valid, amount_bound_check


class Migration(migrations.Migration):
    """The money bound (breederhq.money.MAX_AMOUNT_CENTS) in the database too, added NOT VALID: every
    row written from now on is checked, the rows already there are not scanned (no long lock)."""

    dependencies = [("marketplace_app", "0009_listing_search_document_index_without_fastupdate")]

    operations = [
        add_amount_bound_not_valid("servicelisting", "service_listings",
                                   amount_bound_check("price_cents", name="service_listings_price_within_bound")),
        add_amount_bound_not_valid("marketplacetransaction", "marketplace_transactions", amount_bound_check(
            "amount_cents", "refunded_cents", name="marketplace_transactions_amounts_within_bound")),
        add_amount_bound_not_valid("marketplaceinvoice", "marketplace_invoices", amount_bound_check(
            "subtotal_cents", "tax_cents", "total_cents", "refunded_cents",
            name="marketplace_invoices_amounts_within_bound")),
        add_amount_bound_not_valid("marketplaceinvoicelineitem", "marketplace_invoice_line_items", amount_bound_check(
            "unit_price_cents", "total_cents", name="mkt_invoice_lines_amounts_within_bound")),
    ]
