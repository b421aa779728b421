"""The invoice core names the invoice number `invoice_number` for every kind. Here only the Python
attribute changes: the column stays `number` (db_column), so no row is rewritten and the previous
release keeps working against the same table."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("marketplace_app", "0010_money_amount_bounds")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveConstraint(model_name="marketplaceinvoice", name="marketplace_invoices_number_unique"),
                migrations.RenameField(model_name="marketplaceinvoice", old_name="number", new_name="invoice_number"),
                migrations.AlterField(
                    model_name="marketplaceinvoice", name="invoice_number",
                    field=models.CharField(db_column="number", max_length=50),
                ),
                migrations.AddConstraint(
                    model_name="marketplaceinvoice",
                    constraint=models.UniqueConstraint(fields=("provider", "invoice_number"),
                                                       name="marketplace_invoices_number_unique"),
                ),
            ],
            database_operations=[],
        ),
    ]
